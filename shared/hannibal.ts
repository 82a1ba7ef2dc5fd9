/**
 * Wire types of the Hannibal hub contract (research/anchor-backer.md §4–§5).
 *
 * JSON is camelCase, enums are integers, dates are ISO-8601 strings. The hub embeds lazily
 * loaded objects (endpoints, storages, rules) in jobs; consumers must tolerate extra and
 * nested properties, so every model here is open to unknown keys.
 */

/** `Job.JobState` (Models/Job.cs). Integer on the wire. */
export const JobState = {
  Preparing: 0,
  Ready: 1,
  Executing: 2,
  DoneFailure: 3,
  DoneSuccess: 4,
  DoneWithErrors: 5,
  Cancelled: 6,
} as const;
export type JobState = (typeof JobState)[keyof typeof JobState];

export function jobStateName(state: number): string {
  for (const [name, value] of Object.entries(JobState)) if (value === state) return name;
  return `Unknown(${state})`;
}

/** `Rule.RuleOperation` (Models/Rule.cs). Integer on the wire. */
export const RuleOperation = { Nop: 0, Copy: 1, Sync: 2 } as const;
export type RuleOperation = (typeof RuleOperation)[keyof typeof RuleOperation];

/** Storage technologies the hub knows, plus `gcs` (this project's OAuth test vehicle). */
export const TECHNOLOGIES = ['onedrive', 'dropbox', 'googledrive', 'nextcloud', 'smb', 'local', 'gcs'] as const;
export type Technology = (typeof TECHNOLOGIES)[number];

/** `Storage` (Models/Storage.cs). `uriSchema` is the rclone remote name. */
export interface Storage {
  id: number;
  userId?: string;
  technology: string;
  uriSchema: string;
  networks?: string | null;
  oAuth2Email?: string | null;
  clientId?: string | null;
  clientSecret?: string | null;
  accessToken?: string | null;
  refreshToken?: string | null;
  /** ISO-8601 date-time of the access token's expiry. */
  expiresAt?: string | null;
  username?: string | null;
  /** Plain text on the wire (the hub stores it so). */
  password?: string | null;
  host?: string | null;
  port?: number | null;
  domain?: string | null;
  createdAt?: string;
  updatedAt?: string;
  isActive?: boolean;
  [extra: string]: unknown;
}

/** `Endpoint` (Models/Endpoint.cs): a path on a storage. */
export interface Endpoint {
  id: number;
  name?: string;
  userId?: string;
  storageId: number;
  storage?: Storage | null;
  path: string;
  comment?: string;
  isActive?: boolean;
  [extra: string]: unknown;
}

export interface Rule {
  id: number;
  name: string;
  comment?: string;
  userId?: string;
  sourceEndpointId: number;
  sourceEndpoint?: Endpoint | null;
  destinationEndpointId: number;
  destinationEndpoint?: Endpoint | null;
  operation: RuleOperation;
  /** TimeSpan "d.hh:mm:ss" */
  maxDestinationAge?: string;
  minRetryTime?: string;
  maxTimeAfterSourceModification?: string;
  dailyTriggerTime?: string;
  [extra: string]: unknown;
}

export interface Job {
  id: number;
  userId?: string;
  tag?: string;
  operation: RuleOperation;
  fromRuleId?: number;
  fromRule?: Rule | null;
  owner: string;
  state: JobState;
  startFrom?: string;
  endBy?: string;
  lastReported?: string;
  sourceEndpointId: number;
  sourceEndpoint?: Endpoint | null;
  destinationEndpointId: number;
  destinationEndpoint?: Endpoint | null;
  status?: number;
  [extra: string]: unknown;
}

/** Body of `POST /api/hannibal/v1/acquireNextJob`. */
export interface AcquireParams {
  username: string;
  capabilities: string;
  owner: string;
  networks: string;
}

/**
 * Body of `POST /api/hannibal/v1/reportJob`. `reason` is an addition of this project: a
 * human-readable cause for a terminal state. Hannibal (System.Text.Json defaults) ignores
 * unknown members, so the field is wire compatible.
 */
export interface JobStatusReport {
  jobId: number;
  owner: string;
  state: JobState;
  reason?: string;
}

/** Response of `reportJob`: 0 = applied, -1 = unknown job or not Executing. */
export interface ReportResult {
  status: number;
}

/** Body of `POST /api/authb/v1/token` (PascalCase, as the .NET client sends it). */
export interface LoginRequest {
  Email: string;
  Password: string;
  TwoFactorCode: string | null;
  TwoFactorRecoveryCode: string | null;
}

export interface LoginResponse {
  tokenType: string;
  accessToken: string;
  expiresIn: number;
  refreshToken: string;
}

/** REST paths, relative to the hub's REST base URL. */
export const HubPaths = {
  login: '/api/authb/v1/token',
  currentUser: '/api/hannibal/v1/users/-1',
  /** `GET` any user's job by id, rule, endpoints and storages embedded (no owner or user check). */
  job: (id: number) => `/api/hannibal/v1/jobs/${id}`,
  storages: '/api/hannibal/v1/storages',
  storage: (id: number) => `/api/hannibal/v1/storages/${id}`,
  acquireNextJob: '/api/hannibal/v1/acquireNextJob',
  reportJob: '/api/hannibal/v1/reportJob',
} as const;

/**
 * SignalR hub path (relative to the SignalR base) and the server-to-client method names. All go
 * to every connected client (research/real-hannibal.md §6, F5):
 * - `NewJobAvailable()`: a job was created or handed back, or a rule changed;
 * - `StorageReauthenticated(uriSchema)`: a `PUT /storages/{id}` changed a token or a credential;
 * - `JobUpdated(jobId, stateName)`: on every acquisition and every applied report, heartbeats
 *   included; the state is the job's state name after the change (`"Ready"` after a DoneFailure);
 * - `RulesFlushed()`: a user flushed their rule states.
 */
export const HUB_PATH = '/hannibal';
export const HubMethods = {
  newJobAvailable: 'NewJobAvailable',
  storageReauthenticated: 'StorageReauthenticated',
  jobUpdated: 'JobUpdated',
  rulesFlushed: 'RulesFlushed',
} as const;

/** Heartbeat deadline enforced by Hannibal for `Executing` jobs. */
export const HUB_HEARTBEAT_DEADLINE_SECONDS = 120;
