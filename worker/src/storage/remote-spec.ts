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
  const spec = specOf(storage, name, context);
  assertStorable(spec, storage.technology);
  return spec;
}

function specOf(storage: Storage, name: string, context: RemoteContext): RemoteSpec {
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
  const port = portOf(storage, name);
  if (port !== undefined && base.port === '') base.port = port;
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
  const user = optional(storage, name, 'username');
  const password = optional(storage, name, 'password');
  const domain = optional(storage, name, 'domain');
  const port = portOf(storage, name);
  if (user) parameters.user = user;
  if (password) parameters.pass = obscure(password);
  if (domain) parameters.domain = domain;
  if (port !== undefined) parameters.port = port;
  return { name, type: 'smb', parameters, oauth: false, obscuredKeys: ['pass'] };
}

type TextField = 'host' | 'username' | 'password' | 'domain';

function required(storage: Storage, name: string, field: TextField): string {
  const value = optional(storage, name, field);
  if (value === undefined || value.trim() === '') throw new StorageError(`${storage.technology} storage ${name} has no ${field}`, name);
  return value;
}

/**
 * A text field of the row as rclone should get it: a string or nothing (a wrong type is refused),
 * trimmed — except a password, a secret as typed, whose surrounding spaces belong to it (it
 * reaches rclone obscured, so it may hold any character).
 */
function optional(storage: Storage, name: string, field: TextField): string | undefined {
  const value: unknown = storage[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new StorageError(`${storage.technology} storage ${name}: ${field} is not text`, name);
  if (field === 'password') return value;
  // Checked before trimming: a URL parser silently drops tabs and newlines from a host.
  const problem = configValueProblem(value.trim(), MAX_VALUE_LENGTH);
  if (problem) throw new StorageError(`${storage.technology} storage ${name}: ${field} ${problem}`, name);
  return value.trim();
}

function portOf(storage: Storage, name: string): string | undefined {
  const port: unknown = storage.port;
  if (port === undefined || port === null || port === 0) return undefined;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new StorageError(`${storage.technology} storage ${name}: port is not a whole number between 1 and 65535`, name);
  }
  return String(port);
}

/**
 * rclone writes its config file itself (goconfig), each value verbatim on its `key = value`
 * line. Measured with rclone 1.60.1 (config/create, then a reload of the file): a line break in a
 * value ends the line and what follows becomes keys or sections of their own — a user name
 * `x\n[evil]\ntype = local` created a remote `evil` on the local disk; surrounding spaces are
 * dropped when the file is read; a value with a backtick is written quoted and read back with
 * the quotes. `]`, `=`, `#`, `;`, `"`, non-ASCII and 200 000-character values come back intact.
 * So no value reaches rclone with a control character, a backtick or surrounding spaces, and
 * lengths are bounded (an access token may be long; the rest is short by nature).
 */
const MAX_VALUE_LENGTH = 4096;
const MAX_TOKEN_LENGTH = 65_536;
/** Storage field names for rclone keys, for error messages. */
const FIELD_OF_KEY: Readonly<Record<string, string>> = { user: 'username', url: 'host', token: 'access token', drive_id: 'OneDrive drive id', drive_type: 'OneDrive drive type' };

function configValueProblem(value: string, maxLength: number): string | undefined {
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(value)) return "contains a line break or another control character, which rclone's config file cannot hold";
  if (value.includes('`')) return "contains a backtick, which rclone's config file cannot hold";
  if (value !== value.trim()) return "has surrounding spaces, which rclone's config file drops";
  if (value.length > maxLength) return `is longer than ${maxLength} characters`;
  return undefined;
}

/** The last gate before rclone: every parameter value of the spec can be stored and read back as it is. */
function assertStorable(spec: RemoteSpec, technology: string): void {
  for (const [key, value] of Object.entries(spec.parameters)) {
    const problem = configValueProblem(value, key === 'token' ? MAX_TOKEN_LENGTH : MAX_VALUE_LENGTH);
    if (problem) throw new StorageError(`${technology} storage ${spec.name}: ${FIELD_OF_KEY[key] ?? key} ${problem}`, spec.name);
  }
}

function withTrailingSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}
