/**
 * The SignalR side of the hub: `{signalr base}/hannibal`, unauthenticated, JSON protocol.
 *
 * - `start()` is retried forever with jittered backoff: the client's automatic reconnect only
 *   covers a connection that was up and dropped (research/ecosystem.md §2.2).
 * - Automatic reconnect never gives up; when the client closes anyway, the start loop runs again.
 * - The JS client does not serialise handlers, so events go through a serial queue.
 * - After every (re)connect `onConnected` fires, so the owner can poll for work it may have missed.
 * - The real hub also broadcasts `JobUpdated(jobId, stateName)` on every acquire and report of
 *   every user's jobs (the state as a string name, unlike REST) and `RulesFlushed()`
 *   (real-hannibal.md F5). `JobUpdated` is passed on; `RulesFlushed` means nothing to a worker
 *   and is only acknowledged, so neither fills the log with "no client method" lines.
 */
import { HubConnectionBuilder, HubConnectionState, LogLevel, type HubConnection, type ILogger } from '@microsoft/signalr';
import { HUB_PATH, HubMethods } from '../../../shared/hannibal.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { fullJitterDelay } from '../util/backoff.js';
import { SerialQueue } from '../util/serial-queue.js';
import { sleep } from '../util/sleep.js';

export type HubEvent =
  | { type: 'NewJobAvailable' }
  | { type: 'StorageReauthenticated'; uriSchema: string }
  | { type: 'JobUpdated'; jobId: number; state: string };

/** Broadcast by the real hub when rules are flushed (HannibalServiceRules); no payload a worker needs. */
const RULES_FLUSHED = 'RulesFlushed';

export interface HubEventsOptions {
  signalrUrl: string;
  logger: Logger;
  onEvent: (event: HubEvent) => Promise<void> | void;
  onConnected?: () => void;
  /** Backoff for start() attempts and reconnects. */
  retry?: { initialMs: number; maxMs: number };
}

export class HubEvents {
  private readonly log: Logger;
  private readonly queue: SerialQueue;
  private readonly retry: { initialMs: number; maxMs: number };
  private connection: HubConnection | undefined;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly options: HubEventsOptions) {
    this.log = options.logger.child({ component: 'hub-signalr' });
    this.retry = options.retry ?? { initialMs: 1000, maxMs: 30_000 };
    this.queue = new SerialQueue((err) => {
      this.log.error({ err }, 'hub event handler failed');
    });
  }

  get connected(): boolean {
    return this.connection?.state === HubConnectionState.Connected;
  }

  /** Starts the connect loop in the background; never rejects. */
  start(): void {
    this.loop ??= this.connectLoop();
  }

  async stop(): Promise<void> {
    this.stopping.abort(new Error('stopping'));
    await this.connection?.stop().catch(() => undefined);
    await this.loop;
    await this.queue.idle();
  }

  private async connectLoop(): Promise<void> {
    const signal = this.stopping.signal;
    const stopping = () => signal.aborted;
    let attempt = 0;
    while (!stopping()) {
      const connection = this.build();
      this.connection = connection;
      const closed = new Promise<Error | undefined>((resolve) => {
        connection.onclose(resolve);
      });
      try {
        await connection.start();
        attempt = 0;
        this.log.info({ url: this.hubUrl }, 'connected to the hub');
        this.options.onConnected?.();
        const reason = await closed;
        if (stopping()) return;
        this.log.warn({ reason: reason ? errorMessage(reason) : undefined }, 'hub connection closed; connecting again');
      } catch (err) {
        if (stopping()) return;
        attempt += 1;
        const delay = fullJitterDelay(attempt, { ...this.retry, floorMs: this.retry.initialMs / 2 });
        this.log.warn({ attempt, retryInMs: delay, reason: errorMessage(err) }, 'hub connection failed; retrying');
        await sleep(delay, signal).catch(() => undefined);
      }
    }
  }

  private get hubUrl(): string {
    return `${this.options.signalrUrl}${HUB_PATH}`;
  }

  private build(): HubConnection {
    const retry = this.retry;
    const connection = new HubConnectionBuilder()
      .withUrl(this.hubUrl)
      .withAutomaticReconnect({
        nextRetryDelayInMilliseconds: (ctx) =>
          fullJitterDelay(ctx.previousRetryCount + 1, { ...retry, floorMs: retry.initialMs / 2 }),
      })
      .configureLogging(pinoSignalrLogger(this.log))
      .build();
    connection.on(HubMethods.newJobAvailable, () => {
      void this.queue.push(() => this.options.onEvent({ type: 'NewJobAvailable' }));
    });
    connection.on(HubMethods.storageReauthenticated, (uriSchema: unknown) => {
      if (typeof uriSchema !== 'string' || uriSchema === '') {
        this.log.warn({ uriSchema }, 'StorageReauthenticated without a usable uriSchema; ignored');
        return;
      }
      void this.queue.push(() => this.options.onEvent({ type: 'StorageReauthenticated', uriSchema }));
    });
    connection.on(HubMethods.jobUpdated, (jobId: unknown, state: unknown) => {
      if (typeof jobId !== 'number' || typeof state !== 'string') {
        this.log.debug({ jobId, state }, 'JobUpdated without a job id and state name; ignored');
        return;
      }
      void this.queue.push(() => this.options.onEvent({ type: 'JobUpdated', jobId, state }));
    });
    connection.on(RULES_FLUSHED, () => {
      this.log.debug('hub flushed its rules');
    });
    connection.onreconnecting((err) => {
      this.log.warn({ reason: err ? errorMessage(err) : undefined }, 'hub connection lost; reconnecting');
    });
    connection.onreconnected(() => {
      this.log.info('reconnected to the hub');
      this.options.onConnected?.();
    });
    return connection;
  }
}

/**
 * SignalR's logger interface onto pino. Transport drops are logged by the client at Error even
 * when it will reconnect; the reconnect callbacks above say what matters, so those go to debug.
 */
function pinoSignalrLogger(log: Logger): ILogger {
  return {
    log(level: LogLevel, message: string) {
      if (level >= LogLevel.Critical) log.error({ signalr: true }, message);
      else if (level >= LogLevel.Warning) log.debug({ signalr: true, signalrLevel: level }, message);
      else if (level >= LogLevel.Debug) log.trace({ signalr: true }, message);
    },
  };
}
