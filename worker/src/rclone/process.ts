/**
 * The supervised `rclone rcd` child process: start it privately (loopback port, random rc
 * password passed through the environment, private config file), know when it is ready, turn
 * its stderr into log records, and stop it without leaving half-written files behind
 * (research/rclone-lab.md Q1, Q7; DESIGN.md §3).
 *
 * rclone runs in its own process group and session, so signals meant for the worker — a Ctrl-C
 * in a terminal (SIGINT to the foreground group), `kill -- -<pgid>` — reach the worker alone,
 * which stops the jobs (`job/stop`) and hands them back before it stops rclone. And it never
 * outlives the worker (parent-death.ts).
 *
 * Spawned with `node:child_process`, not execa: execa's one service here (killing the child on
 * exit) does not apply to a detached child, and importing it cost 170–260 ms of every start.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Agent } from 'undici';
import type { RcJobList, RcJobStatus } from '../../../shared/rclone-rc.js';
import { RcloneProcessError, errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { RcCallObserver } from '../metrics/recorders.js';
import { sleep } from '../util/sleep.js';
import { findExecutable } from './executable.js';
import { freeLoopbackPort } from './free-port.js';
import { parentDeathGuard, type ParentDeathGuard } from './parent-death.js';
import { parseRcloneLogLine, type RcloneLogLevel, type RcloneLogLine } from './log-line.js';
import { removePidfile, terminateLeftoverRclone, writePidfile } from './pidfile.js';
import { RcClient } from './rc-client.js';
import { prepareStateDir, type RcloneStateFiles } from './state-dir.js';

export interface RcloneExit {
  /** Exit code; null when a signal ended the process or it never started. */
  code: number | null;
  /** Signal that ended the process (e.g. `SIGKILL`), or null. */
  signal: string | null;
  /** True only when the exit followed {@link RcloneProcess.stop}. */
  expected: boolean;
  /** The last stderr lines, raw, for diagnosing an unexpected exit. */
  stderrTail: string;
  /** Final status of each job a graceful stop cancelled (to report them); absent otherwise. */
  stoppedJobs?: RcJobStatus[];
}

export interface RcloneProcessOptions {
  rclonePath: string;
  /** Private directory for `rclone.conf` and the pidfile; created 0700. */
  stateDir: string;
  logger: Logger;
  /** Called with every parsed stderr line. */
  onLog?: (line: RcloneLogLine) => void;
  /**
   * `--rc-job-expire-duration`, default `30m`. rclone's default (60 s) can lose a result; but
   * every rc call, polls included, is kept as a job until it expires, so a long duration grows
   * rclone's memory (20 000 calls: +74 MB RSS). The worker reads results within one poll cycle.
   */
  jobExpireDuration?: string;
  extraArgs?: string[];
  /** How long rclone may take to answer `rc/noop` after spawning. Default 15 000 ms. */
  readyTimeoutMs?: number;
  /** Chooses the rc port; default: a free port on 127.0.0.1. */
  portPicker?: () => Promise<number>;
  /** Ties rclone's life to the worker's; default: the best this host offers (`setpriv`). */
  guard?: ParentDeathGuard;
  /** Told of every rc call of the client (metrics). */
  rcObserver?: RcCallObserver;
}

export interface RcloneStopOptions {
  /** Cancel running jobs and ask rclone to quit (default), rather than SIGTERM at once. */
  graceful?: boolean;
  /** Bound of the whole stop; SIGKILL when it is over. Default 30 000 ms. */
  timeoutMs?: number;
}

const RC_USER = 'worker';
const DEFAULT_JOB_EXPIRE_DURATION = '30m';
const DEFAULT_READY_TIMEOUT_MS = 15_000;
const DEFAULT_STOP_TIMEOUT_MS = 30_000;
/** Part of a graceful stop's budget kept for `core/quit`, which exits ~1.5 s after it answers. */
const QUIT_ALLOWANCE_MS = 3_000;
const READY_POLL_INTERVAL_MS = 20;
const READY_CALL_TIMEOUT_MS = 1_000;
const JOB_POLL_INTERVAL_MS = 100;
const MAX_PORT_ATTEMPTS = 5;
const STDERR_TAIL_LINES = 20;
const MAX_LOGGED_LINE_CHARS = 4_000;

/** rclone level → pino method. rclone logs NOTICE as `warning`; critical lines precede its exit. */
const PINO_METHOD: Record<RcloneLogLevel, 'debug' | 'info' | 'warn' | 'error'> = {
  debug: 'debug',
  info: 'info',
  warning: 'warn',
  error: 'error',
  critical: 'error',
};

/** A spawned rclone before it is known to be ready. */
interface RcloneChild {
  pid: number | undefined;
  kill(signal: NodeJS.Signals): void;
  /** Resolves when the process has ended and its stderr is fully read. */
  ended: Promise<{ code: number | null; signal: string | null; spawnError: string | undefined }>;
  stderrTail(): string;
}

export class RcloneProcess {
  readonly client: RcClient;
  readonly pid: number;
  readonly port: number;
  readonly configPath: string;
  readonly exited: Promise<RcloneExit>;

  readonly #child: RcloneChild;
  readonly #logger: Logger;
  #running = true;
  /** Aborted when the process has ended; cancels the readiness poll. */
  readonly #ended = new AbortController();
  #stopRequested = false;
  #stopping: Promise<RcloneExit> | undefined;
  #stoppedJobs: RcJobStatus[] | undefined;

  private constructor(child: RcloneChild & { pid: number }, connections: Agent, client: RcClient, port: number, files: RcloneStateFiles, logger: Logger) {
    this.#child = child;
    this.#logger = logger;
    this.client = client;
    this.pid = child.pid;
    this.port = port;
    this.configPath = files.configPath;
    // Whatever ends this process from inside (a second signal, a fatal error), rclone goes with
    // it: `process.exit` runs 'exit' listeners synchronously, and kill(2) is synchronous.
    const killOnExit = () => {
      child.kill('SIGKILL');
    };
    process.once('exit', killOnExit);
    this.exited = child.ended.then(async ({ code, signal }) => {
      process.removeListener('exit', killOnExit);
      this.#running = false;
      this.#ended.abort();
      // The connections belong to this process: later calls fail at once, nothing stays pooled.
      await connections.destroy().catch(() => undefined);
      const exit: RcloneExit = { code, signal, expected: this.#stopRequested, stderrTail: child.stderrTail() };
      if (this.#stoppedJobs) exit.stoppedJobs = this.#stoppedJobs;
      await removePidfile(files.pidfilePath, child.pid).catch((err: unknown) => {
        logger.warn({ err: errorMessage(err) }, 'cannot remove the rclone pidfile');
      });
      if (exit.expected) logger.info({ rclonePid: this.pid, code, signal }, 'rclone exited');
      else logger.warn({ rclonePid: this.pid, code, signal, stderrTail: exit.stderrTail }, 'rclone exited unexpectedly');
      return exit;
    });
  }

  /**
   * Starts a private `rclone rcd` and resolves once it answers `rc/noop`. An rclone left behind
   * by a previous run (pidfile) is terminated first; a port taken meanwhile is retried.
   */
  static async start(options: RcloneProcessOptions): Promise<RcloneProcess> {
    const logger = options.logger.child({ component: 'rclone' });
    const [files, rclonePath, guard] = await Promise.all([
      prepareStateDir(options.stateDir),
      findExecutable(options.rclonePath),
      options.guard ?? parentDeathGuard(),
    ]);
    if (rclonePath === undefined) {
      throw new RcloneProcessError('WORKER_ERR_RCLONE_SPAWN', `cannot run ${options.rclonePath}: no such executable file`, { permanent: true });
    }
    if (guard.mechanism === 'none') {
      logger.warn('setpriv (util-linux) with --pdeathsig is not available: if the worker is killed with SIGKILL, its rclone stops only at its next log line or at the next start');
    }
    await terminateLeftoverRclone(files.pidfilePath, files.configPath, logger);
    const pickPort = options.portPicker ?? freeLoopbackPort;
    for (let attempt = 1; ; attempt++) {
      const port = await pickPort();
      const rclone = await RcloneProcess.launch({ ...options, rclonePath }, guard, files, port, logger);
      const outcome = await rclone.waitUntilReady(options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
      if (outcome === 'ready') {
        const version = await rclone.client.version().then(
          (v) => v.version,
          () => undefined,
        );
        logger.info({ rclonePid: rclone.pid, port, version, diesWithWorker: guard.mechanism }, 'rclone is ready');
        return rclone;
      }
      if (outcome === 'timeout') {
        await rclone.stop({ graceful: false, timeoutMs: 1_000 });
        throw new RcloneProcessError('WORKER_ERR_RCLONE_START', `rclone did not answer on port ${port} within ${options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS} ms`);
      }
      const portInUse = outcome.code === 1 && outcome.stderrTail.includes('address already in use');
      if (portInUse && attempt < MAX_PORT_ATTEMPTS) {
        logger.warn({ port, attempt }, 'rc port already in use; retrying on another port');
        continue;
      }
      const lastLine = outcome.stderrTail.split('\n').at(-1) ?? '';
      throw new RcloneProcessError(
        portInUse ? 'WORKER_ERR_RCLONE_PORT' : 'WORKER_ERR_RCLONE_START',
        `rclone exited while starting (code ${outcome.code ?? 'none'}, signal ${outcome.signal ?? 'none'}): ${lastLine}`,
      );
    }
  }

  isRunning(): boolean {
    return this.#running;
  }

  /**
   * Stops rclone; every call returns the same outcome. Graceful (default): `job/stop` each
   * running job and wait until each is finished, so rclone removes partial files, then
   * `core/quit`. Otherwise SIGTERM (exit 143, clean but leaves partial files). SIGKILL when
   * `timeoutMs` is over.
   */
  stop(options: RcloneStopOptions = {}): Promise<RcloneExit> {
    this.#stopping ??= this.shutdown(options.graceful ?? true, options.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
    return this.#stopping;
  }

  private async shutdown(graceful: boolean, timeoutMs: number): Promise<RcloneExit> {
    this.#stopRequested = true;
    if (!this.#running) return this.exited;
    const deadline = Date.now() + timeoutMs;
    this.#logger.info({ rclonePid: this.pid, graceful }, 'stopping rclone');
    if (graceful) {
      try {
        this.#stoppedJobs = await this.stopJobs(deadline - Math.min(QUIT_ALLOWANCE_MS, timeoutMs / 2));
        await this.client.call('core/quit', { exitCode: 0 }, { timeoutMs: Math.max(1, deadline - Date.now()) });
      } catch (err) {
        if (this.isRunning()) {
          this.#logger.warn({ err: errorMessage(err) }, 'graceful rclone stop failed; sending SIGTERM');
          this.#child.kill('SIGTERM');
        }
      }
    } else {
      this.#child.kill('SIGTERM');
    }
    if (!(await settlesWithin(this.exited, deadline - Date.now()))) {
      this.#logger.warn({ rclonePid: this.pid, timeoutMs }, 'rclone did not exit in time; sending SIGKILL');
      this.#child.kill('SIGKILL');
    }
    return this.exited;
  }

  /** Cancels every running job and waits (until `until`) for each to finish; returns their final status. */
  private async stopJobs(until: number): Promise<RcJobStatus[]> {
    const remaining = () => Math.max(1, until - Date.now());
    const status = (jobid: number) => this.client.call<RcJobStatus>('job/status', { jobid }, { timeoutMs: remaining() });
    const list = await this.client.call<RcJobList>('job/list', {}, { timeoutMs: remaining() });
    const candidates = list.runningIds ?? this.client.unfinishedJobIds().filter((id) => list.jobids.includes(id));
    const running: number[] = [];
    for (const jobid of candidates) if (!(await status(jobid)).finished) running.push(jobid);
    for (const jobid of running) await this.client.call('job/stop', { jobid }, { timeoutMs: remaining() });

    const finished = new Map<number, RcJobStatus>();
    for (;;) {
      for (const jobid of running) {
        if (finished.has(jobid)) continue;
        const current = await status(jobid);
        if (current.finished) finished.set(jobid, current);
      }
      if (finished.size === running.length || Date.now() >= until) break;
      await sleep(JOB_POLL_INTERVAL_MS);
    }
    for (const job of finished.values()) this.#logger.info({ jobid: job.id, group: job.group, error: job.error }, 'rclone job stopped');
    const unfinished = running.filter((jobid) => !finished.has(jobid));
    if (unfinished.length > 0) this.#logger.warn({ jobids: unfinished }, 'rclone jobs still running after job/stop; quitting anyway');
    return [...finished.values()];
  }

  private static async launch(options: RcloneProcessOptions, guard: ParentDeathGuard, files: RcloneStateFiles, port: number, logger: Logger): Promise<RcloneProcess> {
    const password = randomBytes(32).toString('base64url');
    const args = [
      'rcd',
      '--rc-addr',
      `127.0.0.1:${port}`,
      '--config',
      files.configPath,
      '--use-json-log',
      '-v',
      '--rc-job-expire-duration',
      options.jobExpireDuration ?? DEFAULT_JOB_EXPIRE_DURATION,
      ...(options.extraArgs ?? []),
    ];
    const child = spawnRclone(guard.command(options.rclonePath, args), rcloneEnvironment(password), (raw) => {
      logStderrLine(raw, logger, options.onLog);
    });
    const { pid } = child;
    if (pid === undefined) {
      const { spawnError } = await child.ended;
      throw new RcloneProcessError('WORKER_ERR_RCLONE_SPAWN', `cannot run ${options.rclonePath}: ${spawnError ?? 'spawn failed'}`, { permanent: true });
    }
    try {
      await writePidfile(files.pidfilePath, pid);
    } catch (err) {
      child.kill('SIGKILL');
      await child.ended;
      throw new RcloneProcessError('WORKER_ERR_RCLONE_START', `cannot write the rclone pidfile: ${errorMessage(err)}`, { cause: err });
    }
    const connections = new Agent();
    const client = new RcClient({ baseUrl: `http://127.0.0.1:${port}`, user: RC_USER, password, dispatcher: connections, observer: options.rcObserver });
    return new RcloneProcess({ ...child, pid }, connections, client, port, files, logger);
  }

  /** Polls `rc/noop` until it answers, the process exits, or the time is up. */
  private async waitUntilReady(timeoutMs: number): Promise<'ready' | 'timeout' | RcloneExit> {
    const deadline = Date.now() + timeoutMs;
    while (this.#running) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) return 'timeout';
      try {
        await this.client.call('rc/noop', {}, { signal: this.#ended.signal, timeoutMs: Math.min(remaining, READY_CALL_TIMEOUT_MS) });
        return 'ready';
      } catch {
        // Not listening yet, or (port taken) another server answered: keep polling until our
        // rclone answers or exits.
      }
      await sleep(READY_POLL_INTERVAL_MS, this.#ended.signal).catch(() => undefined);
    }
    return this.exited;
  }
}

function spawnRclone(command: { file: string; args: string[] }, env: Record<string, string>, onLine: (line: string) => void): RcloneChild {
  const subprocess = spawn(command.file, command.args, {
    // stdout stays unused; stderr is the log and, once the worker is gone, the pipe whose
    // breaking ends rclone (parent-death.ts).
    stdio: ['ignore', 'ignore', 'pipe'],
    env,
    // setsid(): its own session and process group, out of reach of the terminal's and the
    // worker's group signals.
    detached: true,
  });
  const tail: string[] = [];
  const stderrRead = new Promise<void>((resolve) => {
    const lines = createInterface({ input: subprocess.stderr, crlfDelay: Infinity });
    lines.on('line', (line) => {
      if (line.trim() === '') return;
      tail.push(line);
      if (tail.length > STDERR_TAIL_LINES) tail.shift();
      onLine(line);
    });
    lines.once('close', resolve);
  });
  const exited = new Promise<{ code: number | null; signal: string | null; spawnError: string | undefined }>((resolve) => {
    subprocess.once('error', (err) => {
      // Only a failed spawn matters here; 'exit' never follows it.
      if (subprocess.pid === undefined) resolve({ code: null, signal: null, spawnError: err.message });
    });
    subprocess.once('exit', (code, signal) => {
      resolve({ code, signal, spawnError: undefined });
    });
  });
  return {
    pid: subprocess.pid,
    kill: (signal) => {
      subprocess.kill(signal);
    },
    ended: Promise.all([exited, stderrRead]).then(([result]) => result),
    stderrTail: () => tail.join('\n'),
  };
}

/**
 * The child's environment: the parent's minus every `RCLONE_*` variable, which rclone would
 * read as option or config values (an `RCLONE_CONFIG_<REMOTE>_TOKEN` shadows the token the
 * worker pushes), plus the rc credentials, which never appear in argv (`/proc/<pid>/cmdline`
 * is world-readable; `environ` is not).
 */
function rcloneEnvironment(password: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^RCLONE_/i.test(key)) env[key] = value;
  }
  env.RCLONE_RC_USER = RC_USER;
  env.RCLONE_RC_PASS = password;
  return env;
}

function logStderrLine(raw: string, logger: Logger, onLog: ((line: RcloneLogLine) => void) | undefined): void {
  const line = parseRcloneLogLine(raw);
  const fields: { object?: string; objectType?: string } = {};
  if (line.object !== undefined) fields.object = line.object;
  if (line.objectType !== undefined) fields.objectType = line.objectType;
  logger[PINO_METHOD[line.level]](fields, line.msg.length > MAX_LOGGED_LINE_CHARS ? `${line.msg.slice(0, MAX_LOGGED_LINE_CHARS)}…` : line.msg);
  try {
    onLog?.(line);
  } catch (err) {
    logger.error({ err: errorMessage(err) }, 'rclone log listener failed');
  }
}

/** True when `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ms), false);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
