/**
 * Loads and validates the worker's settings. See config/README.md for every variable.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { EnvReader, type Source } from './env-reader.js';
import { detectNetworkId } from './network.js';
import {
  DEFAULT_ONEDRIVE_GRAPH_URL,
  OAUTH_TECHNOLOGIES,
  PROVIDER_DEFAULTS,
  type OAuthProviderSettings,
  type OAuthTechnology,
  type Settings,
} from './settings.js';

/** Merges the optional JSON file (`WORKER_CONFIG_FILE`) under the environment. */
export function readSources(env: Source): { source: Source; problems: string[] } {
  const file = env.WORKER_CONFIG_FILE?.trim();
  if (!file) return { source: env, problems: [] };
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return { source: env, problems: [`WORKER_CONFIG_FILE ${file} must hold a JSON object of VARIABLE: value`] };
    }
    const fromFile: Record<string, string> = {};
    const problems: string[] = [];
    for (const [key, value] of Object.entries(parsed)) {
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') fromFile[key] = String(value);
      else problems.push(`WORKER_CONFIG_FILE ${file}: ${key} must be a string, number or boolean`);
    }
    return { source: { ...fromFile, ...definedOnly(env) }, problems };
  } catch (err) {
    // V8's JSON errors can quote the offending text, which may be a secret: give the position only.
    const reason = err instanceof SyntaxError ? `not valid JSON${/ at position \d+/.exec(err.message)?.[0] ?? ''}` : (err as Error).message;
    return { source: env, problems: [`WORKER_CONFIG_FILE ${file} cannot be read as JSON: ${reason}`] };
  }
}

/** The variables the environment really sets: empty counts as unset, so it does not hide the file's value. */
function definedOnly(env: Source): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v.trim() !== '') out[k] = v;
  return out;
}

export function defaultStateDir(env: Source): string {
  const base = env.XDG_STATE_HOME?.trim() || join(homedir(), '.local', 'state');
  return join(base, 'rclone-sync-worker');
}

/**
 * A stable owner id unique to this worker: `<host>-<8 hex>`, generated once and kept in the
 * state directory, so two workers on one host (two state dirs) never share an id — the .NET
 * worker used `worker-rclone-0` everywhere (anchor-backer.md §12.8).
 */
export function persistentOwnerId(stateDir: string): string {
  const file = join(stateDir, 'owner-id');
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (existing) return existing;
  } catch {
    // first start: generate below
  }
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const id = `${hostname()}-${randomUUID().slice(0, 8)}`;
  writeFileSync(file, `${id}\n`, { mode: 0o600 });
  return id;
}

/**
 * A proxy variable as Go (and so rclone) reads it: the upper-case name wins over the lower-case
 * one; a value without a scheme means `http://`. A proxy URL may carry credentials, so a bad
 * value is reported without it.
 */
function proxyUrl(r: EnvReader, name: 'HTTPS_PROXY' | 'HTTP_PROXY'): string | undefined {
  const used = r.raw(name) !== undefined ? name : name.toLowerCase();
  const value = r.raw(used);
  if (value === undefined) return undefined;
  try {
    const parsed = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
    if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.hostname === '') throw new Error('not an http(s) proxy');
    return parsed.href;
  } catch {
    r.problems.push(`${used} must be an http:// or https:// proxy URL (value not shown: it may hold a password)`);
    return undefined;
  }
}

/** `SSL_CERT_FILE` (+ `NODE_EXTRA_CA_CERTS`, which Node drops once a CA list is given explicitly). */
function privateCa(r: EnvReader): { caFile: string | undefined; caPem: string | undefined } {
  const caFile = r.raw('SSL_CERT_FILE');
  if (caFile === undefined) return { caFile, caPem: undefined };
  const pems: string[] = [];
  for (const [name, file] of [['SSL_CERT_FILE', caFile], ['NODE_EXTRA_CA_CERTS', r.raw('NODE_EXTRA_CA_CERTS')]] as const) {
    if (file === undefined) continue;
    try {
      const text = readFileSync(file, 'utf8');
      if (!text.includes('-----BEGIN CERTIFICATE-----')) r.problems.push(`${name} ${file} holds no PEM certificate`);
      else pems.push(text);
    } catch (err) {
      r.problems.push(`${name} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)} (${file})`);
    }
  }
  return { caFile, caPem: pems.length > 0 ? pems.join('\n') : undefined };
}

function providerSettings(r: EnvReader, tech: OAuthTechnology): OAuthProviderSettings {
  const prefix = tech.toUpperCase();
  return {
    tokenUrl: r.url(`${prefix}_TOKEN_URL`, PROVIDER_DEFAULTS[tech].tokenUrl),
    clientId: r.string(`${prefix}_CLIENT_ID`),
    clientSecret: r.secret(`${prefix}_CLIENT_SECRET`),
    scope: r.string(`${prefix}_SCOPE`) ?? PROVIDER_DEFAULTS[tech].scope,
  };
}

function controlSettings(r: EnvReader): Settings['control'] {
  const port = r.raw('WORKER_CONTROL_PORT') === undefined ? undefined : r.int('WORKER_CONTROL_PORT', 0, { min: 0, max: 65_535 });
  const socket = r.string('WORKER_CONTROL_SOCKET');
  if (port !== undefined && socket !== undefined) r.problems.push('set only one of WORKER_CONTROL_PORT and WORKER_CONTROL_SOCKET');
  return {
    port,
    socket,
    socketMode: Number.parseInt(r.oneOf('WORKER_CONTROL_SOCKET_MODE', ['0600', '0660'], '0600'), 8),
    tokenFile: r.string('WORKER_CONTROL_TOKEN_FILE'),
  };
}

/**
 * Validates everything and returns the settings, or throws one ConfigError whose message lists
 * every problem, one per line.
 */
export async function loadSettings(env: Source = process.env): Promise<Settings> {
  const { source, problems: fileProblems } = readSources(env);
  const r = new EnvReader(source);

  const hubUrl = r.url('HANNIBAL_URL') ?? (r.required('HANNIBAL_URL', 'the hub REST base URL'), '');
  const signalrUrl = r.url('HANNIBAL_SIGNALR_URL', hubUrl);
  const username = r.required('BACKER_USERNAME', 'the hub login e-mail');
  const password = r.secret('BACKER_PASSWORD');
  if (password === undefined && r.raw('BACKER_PASSWORD_FILE') === undefined) r.problems.push('BACKER_PASSWORD or BACKER_PASSWORD_FILE is required (the hub login password)');

  const stateDir = r.string('WORKER_STATE_DIR', defaultStateDir(source));
  // At most half the hub's 120 s deadline, so one lost heartbeat never loses the job.
  const heartbeatSeconds = r.int('WORKER_HEARTBEAT_SECONDS', 30, { min: 1, max: 60 });
  const providers = Object.fromEntries(OAUTH_TECHNOLOGIES.map((t) => [t, providerSettings(r, t)])) as Record<
    OAuthTechnology,
    OAuthProviderSettings
  >;

  const settings: Settings = {
    hub: {
      url: hubUrl,
      signalrUrl,
      username,
      password: password ?? '',
      acquirePollSeconds: r.int('WORKER_ACQUIRE_POLL_SECONDS', 120, { min: 5, max: 86_400 }),
    },
    worker: {
      ownerId: r.string('WORKER_OWNER_ID') ?? '',
      networks: r.string('WORKER_NETWORKS') ?? '',
      stateDir,
      maxJobs: r.int('WORKER_MAX_JOBS', 4, { min: 1, max: 256 }),
      heartbeatSeconds,
      pollSeconds: r.int('WORKER_POLL_SECONDS', 2, { min: 1, max: 60 }),
      stallSeconds: r.int('WORKER_STALL_SECONDS', 600, { min: 10, max: 86_400 }),
      reauthWaitSeconds: r.int('WORKER_REAUTH_WAIT_SECONDS', 900, { min: 0, max: 7 * 86_400 }),
      reauthDebounceMs: r.int('WORKER_REAUTH_DEBOUNCE_MS', 500, { min: 0, max: 60_000 }),
      shutdownTimeoutSeconds: r.int('WORKER_SHUTDOWN_TIMEOUT_SECONDS', 60, { min: 1, max: 3600 }),
    },
    jobs: {
      retries: r.int('WORKER_JOB_RETRIES', 5, { min: 0, max: 100 }),
      retrySeconds: r.int('WORKER_JOB_RETRY_SECONDS', 30, { min: 1, max: 3600 }),
      retryMaxSeconds: r.int('WORKER_JOB_RETRY_MAX_SECONDS', 600, { min: 1, max: 86_400 }),
      handbackWindowSeconds: r.int('WORKER_HANDBACK_WINDOW_SECONDS', 1800, { min: 0, max: 7 * 86_400 }),
      acquireBackoffMaxSeconds: r.int('WORKER_ACQUIRE_BACKOFF_MAX_SECONDS', 60, { min: 1, max: 3600 }),
    },
    control: controlSettings(r),
    rclone: { path: r.string('RCLONE_PATH', 'rclone') },
    tokens: {
      refreshThresholdSeconds: r.int('TOKEN_REFRESH_THRESHOLD_SECONDS', 900, { min: 0, max: 86_400 }),
      sweepIntervalSeconds: r.int('TOKEN_SWEEP_INTERVAL_SECONDS', 3600, { min: 10, max: 7 * 86_400 }),
      refreshMarginSeconds: r.int('TOKEN_REFRESH_MARGIN_SECONDS', 60, { min: 1, max: 3600 }),
      requestTimeoutSeconds: r.int('TOKEN_REQUEST_TIMEOUT_SECONDS', 15, { min: 1, max: 300 }),
      providers,
      onedriveGraphUrl: r.url('ONEDRIVE_GRAPH_URL') ?? r.url('ONEDRIVE_API_URL', DEFAULT_ONEDRIVE_GRAPH_URL),
      gcsApiUrl: r.url('GCS_API_URL'),
    },
    outbound: {
      httpsProxy: proxyUrl(r, 'HTTPS_PROXY'),
      httpProxy: proxyUrl(r, 'HTTP_PROXY'),
      noProxy: r.raw('NO_PROXY') ?? r.raw('no_proxy'),
      ...privateCa(r),
    },
    log: {
      level: r.oneOf('LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], 'info'),
      format: r.oneOf('LOG_FORMAT', ['json', 'pretty'], 'json'),
    },
  };

  const problems = [...fileProblems, ...r.problems];
  if (problems.length > 0) {
    throw new ConfigError(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
  if (!settings.worker.ownerId) {
    try {
      settings.worker.ownerId = persistentOwnerId(stateDir);
    } catch (err) {
      throw new ConfigError(
        `invalid configuration:\n  - WORKER_STATE_DIR ${stateDir} is not writable (${(err as NodeJS.ErrnoException).code ?? 'error'}); it keeps the generated owner id — set WORKER_OWNER_ID or fix the directory`,
      );
    }
  }
  if (!settings.worker.networks) settings.worker.networks = await detectNetworkId();
  return settings;
}
