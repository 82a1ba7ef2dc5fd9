/**
 * Coded errors, in the style of undici's `lib/core/errors.js`: a stable `code`, an optional
 * `cause`, and `permanent` — true when retrying cannot help (bad input, revoked grant, …).
 */

export interface WorkerErrorOptions {
  cause?: unknown;
  permanent?: boolean;
}

export class WorkerError extends Error {
  readonly code: string;
  readonly permanent: boolean;

  constructor(code: string, message: string, options: WorkerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.permanent = options.permanent ?? false;
  }
}

/** Invalid configuration value (one per bad value, collected by the config loader). */
export class ConfigError extends WorkerError {
  constructor(message: string, options: WorkerErrorOptions = {}) {
    super('WORKER_ERR_CONFIG', message, { ...options, permanent: true });
  }
}

/** A call to the rclone rc API failed with rclone's error envelope or a transport error. */
export class RcError extends WorkerError {
  readonly path: string;
  readonly status: number | undefined;
  constructor(path: string, message: string, status: number | undefined, options: WorkerErrorOptions = {}) {
    super(status === undefined ? 'WORKER_ERR_RC_TRANSPORT' : 'WORKER_ERR_RC', message, options);
    this.path = path;
    this.status = status;
  }
}

/** The rclone child process could not be started or stopped as asked. */
export class RcloneProcessError extends WorkerError {
  constructor(code: string, message: string, options: WorkerErrorOptions = {}) {
    super(code, message, options);
  }
}

/** A call to the Hannibal hub failed. `status` is the HTTP status when there was a response. */
export class HubError extends WorkerError {
  readonly status: number | undefined;
  constructor(message: string, status: number | undefined, options: WorkerErrorOptions = {}) {
    super(status === undefined ? 'WORKER_ERR_HUB_TRANSPORT' : 'WORKER_ERR_HUB', message, options);
    this.status = status;
  }
}

/** The hub rejected our credentials (login failed). Needs an operator, not a retry storm. */
export class HubAuthError extends WorkerError {
  constructor(message: string, options: WorkerErrorOptions = {}) {
    super('WORKER_ERR_HUB_AUTH', message, { ...options, permanent: true });
  }
}

/** A storage row cannot be turned into an rclone remote (unknown technology, missing field). */
export class StorageError extends WorkerError {
  readonly uriSchema: string | undefined;
  constructor(message: string, uriSchema: string | undefined, options: WorkerErrorOptions = {}) {
    super('WORKER_ERR_STORAGE', message, { ...options, permanent: true });
    this.uriSchema = uriSchema;
  }
}

/**
 * Token refresh failed. `permanent` separates "the storage needs re-authentication"
 * (`invalid_grant`, `interaction_required`, …) from transient failures (network, 5xx, 429).
 */
export class TokenRefreshError extends WorkerError {
  readonly storageId: number;
  /** OAuth `error` field when the endpoint sent one. */
  readonly oauthError: string | undefined;
  readonly httpStatus: number | undefined;
  /** Seconds from a `Retry-After` header, when present. */
  readonly retryAfterSeconds: number | undefined;
  constructor(
    storageId: number,
    message: string,
    details: {
      permanent: boolean;
      oauthError?: string | undefined;
      httpStatus?: number | undefined;
      retryAfterSeconds?: number | undefined;
      cause?: unknown;
    },
  ) {
    super(details.permanent ? 'WORKER_ERR_REAUTH_REQUIRED' : 'WORKER_ERR_TOKEN_TRANSIENT', message, {
      permanent: details.permanent,
      cause: details.cause,
    });
    this.storageId = storageId;
    this.oauthError = details.oauthError;
    this.httpStatus = details.httpStatus;
    this.retryAfterSeconds = details.retryAfterSeconds;
  }
}

/** Refused without a request because the storage's breaker is open (re-authentication needed). */
export class ReauthRequiredError extends WorkerError {
  readonly storageId: number;
  constructor(storageId: number, message: string, options: WorkerErrorOptions = {}) {
    super('WORKER_ERR_REAUTH_REQUIRED', message, { ...options, permanent: true });
    this.storageId = storageId;
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

export function isPermanent(err: unknown): boolean {
  return err instanceof WorkerError && err.permanent;
}
