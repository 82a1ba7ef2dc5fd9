/**
 * A minimal REST client for the Hannibal stand-in tests: logs in and sends JSON with the session
 * token, returning status and parsed body so tests can assert on both.
 */
import { HubPaths, type AcquireParams, type JobStatusReport } from '../../shared/hannibal.js';

export interface HubReply {
  status: number;
  body: unknown;
}

export const WORKER_ACCOUNT = { email: 'worker@example.test', password: 'worker-password' };

export class HubTestClient {
  token: string | undefined;

  constructor(private readonly baseUrl: string) {}

  /** Logs in with the PascalCase body the .NET client sends; keeps the token on success. */
  async login(email = WORKER_ACCOUNT.email, password = WORKER_ACCOUNT.password): Promise<HubReply> {
    const reply = await this.request('POST', HubPaths.login, { Email: email, Password: password, TwoFactorCode: null, TwoFactorRecoveryCode: null });
    if (reply.status === 200) this.token = (reply.body as { accessToken: string }).accessToken;
    return reply;
  }

  /** `acquireNextJob`; `username` and `capabilities` are sent as the .NET worker sends them (the hub ignores both). */
  acquire(owner: string, networks = '', extra: Partial<AcquireParams> = {}): Promise<HubReply> {
    const params: AcquireParams = { username: WORKER_ACCOUNT.email, capabilities: 'use_me', owner, networks, ...extra };
    return this.request('POST', HubPaths.acquireNextJob, params);
  }

  report(report: JobStatusReport): Promise<HubReply> {
    return this.request('POST', HubPaths.reportJob, report);
  }

  async request(method: string, path: string, body?: unknown): Promise<HubReply> {
    const headers: Record<string, string> = {};
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
  }
}
