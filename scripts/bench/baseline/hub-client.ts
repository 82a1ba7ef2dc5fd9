/**
 * The baseline drivers' view of the hub: the Hannibal REST calls the .NET worker makes
 * (research/anchor-backer.md §4–§5): log in, list storages, save a storage, acquire a job,
 * report a job; log in again once on a 401. No SignalR: a driver asks for jobs on its own poll,
 * which is all the strategies benchmark needs (one job, no reauth broadcast acted upon — the
 * .NET worker's reauth diff compares against its own cache and so ignores it, side-by-side.md N3).
 */
import { HubPaths, type AcquireParams, type Job, type JobStatusReport, type LoginResponse, type Storage } from '../../../shared/hannibal.js';

export class BaselineHubClient {
  private session: string | undefined;

  constructor(
    private readonly url: string,
    private readonly account: { email: string; password: string },
  ) {}

  storages(): Promise<Storage[]> {
    return this.json<Storage[]>('GET', HubPaths.storages);
  }

  async saveStorage(storage: Storage): Promise<void> {
    await this.json('PUT', HubPaths.storage(storage.id), storage);
  }

  /** The next job for this owner, or null (404). */
  async acquire(params: AcquireParams): Promise<Job | null> {
    const response = await this.call('POST', HubPaths.acquireNextJob, params);
    if (response.status === 404) {
      await response.arrayBuffer();
      return null;
    }
    return (await this.parse(response, HubPaths.acquireNextJob)) as Job;
  }

  async report(report: JobStatusReport): Promise<void> {
    await this.json('POST', HubPaths.reportJob, report);
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.parse(await this.call(method, path, body), path)) as T;
  }

  private async parse(response: Response, path: string): Promise<unknown> {
    const text = await response.text();
    if (!response.ok) throw new Error(`hub ${path}: ${response.status}`);
    return text === '' ? undefined : JSON.parse(text);
  }

  private async call(method: string, path: string, body?: unknown, retried = false): Promise<Response> {
    this.session ??= await this.login();
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.session}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (response.status !== 401 || retried) return response;
    await response.arrayBuffer();
    this.session = undefined;
    return this.call(method, path, body, true);
  }

  private async login(): Promise<string> {
    const response = await fetch(`${this.url}${HubPaths.login}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ Email: this.account.email, Password: this.account.password, TwoFactorCode: null, TwoFactorRecoveryCode: null }),
    });
    if (!response.ok) throw new Error(`hub login: ${response.status}`);
    return ((await response.json()) as LoginResponse).accessToken;
  }
}
