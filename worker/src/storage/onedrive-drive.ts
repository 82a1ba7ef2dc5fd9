/**
 * OneDrive remotes need `drive_id` and `drive_type`, which Microsoft Graph `GET me/drive`
 * returns for the signed-in account (anchor-backer.md §6.1). The base URL is configurable
 * (`ONEDRIVE_GRAPH_URL`) so tests can point it at a local stand-in.
 */
import { request, type Dispatcher } from 'undici';
import { StorageError, WorkerError, errorMessage } from '../errors.js';

export interface OnedriveDrive {
  id: string;
  type: string;
}

export type DriveLookup = (accessToken: string, uriSchema: string) => Promise<OnedriveDrive>;

export function graphDriveLookup(graphUrl: string, options: { timeoutMs?: number; dispatcher?: Dispatcher } = {}): DriveLookup {
  const timeoutMs = options.timeoutMs ?? 15_000;
  return async (accessToken, uriSchema) => {
    let status: number;
    let text: string;
    try {
      const res = await request(`${graphUrl.replace(/\/+$/, '')}/me/drive`, {
        method: 'GET',
        headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
        signal: AbortSignal.timeout(timeoutMs),
        ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      throw new WorkerError('WORKER_ERR_GRAPH', `Microsoft Graph me/drive for ${uriSchema} unreachable: ${errorMessage(err)}`, { cause: err });
    }
    if (status === 401 || status === 403) {
      throw new WorkerError('WORKER_ERR_GRAPH', `Microsoft Graph rejected the access token of ${uriSchema} (HTTP ${status})`);
    }
    if (status < 200 || status >= 300) {
      throw new WorkerError('WORKER_ERR_GRAPH', `Microsoft Graph me/drive for ${uriSchema} answered HTTP ${status}`);
    }
    let body: { id?: unknown; driveType?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new StorageError(`Microsoft Graph me/drive for ${uriSchema} answered a body that is not JSON`, uriSchema);
    }
    if (typeof body.id !== 'string' || body.id === '' || typeof body.driveType !== 'string') {
      throw new StorageError(`Microsoft Graph me/drive for ${uriSchema} has no id/driveType`, uriSchema);
    }
    return { id: body.id, type: body.driveType };
  };
}
