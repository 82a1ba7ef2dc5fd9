/**
 * Turns a hub storage row into the rclone remote it should be (DESIGN.md §3, anchor-backer.md
 * §6.1). The remote name is the storage's `uriSchema`. OAuth remotes get only the access token
 * (`{access_token, token_type, expiry}`): no refresh token, no client secret — the worker owns
 * refresh, and rclone.conf holds as few secrets as possible. Passwords are obscured the way
 * rclone does it.
 */
import type { Storage } from '../../../shared/hannibal.js';
import type { RcloneToken } from '../../../shared/rclone-rc.js';
import { StorageError } from '../errors.js';
import { obscure } from '../rclone/obscure.js';

export interface RemoteSpec {
  /** rclone remote name = the storage's uriSchema. */
  name: string;
  /** rclone backend type. */
  type: string;
  /** Key → value as rclone stores them (password values obscured, token as JSON text). */
  parameters: Record<string, string>;
  /** OAuth remotes need `config_refresh_token=false` on every config write. */
  oauth: boolean;
  /** Keys holding obscured passwords: compared by their revealed value. */
  obscuredKeys: readonly string[];
}

/** Facts the spec needs beyond the storage row. */
export interface RemoteContext {
  /** The access token rclone should hold (OAuth technologies). */
  token?: RcloneToken | undefined;
  /** OneDrive's drive, from Microsoft Graph `me/drive`. */
  onedriveDrive?: { id: string; type: string } | undefined;
  /** The token endpoint rclone would use, so a refresh attempt by rclone is visible there. */
  tokenUrl?: string | undefined;
  /** rclone gcs `endpoint` (the GCS JSON API base); undefined = Google. */
  gcsApiUrl?: string | undefined;
}

/**
 * Remote names rclone 1.60.1 accepts: ASCII letters, digits, `_`, `-`, `.` and spaces, not
 * starting with `-` (`+` and `@` came only in later rclone versions). Leading and trailing
 * spaces are refused here too: they are invisible in `<remote>:<path>`.
 */
const REMOTE_NAME = /^[\w.][\w. -]*$/u;

export function validateRemoteName(uriSchema: string): void {
  if (!REMOTE_NAME.test(uriSchema) || uriSchema.endsWith(' ') || uriSchema.length > 200) {
    throw new StorageError(`uriSchema "${uriSchema}" is not a valid rclone remote name`, uriSchema);
  }
}

export function buildRemoteSpec(storage: Storage, context: RemoteContext = {}): RemoteSpec {
  const name = storage.uriSchema;
  if (typeof name !== 'string' || name === '') throw new StorageError(`storage ${storage.id} has no uriSchema`, undefined);
  validateRemoteName(name);
  const technology = typeof storage.technology === 'string' ? storage.technology.toLowerCase() : '';
  switch (technology) {
    case 'local':
      return { name, type: 'local', parameters: {}, oauth: false, obscuredKeys: [] };
    case 'nextcloud':
      return nextcloud(storage, name);
    case 'smb':
      return smb(storage, name);
    case 'onedrive': {
      const drive = context.onedriveDrive;
      if (!drive) throw new StorageError(`OneDrive storage ${name}: drive id unknown (Microsoft Graph me/drive not reachable yet)`, name);
      return oauthRemote(name, 'onedrive', context, { drive_id: drive.id, drive_type: drive.type });
    }
    case 'dropbox':
      return oauthRemote(name, 'dropbox', context, {});
    case 'googledrive':
      return oauthRemote(name, 'drive', context, { scope: 'drive' });
    case 'gcs':
      return oauthRemote(name, 'gcs', context, {
        bucket_policy_only: 'true',
        ...(context.gcsApiUrl ? { endpoint: withTrailingSlash(context.gcsApiUrl) } : {}),
      });
    default:
      throw new StorageError(`storage ${name} has unknown technology "${storage.technology}"`, name);
  }
}

function oauthRemote(name: string, type: string, context: RemoteContext, extra: Record<string, string>): RemoteSpec {
  if (!context.token?.access_token) throw new StorageError(`storage ${name} has no access token yet`, name);
  const token: RcloneToken = {
    access_token: context.token.access_token,
    token_type: context.token.token_type,
    expiry: context.token.expiry,
  };
  return {
    name,
    type,
    parameters: {
      ...extra,
      ...(context.tokenUrl ? { token_url: context.tokenUrl } : {}),
      token: JSON.stringify(token),
    },
    oauth: true,
    obscuredKeys: [],
  };
}

/** Nextcloud = WebDAV at `<scheme>://<host>[:port]/remote.php/dav/files/<user>/` (anchor §6.1). */
function nextcloud(storage: Storage, name: string): RemoteSpec {
  const host = required(storage, name, 'host');
  const username = required(storage, name, 'username');
  const password = required(storage, name, 'password');
  const withScheme = /^https?:\/\//i.test(host) ? host : `https://${host}`;
  let base: URL;
  try {
    base = new URL(withScheme);
  } catch {
    throw new StorageError(`Nextcloud storage ${name}: host "${host}" is not a valid host or URL`, name);
  }
  if (storage.port && storage.port > 0 && base.port === '') base.port = String(storage.port);
  const url = `${base.protocol}//${base.host}/remote.php/dav/files/${encodeURIComponent(username)}/`;
  return {
    name,
    type: 'webdav',
    parameters: { url, vendor: 'nextcloud', user: username, pass: obscure(password) },
    oauth: false,
    obscuredKeys: ['pass'],
  };
}

function smb(storage: Storage, name: string): RemoteSpec {
  const parameters: Record<string, string> = { host: required(storage, name, 'host') };
  if (storage.username) parameters.user = storage.username;
  if (storage.password) parameters.pass = obscure(storage.password);
  if (storage.domain) parameters.domain = storage.domain;
  if (storage.port && storage.port > 0) parameters.port = String(storage.port);
  return { name, type: 'smb', parameters, oauth: false, obscuredKeys: ['pass'] };
}

function required(storage: Storage, name: string, field: 'host' | 'username' | 'password'): string {
  const value = storage[field];
  if (typeof value !== 'string' || value.trim() === '') {
    throw new StorageError(`${storage.technology} storage ${name} has no ${field}`, name);
  }
  // A password is a secret as typed: surrounding spaces belong to it.
  return field === 'password' ? value : value.trim();
}

function withTrailingSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

/**
 * The rclone path of a hub endpoint on a storage: `<remote>:<path>`. Local paths are absolute;
 * for gcs the first path segment is the bucket, which is rclone's own convention.
 */
export function remotePath(storage: Pick<Storage, 'uriSchema' | 'technology'>, path: string): string {
  const trimmed = path.trim();
  if (storage.technology.toLowerCase() === 'local') {
    return `${storage.uriSchema}:${trimmed.startsWith('/') ? trimmed : `/${trimmed}`}`;
  }
  return `${storage.uriSchema}:${trimmed.replace(/^\/+/, '')}`;
}
