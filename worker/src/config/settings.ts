/**
 * The worker's configuration: every setting, its environment variable, its default, and how it
 * is validated. Sources (later wins): built-in defaults → JSON file (`WORKER_CONFIG_FILE`, keys
 * are the variable names) → environment. Every bad value yields its own clear message; the
 * loader reports all of them at once.
 */
import type { Technology } from '../../../shared/hannibal.js';

export type OAuthTechnology = Extract<Technology, 'onedrive' | 'dropbox' | 'googledrive' | 'gcs'>;
export const OAUTH_TECHNOLOGIES: readonly OAuthTechnology[] = ['onedrive', 'dropbox', 'googledrive', 'gcs'];

export interface OAuthProviderSettings {
  tokenUrl: string;
  /** Fallback client credentials when the storage row carries none. */
  clientId: string | undefined;
  clientSecret: string | undefined;
  /** Scope sent with a refresh (Microsoft wants one); undefined = none. */
  scope: string | undefined;
}

export interface Settings {
  hub: {
    /** REST base, e.g. https://api.example.com */
    url: string;
    /** SignalR base; the hub is at `${signalrUrl}/hannibal`. */
    signalrUrl: string;
    username: string;
    password: string;
    /** Safety poll for jobs when no `NewJobAvailable` arrives. */
    acquirePollSeconds: number;
  };
  worker: {
    ownerId: string;
    networks: string;
    stateDir: string;
    maxJobs: number;
    heartbeatSeconds: number;
    pollSeconds: number;
    /** A running job with no progress for this long is stopped and re-run. */
    stallSeconds: number;
    /** How long a job waits for re-authentication of its storage before it is reported failed. */
    reauthWaitSeconds: number;
    /** Storage-change events arriving within this window are handled as one burst. */
    reauthDebounceMs: number;
    /** Graceful shutdown budget (stop jobs, quit rclone). */
    shutdownTimeoutSeconds: number;
  };
  /** The local control endpoint (control/server.ts): off unless a port or a socket is set. */
  control: {
    /** TCP port on 127.0.0.1; 0 = any free port. */
    port: number | undefined;
    /** Unix socket path, instead of TCP. */
    socket: string | undefined;
    /** Mode of the socket file: 0o600 (owner only) or 0o660 (owner and group). */
    socketMode: number;
    /** Bearer token for stop/start/abort; undefined = `<stateDir>/control-token`, generated. */
    tokenFile: string | undefined;
  };
  /** Failed jobs and hand-backs (jobs/lifecycle.ts, jobs/handback.ts); the README's failure table. */
  jobs: {
    /** Re-runs of a job after transient failures before it is handed back to the hub. */
    retries: number;
    /** First retry delay; doubles per retry up to `retryMaxSeconds`. */
    retrySeconds: number;
    retryMaxSeconds: number;
    /** A job this worker handed back after failures is not run by it again for this long. */
    handbackWindowSeconds: number;
    /** Ceiling of the delay between acquisition rounds that had to hand jobs back unrun. */
    acquireBackoffMaxSeconds: number;
  };
  rclone: {
    /** The rclone binary (default `rclone` on PATH). */
    path: string;
  };
  tokens: {
    /** Just-in-time refresh before a job starts when the token expires within this. */
    refreshThresholdSeconds: number;
    /** Backup sweep interval over all OAuth storages. */
    sweepIntervalSeconds: number;
    /** Largest margin kept before rclone's switch point (expiry − 10 s). */
    refreshMarginSeconds: number;
    /** Timeout of one token-endpoint request. */
    requestTimeoutSeconds: number;
    providers: Record<OAuthTechnology, OAuthProviderSettings>;
    /** Microsoft Graph base for OneDrive's `me/drive` lookup. */
    onedriveGraphUrl: string;
    /** rclone gcs `endpoint` (GCS JSON API base); undefined = rclone's default (Google). */
    gcsApiUrl: string | undefined;
  };
  /**
   * The worker's own outbound HTTP (token endpoints, Microsoft Graph, the hub's REST API), from
   * the standard variables its rclone reads too (see outbound/dispatcher.ts).
   */
  outbound: {
    /** `HTTPS_PROXY` (or `https_proxy`): proxy for https URLs. */
    httpsProxy: string | undefined;
    /** `HTTP_PROXY` (or `http_proxy`): proxy for http URLs only. */
    httpProxy: string | undefined;
    /** `NO_PROXY` (or `no_proxy`): hosts, domains, IPs and CIDRs reached directly. */
    noProxy: string | undefined;
    /** `SSL_CERT_FILE`: a PEM bundle of private CAs, trusted in addition to the built-in roots. */
    caFile: string | undefined;
    /** Its certificates, plus those of `NODE_EXTRA_CA_CERTS` (which an explicit CA list would drop). */
    caPem: string | undefined;
  };
  log: { level: string; format: 'json' | 'pretty' };
}

export const PROVIDER_DEFAULTS: Record<OAuthTechnology, { tokenUrl: string; scope: string | undefined }> = {
  onedrive: {
    tokenUrl: 'https://login.microsoftonline.com/consumers/oauth2/v2.0/token',
    scope: 'offline_access Files.ReadWrite User.Read',
  },
  dropbox: { tokenUrl: 'https://api.dropboxapi.com/oauth2/token', scope: undefined },
  googledrive: { tokenUrl: 'https://oauth2.googleapis.com/token', scope: undefined },
  gcs: { tokenUrl: 'https://oauth2.googleapis.com/token', scope: undefined },
};

export const DEFAULT_ONEDRIVE_GRAPH_URL = 'https://graph.microsoft.com/v1.0';
