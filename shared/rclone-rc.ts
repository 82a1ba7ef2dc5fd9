/**
 * Types of the rclone rc API as spoken by rclone 1.60.1 (research/rclone-lab.md Q1–Q3).
 */

/** Error envelope of every failing rc call; HTTP status equals `status`. */
export interface RcErrorBody {
  error: string;
  input?: unknown;
  path?: string;
  status?: number;
}

export interface RcJobStatus {
  id: number;
  group: string;
  finished: boolean;
  success: boolean;
  error: string;
  duration: number;
  startTime: string;
  endTime: string;
  output: unknown;
}

/** `job/list`: camelCase keys (the anchor's `running_ids` was a bug). */
export interface RcJobList {
  jobids: number[];
  runningIds?: number[];
  finishedIds?: number[];
  executeId?: string;
}

export interface RcTransferring {
  name: string;
  size: number;
  bytes: number;
  percentage?: number;
  speed?: number;
  eta?: number | null;
  group?: string;
}

export interface RcCoreStats {
  bytes: number;
  checks: number;
  deletes: number;
  errors: number;
  fatalError: boolean;
  retryError: boolean;
  elapsedTime: number;
  eta: number | null;
  speed: number;
  totalBytes: number;
  totalChecks: number;
  totalTransfers: number;
  transfers: number;
  transferring?: RcTransferring[];
  lastError?: string;
}

export interface RcTransferredEntry {
  name: string;
  size: number;
  bytes: number;
  error: string;
  checked: boolean;
  group: string;
  started_at?: string;
  completed_at?: string;
}

/** `config/dump`: remote name → key → value (values are strings, passwords obscured). */
export type RcConfigDump = Record<string, Record<string, string>>;

/** The token JSON rclone's oauthutil stores in a remote's `token` key. */
export interface RcloneToken {
  access_token: string;
  token_type: string;
  refresh_token?: string;
  /** RFC 3339, UTC. A zero time means "never expires" to rclone: never send one. */
  expiry: string;
}
