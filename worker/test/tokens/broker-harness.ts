/**
 * Fakes and the harness shared by the token broker's tests: a scripted token endpoint, a sink
 * that records pushes, a hub that stores saves, an in-memory grant journal, faked timers.
 */
import { afterEach, beforeEach, vi } from 'vitest';
import type { Storage } from '../../../shared/hannibal.js';
import type { RcloneToken } from '../../../shared/rclone-rc.js';
import type { OAuthProviderSettings, OAuthTechnology } from '../../src/config/settings.js';
import { silentLogger } from '../../src/log/logger.js';
import { TokenBroker, type TokenBrokerOptions, type TokenHub, type TokenSink } from '../../src/tokens/broker.js';
import { classifyTokenAnswer, classifyTransportFailure, type RefreshOutcome } from '../../src/tokens/classify.js';
import type { RefreshRequest, TokenEndpoint } from '../../src/tokens/token-endpoint.js';
import { GrantJournal, type JournaledGrant } from '../../src/tokens/grant-journal.js';
import { MemoryJournalMedium } from './memory-journal-medium.js';

export const T0 = Date.parse('2026-03-02T09:00:00Z');
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const ID = 7;

export const iso = (ms: number): string => new Date(ms).toISOString();

// ---- token-endpoint answers, classified as the real endpoint would ----------------------------

export function issued(accessToken: string, expiresIn: number, refreshToken?: string): RefreshOutcome {
  const body = { token_type: 'Bearer', expires_in: expiresIn, access_token: accessToken, ...(refreshToken ? { refresh_token: refreshToken } : {}) };
  return classifyTokenAnswer({ status: 200, body: JSON.stringify(body) });
}

export function unavailable(retryAfter?: string): RefreshOutcome {
  return classifyTokenAnswer({ status: 503, body: '<html><body><h2>Service Unavailable</h2></body></html>', retryAfter });
}

export function invalidGrant(): RefreshOutcome {
  return classifyTokenAnswer({
    status: 400,
    body: JSON.stringify({
      error: 'invalid_grant',
      error_description: 'AADSTS70008: The provided authorization code or refresh token has expired due to inactivity.',
      error_codes: [70008],
    }),
  });
}

export function unreachable(): RefreshOutcome {
  return classifyTransportFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:443'), { code: 'ECONNREFUSED' }));
}

// ---- fakes -------------------------------------------------------------------------------------

/**
 * A token endpoint that counts requests and answers from a script; once the script is used up
 * it issues `EwB-at-<n>` (n = request number) with `lifetimeS`, optionally rotating the refresh
 * token to `M.C5-rt-<n>`.
 */
export class FakeTokenEndpoint implements TokenEndpoint {
  readonly calls: { at: number; req: RefreshRequest }[] = [];
  readonly script: RefreshOutcome[] = [];
  /** Answer given when the script is empty; undefined = issue a new token. */
  fallback: (() => RefreshOutcome) | undefined;
  latencyMs = 0;
  lifetimeS = 3600;
  rotate = false;

  async refresh(req: RefreshRequest): Promise<RefreshOutcome> {
    this.calls.push({ at: Date.now(), req: { ...req } });
    const n = this.calls.length;
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
    return this.script.shift() ?? this.fallback?.() ?? issued(`EwB-at-${n}`, this.lifetimeS, this.rotate ? `M.C5-rt-${n}` : undefined);
  }

  gaps(): number[] {
    return this.calls.slice(1).map((c, i) => c.at - this.calls[i]!.at);
  }
}

export class FakeTokenSink implements TokenSink {
  readonly pushes: { at: number; uriSchema: string; token: RcloneToken }[] = [];
  async pushToken(uriSchema: string, token: RcloneToken): Promise<boolean> {
    this.pushes.push({ at: Date.now(), uriSchema, token });
    return true;
  }
  last(): RcloneToken | undefined {
    return this.pushes.at(-1)?.token;
  }
}

export class FakeTokenHub implements TokenHub {
  readonly rows = new Map<number, Storage>();
  readonly saves: Storage[] = [];
  reads = 0;
  async storages(): Promise<Storage[]> {
    this.reads += 1;
    return [...this.rows.values()].map((s) => structuredClone(s));
  }
  async saveStorage(storage: Storage): Promise<Storage> {
    this.saves.push(structuredClone(storage));
    this.rows.set(storage.id, structuredClone(storage));
    return structuredClone(storage);
  }
}

export const PROVIDERS: Record<OAuthTechnology, OAuthProviderSettings> = {
  onedrive: {
    tokenUrl: 'http://127.0.0.1:18091/consumers/oauth2/v2.0/token',
    clientId: 'worker-onedrive-client',
    clientSecret: 'worker-onedrive-secret',
    scope: 'offline_access Files.ReadWrite User.Read',
  },
  dropbox: { tokenUrl: 'http://127.0.0.1:18091/oauth2/token', clientId: 'worker-dropbox-app', clientSecret: 'worker-dropbox-secret', scope: undefined },
  googledrive: { tokenUrl: 'http://127.0.0.1:18091/token', clientId: 'worker-google-client', clientSecret: 'worker-google-secret', scope: undefined },
  gcs: { tokenUrl: 'http://127.0.0.1:18091/token', clientId: 'worker-gcs-client', clientSecret: 'worker-gcs-secret', scope: undefined },
};

/** A OneDrive storage row as the hub sends it, with a token issued now that lives `lifetimeMs`. */
export function storageRow(lifetimeMs: number, overrides: Partial<Storage> = {}): Storage {
  return {
    id: ID,
    userId: '6f1c2a7e-3b9d-4c8e-a1f0-5d2e7b9c4a13',
    technology: 'onedrive',
    uriSchema: 'onedrive-7',
    networks: null,
    oAuth2Email: 'jane.doe@outlook.com',
    clientId: null,
    clientSecret: null,
    accessToken: 'EwB-at-0',
    refreshToken: 'M.C5-rt-0',
    expiresAt: iso(Date.now() + lifetimeMs),
    username: null,
    password: null,
    createdAt: '2025-11-20T14:02:11.000Z',
    updatedAt: '2026-03-01T08:15:40.000Z',
    isActive: true,
    ...overrides,
  };
}

export interface Harness {
  broker: TokenBroker;
  endpoint: FakeTokenEndpoint;
  sink: FakeTokenSink;
  hub: FakeTokenHub;
  /** Where the broker's grant journal keeps its entries. */
  medium: MemoryJournalMedium;
  listener: { reauthRequired: ReturnType<typeof vi.fn>; reauthorized: ReturnType<typeof vi.fn> };
}

let current: Harness | undefined;

/** A broker over the fakes, tracking `row` (also stored in the hub). Faked timers and clock. */
export function harness(row: Storage, { medium = new MemoryJournalMedium(), ...options }: Partial<TokenBrokerOptions> & { medium?: MemoryJournalMedium } = {}): Harness {
  const endpoint = new FakeTokenEndpoint();
  const sink = new FakeTokenSink();
  const hub = new FakeTokenHub();
  const journal = options.journal ?? new GrantJournal(medium, silentLogger());
  hub.rows.set(row.id, structuredClone(row));
  const broker = new TokenBroker({
    endpoint,
    hub,
    journal,
    sink,
    logger: silentLogger(),
    providers: PROVIDERS,
    refreshThresholdMs: 15 * MINUTE,
    refreshMarginMs: 60 * SECOND,
    now: () => Date.now(),
    random: () => 1,
    ...options,
  });
  const listener = { reauthRequired: vi.fn(), reauthorized: vi.fn() };
  broker.addListener(listener);
  broker.track(structuredClone(row));
  current = { broker, endpoint, sink, hub, medium, listener };
  return current;
}

/** Advances the faked clock, running due timers and the promise chains they start. */
export const advance = (ms: number): Promise<void> => vi.advanceTimersByTimeAsync(ms).then(() => undefined);
/** Runs pending promise chains (a save in flight) without moving the clock. */
export const settle = (): Promise<void> => advance(0);

/** A journal as a start finds it after a run that crashed holding `grants`, and where it keeps them. */
export async function journalLeftBy(grants: JournaledGrant[]): Promise<{ journal: GrantJournal; medium: MemoryJournalMedium }> {
  const medium = new MemoryJournalMedium();
  for (const grant of grants) medium.seed(grant);
  const journal = new GrantJournal(medium, silentLogger());
  await journal.load();
  return { journal, medium };
}

/** Registers the hooks every broker test file needs: faked timers from T0, the broker stopped after each test. */
export function brokerHooks(): void {
  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
  });

  afterEach(() => {
    current?.broker.stop();
    current = undefined;
    vi.useRealTimers();
  });
}
