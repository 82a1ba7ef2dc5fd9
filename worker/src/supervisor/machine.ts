/**
 * The worker's spine (DESIGN.md §2): an XState v5 machine with the states of the .NET worker
 * (anchor-backer.md §2), minus its faults:
 *
 * - no event is lost: an event a state cannot take yet is deferred in context and raised again
 *   on entry of the next state that can (`replayDeferred`); duplicates coalesce;
 * - every invoke has `onError`; a failed step retries with backoff instead of parking;
 * - `Exiting` is reachable (SHUTDOWN from any state drains and stops);
 * - rclone crashes restart it with kubelet-style backoff (1 s doubling to 5 min, reset after
 *   10 min healthy).
 *
 * All I/O lives in actors (`fromPromise` / `fromCallback`) and in a few synchronous
 * notification actions; both are replaced with `machine.provide(...)` — by the composition
 * root with the real services, by tests with fakes.
 */
import { assign, enqueueActions, fromCallback, fromPromise, sendTo, setup, type ActorRefFrom } from 'xstate';
import { exponentialDelay } from '../util/backoff.js';

export type WorkerEvent =
  | { type: 'HUB.NEW_JOB' }
  | { type: 'HUB.STORAGE_REAUTHENTICATED'; uriSchema: string }
  | { type: 'RCLONE.EXITED'; code: number | null; signal: string | null }
  | { type: 'REAUTH.RESTART'; reason: string }
  | { type: 'CONFIG.CHANGED' }
  | { type: 'START' }
  | { type: 'STOP' }
  | { type: 'SHUTDOWN'; reason: string };

/** Events worth keeping when they arrive in a state that cannot take them yet. */
const DEFERRABLE = new Set<WorkerEvent['type']>(['HUB.NEW_JOB', 'HUB.STORAGE_REAUTHENTICATED', 'REAUTH.RESTART', 'START', 'STOP']);
const MAX_DEFERRED = 1000;

export interface WorkerContext {
  /** Consecutive failures of the current step (drives its backoff); Starting and CheckOnline count as one. */
  attempt: number;
  /** Consecutive rclone crashes without a long healthy period. */
  rcloneCrashes: number;
  /** When rclone was last seen healthy in Running (epoch ms). */
  runningSince: number | undefined;
  deferred: WorkerEvent[];
  /** The operator stopped job processing; WaitStart does not auto-start. */
  userStopped: boolean;
  lastError: string | undefined;
}

export interface MachineTiming {
  stepBackoff: { initialMs: number; maxMs: number };
  rcloneBackoff: { initialMs: number; maxMs: number; resetAfterMs: number };
}

export const DEFAULT_TIMING: MachineTiming = {
  stepBackoff: { initialMs: 1000, maxMs: 60_000 },
  rcloneBackoff: { initialMs: 1000, maxMs: 300_000, resetAfterMs: 600_000 },
};

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Coalescing key: the same storage re-authenticated twice, or two NEW_JOBs, is one event. */
function sameEvent(a: WorkerEvent, b: WorkerEvent): boolean {
  if (a.type !== b.type) return false;
  if (a.type === 'HUB.STORAGE_REAUTHENTICATED' && b.type === 'HUB.STORAGE_REAUTHENTICATED') return a.uriSchema === b.uriSchema;
  return true;
}

/** The job runner as the Running state sees it (the real one is wired in by the composition root). */
export type RunJobsEvent = { type: 'HUB.NEW_JOB' } | { type: 'HUB.STORAGE_REAUTHENTICATED'; uriSchema: string };

export function createWorkerMachine(timing: MachineTiming = DEFAULT_TIMING) {
  return setup({
    types: {
      context: {} as WorkerContext,
      events: {} as WorkerEvent,
    },
    actors: {
      /** Runtime prerequisites: rclone runnable, state directory writable, credentials readable. */
      checkConfig: fromPromise<void>(() => Promise.resolve()),
      /** Hub reachable and our login accepted; loads the storages. Rejects with `permanent` on bad credentials. */
      checkOnline: fromPromise<void>(() => Promise.resolve()),
      /** Every storage turned into a remote definition; OAuth tokens made valid. */
      loginBackends: fromPromise<void>(() => Promise.resolve()),
      /** Is our own rclone running and answering? Never adopts a foreign one. */
      checkRclone: fromPromise<{ found: boolean }>(() => Promise.resolve({ found: false })),
      /** Spawn rclone, wait until ready, configure the remotes. */
      startRclone: fromPromise<void>(() => Promise.resolve()),
      /** Job acquisition, polling, heartbeats and re-authentication handling while Running. */
      runJobs: fromCallback<RunJobsEvent>(() => undefined),
      /** Stop running jobs (operator stop): they are reported and the slot freed. */
      stopJobs: fromPromise<void>(() => Promise.resolve()),
      /** Interrupt jobs (kept for re-run), stop rclone, reload storages. */
      restartForReauth: fromPromise<void, { reason: string }>(() => Promise.resolve()),
      /** Drain: stop and report jobs, flush reports, stop rclone. */
      shutdown: fromPromise<void, { reason: string }>(() => Promise.resolve()),
    },
    actions: {
      /** rclone died while jobs ran: they are marked for re-run (sync, never throws). */
      rcloneLost: () => undefined,
      /** The machine reached a state worth telling the outside (sync, never throws). */
      notifyFailure: (_: unknown, _params: { step: string; error: string }) => undefined,
      defer: assign(({ context, event }) => {
        if (event.type === 'START' || event.type === 'STOP') {
          // The operator's latest wish replaces an earlier one (STOP, START, STOP means stopped).
          return { deferred: [...context.deferred.filter((e) => e.type !== 'START' && e.type !== 'STOP'), event] };
        }
        if (context.deferred.some((e) => sameEvent(e, event)) || context.deferred.length >= MAX_DEFERRED) return {};
        return { deferred: [...context.deferred, event] };
      }),
      replayDeferred: enqueueActions(({ context, enqueue }) => {
        if (context.deferred.length === 0) return;
        const events = context.deferred;
        enqueue.assign({ deferred: [] });
        for (const event of events) enqueue.raise(event);
      }),
      resetAttempts: assign({ attempt: 0, lastError: undefined }),
      countFailure: assign(({ context, event }) => ({
        attempt: context.attempt + 1,
        lastError: errorText((event as { error?: unknown }).error),
      })),
      countCrash: assign(({ context }) => {
        const healthyLong =
          context.runningSince !== undefined && Date.now() - context.runningSince >= timing.rcloneBackoff.resetAfterMs;
        return { rcloneCrashes: healthyLong ? 1 : context.rcloneCrashes + 1, runningSince: undefined };
      }),
      markRunning: assign({ runningSince: () => Date.now() }),
    },
    guards: {
      rcloneFound: ({ event }) => (event as { output?: { found?: boolean } }).output?.found === true,
      permanentFailure: ({ event }) => (event as { error?: { permanent?: unknown } }).error?.permanent === true,
      userStopped: ({ context }) => context.userStopped,
      deferrable: ({ event }) => DEFERRABLE.has(event.type),
    },
    delays: {
      stepBackoff: ({ context }) => exponentialDelay(Math.max(1, context.attempt), timing.stepBackoff),
      rcloneBackoff: ({ context }) => exponentialDelay(Math.max(1, context.rcloneCrashes), timing.rcloneBackoff),
    },
  }).createMachine({
    id: 'worker',
    initial: 'Starting',
    context: {
      attempt: 0,
      rcloneCrashes: 0,
      runningSince: undefined,
      deferred: [],
      userStopped: false,
      lastError: undefined,
    },
    on: {
      SHUTDOWN: { target: '.Exiting' },
      // Anything a state does not take is kept for later, if it is worth keeping.
      '*': { guard: 'deferrable', actions: 'defer' },
    },
    states: {
      Starting: {
        invoke: {
          src: 'checkConfig',
          // No reset here: a permanent CheckOnline failure loops back through Starting, and its
          // WaitConfig delay must keep growing. Reaching the hub resets the count.
          onDone: { target: 'CheckOnline' },
          onError: {
            target: 'WaitConfig',
            actions: ['countFailure', { type: 'notifyFailure', params: ({ event }) => ({ step: 'Starting', error: errorText(event.error) }) }],
          },
        },
      },
      WaitConfig: {
        on: { 'CONFIG.CHANGED': 'Starting' },
        after: { stepBackoff: 'Starting' },
      },
      CheckOnline: {
        initial: 'Attempt',
        states: {
          Attempt: {
            invoke: {
              src: 'checkOnline',
              onDone: { target: '#worker.BackendsLoggingIn', actions: 'resetAttempts' },
              onError: [
                {
                  guard: 'permanentFailure',
                  target: '#worker.WaitConfig',
                  actions: ['countFailure', { type: 'notifyFailure', params: ({ event }) => ({ step: 'CheckOnline', error: errorText(event.error) }) }],
                },
                {
                  target: 'Backoff',
                  actions: ['countFailure', { type: 'notifyFailure', params: ({ event }) => ({ step: 'CheckOnline', error: errorText(event.error) }) }],
                },
              ],
            },
          },
          Backoff: { after: { stepBackoff: 'Attempt' } },
        },
      },
      BackendsLoggingIn: {
        initial: 'Attempt',
        states: {
          Attempt: {
            invoke: {
              src: 'loginBackends',
              onDone: { target: '#worker.CheckRCloneProcess', actions: 'resetAttempts' },
              onError: {
                target: 'Backoff',
                actions: ['countFailure', { type: 'notifyFailure', params: ({ event }) => ({ step: 'BackendsLoggingIn', error: errorText(event.error) }) }],
              },
            },
          },
          Backoff: { after: { stepBackoff: 'Attempt' } },
        },
      },
      CheckRCloneProcess: {
        invoke: {
          src: 'checkRclone',
          onDone: [{ guard: 'rcloneFound', target: 'WaitStart' }, { target: 'StartRCloneProcess' }],
          onError: { target: 'StartRCloneProcess' },
        },
      },
      StartRCloneProcess: {
        initial: 'Spawn',
        states: {
          Spawn: {
            // rclone can die after answering but before its remotes are configured.
            on: { 'RCLONE.EXITED': { target: 'Backoff', actions: 'countCrash' } },
            invoke: {
              src: 'startRclone',
              onDone: { target: '#worker.WaitStart' },
              onError: {
                target: 'Backoff',
                actions: [
                  'countCrash',
                  { type: 'notifyFailure', params: ({ event }) => ({ step: 'StartRCloneProcess', error: errorText(event.error) }) },
                ],
              },
            },
          },
          Backoff: { after: { rcloneBackoff: 'Spawn' } },
        },
      },
      WaitStart: {
        entry: 'replayDeferred',
        always: { guard: ({ context }) => !context.userStopped, target: 'Running' },
        on: {
          START: { target: 'Running', actions: assign({ userStopped: false }) },
          STOP: { actions: assign({ userStopped: true }) },
          'RCLONE.EXITED': { target: 'StartRCloneProcess.Backoff', actions: ['countCrash', 'rcloneLost'] },
        },
      },
      Running: {
        entry: ['markRunning', 'replayDeferred'],
        invoke: { id: 'jobs', src: 'runJobs' },
        on: {
          'HUB.NEW_JOB': { actions: sendTo('jobs', { type: 'HUB.NEW_JOB' }) },
          'HUB.STORAGE_REAUTHENTICATED': {
            actions: sendTo('jobs', ({ event }) => ({ type: 'HUB.STORAGE_REAUTHENTICATED' as const, uriSchema: event.uriSchema })),
          },
          'RCLONE.EXITED': { target: 'StartRCloneProcess.Backoff', actions: ['countCrash', 'rcloneLost'] },
          'REAUTH.RESTART': { target: 'RestartingForReauth' },
          STOP: { target: 'WaitStop', actions: assign({ userStopped: true }) },
          START: {},
        },
      },
      WaitStop: {
        invoke: {
          src: 'stopJobs',
          onDone: { target: 'WaitStart' },
          onError: { target: 'WaitStart', actions: { type: 'notifyFailure', params: ({ event }) => ({ step: 'WaitStop', error: errorText(event.error) }) } },
        },
        on: {
          'RCLONE.EXITED': { target: 'StartRCloneProcess.Backoff', actions: ['countCrash', 'rcloneLost'] },
        },
      },
      RestartingForReauth: {
        invoke: {
          src: 'restartForReauth',
          input: ({ event }) => ({ reason: event.type === 'REAUTH.RESTART' ? event.reason : 're-authentication' }),
          onDone: { target: 'BackendsLoggingIn', actions: 'resetAttempts' },
          onError: {
            target: 'BackendsLoggingIn',
            actions: { type: 'notifyFailure', params: ({ event }) => ({ step: 'RestartingForReauth', error: errorText(event.error) }) },
          },
        },
        on: {
          // Stopping rclone is part of this step; its exit is expected.
          'RCLONE.EXITED': {},
          'REAUTH.RESTART': {},
        },
      },
      Exiting: {
        initial: 'Draining',
        on: { SHUTDOWN: {}, '*': {} },
        states: {
          Draining: {
            invoke: {
              src: 'shutdown',
              input: ({ event }) => ({ reason: event.type === 'SHUTDOWN' ? event.reason : 'shutdown' }),
              onDone: 'Exited',
              onError: {
                target: 'Exited',
                actions: { type: 'notifyFailure', params: ({ event }) => ({ step: 'Exiting', error: errorText(event.error) }) },
              },
            },
          },
          Exited: { type: 'final' },
        },
        onDone: 'Stopped',
      },
      Stopped: { type: 'final' },
    },
  });
}

export type WorkerMachine = ReturnType<typeof createWorkerMachine>;
export type WorkerActor = ActorRefFrom<WorkerMachine>;
