/**
 * The composition root: builds every service from the settings, wires them together through
 * their narrow interfaces, and gives the state machine its real actors. Nothing else in the
 * worker constructs a service.
 */
import { mkdir, access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { createActor, fromCallback, fromPromise } from 'xstate';
import type { Settings } from './config/settings.js';
import { OAUTH_TECHNOLOGIES } from './config/settings.js';
import { ControlServer, type ControlListen } from './control/server.js';
import { ControlToken } from './control/token.js';
import { ConfigError, errorMessage } from './errors.js';
import { HubClient } from './hub/rest-client.js';
import { HubEvents } from './hub/signalr-events.js';
import { TenantGuard } from './hub/tenancy.js';
import { JobRunner } from './jobs/job-runner.js';
import { ReportOutbox } from './jobs/report-outbox.js';
import type { Logger } from './log/logger.js';
import { observeHub, type ObservedHub } from './metrics/hub.js';
import { WorkerMetrics } from './metrics/registry.js';
import { OutboundDispatcher } from './outbound/dispatcher.js';
import { findExecutable } from './rclone/executable.js';
import { detectAuthFailure, type RcloneLogLine } from './rclone/log-line.js';
import { RcloneProcess } from './rclone/process.js';
import { ReauthCoordinator } from './reauth/coordinator.js';
import { StorageCatalog } from './storage/catalog.js';
import { graphDriveLookup } from './storage/onedrive-drive.js';
import { RCLONE_FS_CACHE_ARGS, RemoteManager } from './storage/remote-manager.js';
import type { RemoteSpec } from './storage/remote-spec.js';
import { createWorkerMachine, DEFAULT_TIMING, type MachineTiming, type RunJobsEvent, type WorkerActor } from './supervisor/machine.js';
import { rootTransitions, stateName, transitionLogger } from './supervisor/transition-log.js';
import { TokenBroker } from './tokens/broker.js';
import { FileJournalMedium, GrantJournal } from './tokens/grant-journal.js';
import { HttpTokenEndpoint } from './tokens/token-endpoint.js';
import { settleWithin } from './util/concurrency.js';

export interface WorkerOptions {
  settings: Settings;
  logger: Logger;
  timing?: MachineTiming;
}

export class Worker {
  readonly metrics: WorkerMetrics;
  /** Which storages and jobs are this worker's user's; the hub's rows enter the worker through it. */
  readonly tenancy: TenantGuard;
  /** The hub as every service sees it: through the tenancy guard, every call observed. */
  readonly hub: ObservedHub;
  readonly tokens: TokenBroker;
  readonly grants: GrantJournal;
  /** The worker's own HTTP to providers and the hub: proxy and private CA (outbound/dispatcher.ts). */
  private readonly outbound: OutboundDispatcher;
  readonly catalog: StorageCatalog;
  readonly remotes: RemoteManager;
  readonly outbox: ReportOutbox;
  readonly jobs: JobRunner;
  readonly reauth: ReauthCoordinator;
  readonly events: HubEvents;
  readonly actor: WorkerActor;
  private rclone: RcloneProcess | undefined;
  /** The first rclone, started with the worker rather than after the hub login (see start()). */
  private earlyRclone: Promise<RcloneProcess> | undefined;
  private specs: RemoteSpec[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;
  private control: ControlServer | undefined;
  private readonly log: Logger;
  private readonly done: Promise<void>;

  constructor(private readonly options: WorkerOptions) {
    const { settings, logger } = options;
    this.log = logger.child({ component: 'worker' });

    this.outbound = new OutboundDispatcher(settings.outbound);
    const machine = createWorkerMachine(options.timing ?? DEFAULT_TIMING);
    // Scrape-time sources read the services built below; nothing is scraped before start().
    this.metrics = new WorkerMetrics({
      machineStates: Object.keys(machine.root.states),
      sources: {
        jobs: () => this.jobs.describe(),
        pendingReports: () => this.outbox.pending().length,
        breakers: () =>
          this.catalog
            .all()
            .filter((s) => this.tokens.isTracked(s.id))
            .map((s) => ({ storage: s.uriSchema, technology: s.technology, open: this.tokens.reauthReason(s.id) !== undefined })),
        rcloneUp: () => this.rclone?.isRunning() ?? false,
        signalrConnected: () => this.events.connected,
      },
    });

    this.tenancy = new TenantGuard(
      new HubClient({ baseUrl: settings.hub.url, username: settings.hub.username, password: settings.hub.password, logger, dispatcher: this.outbound }),
      logger,
    );
    this.hub = observeHub(this.tenancy, this.metrics.hub);
    this.remotes = new RemoteManager(
      () => (this.rclone?.isRunning() ? this.rclone.client : undefined),
      () => (this.rclone?.isRunning() ? this.rclone.configPath : undefined),
      logger,
    );
    this.grants = new GrantJournal(new FileJournalMedium(join(settings.worker.stateDir, 'grants'), logger), logger);
    this.tokens = new TokenBroker({
      endpoint: new HttpTokenEndpoint({ timeoutMs: settings.tokens.requestTimeoutSeconds * 1000, dispatcher: this.outbound }),
      hub: this.hub,
      journal: this.grants,
      recorder: this.metrics.tokens,
      sink: this.remotes,
      logger,
      providers: settings.tokens.providers,
      refreshThresholdMs: settings.tokens.refreshThresholdSeconds * 1000,
      refreshMarginMs: settings.tokens.refreshMarginSeconds * 1000,
      sweepIntervalMs: settings.tokens.sweepIntervalSeconds * 1000,
    });
    this.catalog = new StorageCatalog({
      tokens: this.tokens,
      driveLookup: graphDriveLookup(settings.tokens.onedriveGraphUrl, { dispatcher: this.outbound }),
      tokenUrls: Object.fromEntries(OAUTH_TECHNOLOGIES.map((t) => [t, settings.tokens.providers[t].tokenUrl])) as Record<
        (typeof OAUTH_TECHNOLOGIES)[number],
        string
      >,
      gcsApiUrl: settings.tokens.gcsApiUrl,
      logger,
    });
    this.outbox = new ReportOutbox({ hub: this.hub, file: join(settings.worker.stateDir, 'pending-reports.json'), logger });
    this.jobs = new JobRunner({
      hub: this.hub,
      outbox: this.outbox,
      rclone: () => (this.rclone?.isRunning() ? this.rclone.client : undefined),
      catalog: this.catalog,
      remotes: this.remotes,
      tokens: this.tokens,
      tenancy: this.tenancy,
      recorder: this.metrics.jobs,
      reloadStorages: () => this.reloadStorages(),
      acquire: { username: settings.hub.username, capabilities: 'rclone', owner: settings.worker.ownerId, networks: settings.worker.networks },
      settings: {
        maxJobs: settings.worker.maxJobs,
        heartbeatSeconds: settings.worker.heartbeatSeconds,
        pollSeconds: settings.worker.pollSeconds,
        stallSeconds: settings.worker.stallSeconds,
        reauthWaitSeconds: settings.worker.reauthWaitSeconds,
        acquirePollSeconds: settings.hub.acquirePollSeconds,
        ...settings.jobs,
      },
      logger,
    });
    this.tokens.addListener({
      reauthorized: (storageId) => {
        this.jobs.credentialsReplaced(storageId);
      },
      reauthRequired: (storageId) => {
        this.jobs.grantDead(storageId);
        this.metrics.tokens.breakerOpened(this.catalog.byId(storageId)?.technology ?? 'unknown');
      },
    });
    this.reauth = new ReauthCoordinator({
      hub: this.hub,
      catalog: this.catalog,
      remotes: this.remotes,
      jobs: this.jobs,
      requestRestart: (reason) => {
        this.actor.send({ type: 'REAUTH.RESTART', reason });
      },
      debounceMs: settings.worker.reauthDebounceMs,
      logger,
    });
    this.events = new HubEvents({
      signalrUrl: settings.hub.signalrUrl,
      logger,
      onEvent: (event) => {
        this.metrics.hub.event(event.type);
        if (event.type === 'JobUpdated') {
          this.jobs.hubUpdated(event.jobId, event.state);
          return;
        }
        if (event.type === 'NewJobAvailable') this.actor.send({ type: 'HUB.NEW_JOB' });
        else this.actor.send({ type: 'HUB.STORAGE_REAUTHENTICATED', uriSchema: event.uriSchema });
      },
      // After a (re)connect we may have missed announcements: ask for work.
      onConnected: () => {
        this.actor.send({ type: 'HUB.NEW_JOB' });
      },
    });

    const provided = machine.provide({
      actors: {
        checkConfig: fromPromise(() => this.checkConfig()),
        checkOnline: fromPromise(() => this.checkOnline()),
        loginBackends: fromPromise(() => this.loginBackends()),
        checkRclone: fromPromise(() => this.checkRclone()),
        startRclone: fromPromise(() => this.startRclone()),
        runJobs: fromCallback<RunJobsEvent>(({ receive }) => {
          this.jobs.start();
          receive((event) => {
            if (event.type === 'HUB.NEW_JOB') this.jobs.requestAcquire('NewJobAvailable');
            else this.reauth.enqueue(event.uriSchema);
          });
          return () => {
            this.jobs.pause();
          };
        }),
        stopJobs: fromPromise(() => this.jobs.surrender('job processing stopped by the operator; job handed back to the hub')),
        restartForReauth: fromPromise<void, { reason: string }>(({ input }) => this.restartForReauth(input.reason)),
        shutdown: fromPromise<void, { reason: string }>(({ input }) => this.shutdown(input.reason)),
      },
      actions: {
        rcloneLost: () => {
          this.jobs.rcloneLost();
        },
        notifyFailure: (_, params: { step: string; error: string }) => {
          this.metrics.machine.stepFailed(params.step);
          this.log.warn(params, `step ${params.step} failed; retrying with backoff`);
        },
      },
    });
    const logTransition = transitionLogger(logger);
    const countTransition = rootTransitions((transition) => {
      this.metrics.machine.transitioned(transition);
    });
    this.actor = createActor(provided, {
      systemId: 'worker',
      inspect: (event) => {
        logTransition(event);
        countTransition(event);
      },
    });
    this.done = new Promise((resolve) => {
      this.actor.subscribe({
        complete: () => {
          resolve();
        },
        error: (err) => {
          this.log.fatal({ err }, 'state machine failed');
          resolve();
        },
      });
    });
  }

  /** Starts the machine, the hub connection and the token sweep. */
  async start(): Promise<void> {
    // rclone needs nothing from the hub, so its start (a Go binary: 0.1-0.8 s to answering)
    // overlaps the hub login and the storage loading instead of following them; the machine's
    // StartRCloneProcess step adopts it (startRclone).
    this.earlyRclone = this.launchRclone();
    this.earlyRclone.catch(() => undefined); // a failure is the StartRCloneProcess step's to handle
    await this.outbox.load();
    // Before the machine can load storages (and refresh anything): grants a crash left behind.
    await this.grants.load();
    this.actor.start();
    this.events.start();
    this.sweepTimer = setInterval(() => {
      void this.tokens.sweep();
    }, this.options.settings.tokens.sweepIntervalSeconds * 1000);
    await this.startControl();
  }

  /** The control endpoint, when configured; the worker runs on without it if it cannot start. */
  private async startControl(): Promise<void> {
    const { control, worker } = this.options.settings;
    const listen: ControlListen | undefined =
      control.socket !== undefined ? { socket: control.socket, mode: control.socketMode } : control.port !== undefined ? { port: control.port } : undefined;
    if (!listen) return;
    const { logger } = this.options;
    try {
      const token = await ControlToken.prepare({ file: control.tokenFile, stateDir: worker.stateDir, logger });
      this.control = await ControlServer.start(
        {
          health: () => {
            const snapshot = this.actor.getSnapshot();
            return {
              state: stateName(snapshot.value),
              machineActive: snapshot.status === 'active',
              rcloneUp: this.rclone?.isRunning() ?? false,
              signalrConnected: this.events.connected,
            };
          },
          status: () => ({ state: stateName(this.actor.getSnapshot().value), hubConnected: this.events.connected, jobs: this.jobs.describe() }),
          metrics: () => this.metrics.render(),
          abort: (jobId) => this.jobs.abort(jobId),
          stop: () => {
            this.actor.send({ type: 'STOP' });
          },
          start: () => {
            this.actor.send({ type: 'START' });
          },
        },
        { listen, token, logger },
      );
    } catch (err) {
      this.log.error({ ...listen, reason: errorMessage(err) }, 'control endpoint could not start; running without it');
    }
  }

  /** Asks for a graceful shutdown and resolves when the worker has stopped. */
  async stop(reason: string): Promise<void> {
    this.actor.send({ type: 'SHUTDOWN', reason });
    await this.done;
  }

  /** Resolves when the machine reached its final state. */
  finished(): Promise<void> {
    return this.done;
  }

  get rclonePid(): number | undefined {
    return this.rclone?.isRunning() ? this.rclone.pid : undefined;
  }

  // --- actor bodies -----------------------------------------------------------------------------

  private async checkConfig(): Promise<void> {
    const { settings } = this.options;
    await mkdir(settings.worker.stateDir, { recursive: true, mode: 0o700 });
    await access(settings.worker.stateDir, constants.W_OK);
    // Found, not run: `rclone version` cost a process start (0.1–0.4 s) on every start; the
    // version is logged once rclone answers (`rclone is ready`).
    const rclone = await findExecutable(settings.rclone.path);
    if (rclone === undefined) throw new ConfigError(`RCLONE_PATH ${settings.rclone.path}: no such executable file (install rclone, e.g. apt-get install rclone)`);
    this.log.info(
      {
        rclone,
        owner: settings.worker.ownerId,
        networks: settings.worker.networks,
        hub: settings.hub.url,
        stateDir: settings.worker.stateDir,
        maxJobs: settings.worker.maxJobs,
      },
      'worker configuration',
    );
    const { outbound, tokens } = settings;
    this.log.info(
      {
        hub: this.outbound.describe(settings.hub.url),
        graph: this.outbound.describe(tokens.onedriveGraphUrl),
        tokenEndpoints: Object.fromEntries(OAUTH_TECHNOLOGIES.map((t) => [t, this.outbound.describe(tokens.providers[t].tokenUrl)])),
        noProxy: outbound.noProxy,
        privateCa: outbound.caFile,
      },
      'outbound HTTP of the worker',
    );
  }

  private async checkOnline(): Promise<void> {
    await this.hub.checkOnline();
    await this.reloadStorages();
  }

  private async reloadStorages(): Promise<void> {
    const storages = await this.hub.storages();
    const { removed } = this.catalog.load(storages);
    this.log.info({ storages: storages.length, removed }, 'storages loaded from the hub');
  }

  private async loginBackends(): Promise<void> {
    const { specs, problems } = await this.catalog.desiredRemotes();
    this.specs = specs;
    this.log.info({ remotes: specs.map((s) => s.name), unusable: [...problems.keys()] }, 'storages prepared as rclone remotes');
  }

  private async checkRclone(): Promise<{ found: boolean }> {
    const rclone = this.rclone;
    if (!rclone?.isRunning()) return { found: false };
    try {
      await rclone.client.noop();
    } catch {
      await rclone.stop({ graceful: false, timeoutMs: 5000 });
      return { found: false };
    }
    await this.remotes.syncAll(this.specs, this.knownRemotes());
    return { found: true };
  }

  private launchRclone(): Promise<RcloneProcess> {
    const { settings } = this.options;
    return RcloneProcess.start({
      rclonePath: settings.rclone.path,
      stateDir: join(settings.worker.stateDir, 'rclone'),
      extraArgs: [...RCLONE_FS_CACHE_ARGS],
      logger: this.options.logger,
      rcObserver: this.metrics.rc,
      onLog: (line) => {
        this.onRcloneLog(line);
      },
    });
  }

  private async startRclone(): Promise<void> {
    const early = this.earlyRclone;
    this.earlyRclone = undefined;
    let rclone = early ? await early.catch(() => undefined) : undefined;
    if (!rclone?.isRunning()) rclone = await this.launchRclone();
    this.rclone = rclone;
    void rclone.exited.then((exit) => {
      if (!exit.expected && this.rclone === rclone) this.actor.send({ type: 'RCLONE.EXITED', code: exit.code, signal: exit.signal });
    });
    const { failed } = await this.remotes.syncAll(this.specs, this.knownRemotes());
    this.log.info({ rclonePid: rclone.pid, port: rclone.port, remotes: this.specs.length, failed }, 'rclone ready');
  }

  /** Remote names of every storage the hub has (kept even when one cannot be built now). */
  private knownRemotes(): Set<string> {
    return new Set(this.catalog.all().map((s) => s.uriSchema));
  }

  private onRcloneLog(line: RcloneLogLine): void {
    if (line.level !== 'error' && line.level !== 'critical') return;
    const signal = detectAuthFailure(line.msg);
    if (signal) this.jobs.authSignal(signal);
  }

  private async restartForReauth(reason: string): Promise<void> {
    this.log.warn({ reason }, 'full restart for re-authentication: jobs are interrupted and will be re-run');
    await this.jobs.interruptAll(reason);
    await this.rclone?.stop({ graceful: true, timeoutMs: 30_000 });
    await this.reloadStorages();
  }

  private async shutdown(reason: string): Promise<void> {
    const { settings } = this.options;
    this.log.info({ reason }, 'shutting down');
    // Stopped before the machine adopted it: it is ours to stop all the same.
    if (this.earlyRclone) this.rclone ??= await this.earlyRclone.catch(() => undefined);
    this.earlyRclone = undefined;
    clearInterval(this.sweepTimer);
    await this.control?.close();
    this.reauth.stop();
    await this.events.stop().catch(() => undefined);
    await this.jobs.shutdown(`worker shutting down (${reason}); job handed back to the hub`);
    const delivered = await this.outbox.flush(Math.min(10_000, settings.worker.shutdownTimeoutSeconds * 1000));
    if (!delivered) this.log.warn({ pending: this.outbox.pending().length }, 'some job reports are kept on disk for the next start');
    this.outbox.stop();
    await this.rclone?.stop({ graceful: true, timeoutMs: settings.worker.shutdownTimeoutSeconds * 1000 }).catch((err: unknown) => {
      this.log.warn({ reason: errorMessage(err) }, 'rclone did not stop cleanly');
    });
    this.tokens.stop();
    this.jobs.stopTimers();
    // Lets a token answer in flight arrive (a rotated grant must reach the journal), briefly.
    const closed = await settleWithin(this.outbound.close(), 2000);
    if (closed.status === 'pending') await this.outbound.destroy().catch(() => undefined);
    this.log.info('worker stopped');
  }
}
