/**
 * The transition log: one info line per state change of the worker machine, with from, to and
 * the event that caused it.
 */
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HubError } from '../../src/errors.js';
import { eventName, stateName, transitionLogger } from '../../src/supervisor/transition-log.js';
import { HOLD, elapse, rejects, settle, startWorker, stopWorkers, type WorkerFakes } from './worker-harness.js';

interface LogLine {
  level: number;
  component?: string;
  from: string;
  to: string;
  event: string;
  msg: string;
}

/** A worker whose transition log is written into an array. */
function loggedWorker(script?: (fakes: WorkerFakes) => void) {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
  const worker = startWorker(undefined, script, transitionLogger(logger));
  const transitions = () => lines.map(({ from, to, event }) => [from, to, event]);
  return { worker, lines, transitions };
}


beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  stopWorkers();
  vi.useRealTimers();
});

describe('stateName', () => {
  it('names nested states with dots', () => {
    expect(stateName('Running')).toBe('Running');
    expect(stateName({ CheckOnline: 'Backoff' })).toBe('CheckOnline.Backoff');
    expect(stateName({ Exiting: { Draining: 'Flush' } })).toBe('Exiting.Draining.Flush');
    expect(stateName({ hub: 'Online', rclone: 'Up' })).toBe('hub.Online,rclone.Up');
  });
});

describe('eventName', () => {
  it('says XState\'s internal events plainly and keeps ours', () => {
    expect(eventName('xstate.done.actor.0.worker.Starting')).toBe('step done');
    expect(eventName('xstate.error.actor.0.worker.CheckOnline.Attempt')).toBe('step failed');
    expect(eventName('xstate.after.stepBackoff.worker.WaitConfig')).toBe('delay elapsed');
    expect(eventName('xstate.init')).toBe('start');
    expect(eventName('HUB.NEW_JOB')).toBe('HUB.NEW_JOB');
  });
});

describe('transitionLogger', () => {
  it('logs every state change of a boot with a retry, with from, to and the event', async () => {
    const { worker, lines, transitions } = loggedWorker((f) => f.checkOnline.next(rejects(new HubError('hub down', 503))));
    await settle();
    await elapse(1000);
    expect(worker.state()).toBe('Running');
    expect(transitions()).toEqual([
      ['(start)', 'Starting', 'start'],
      ['Starting', 'CheckOnline.Attempt', 'step done'],
      ['CheckOnline.Attempt', 'CheckOnline.Backoff', 'step failed'],
      ['CheckOnline.Backoff', 'CheckOnline.Attempt', 'delay elapsed'],
      ['CheckOnline.Attempt', 'BackendsLoggingIn.Attempt', 'step done'],
      ['BackendsLoggingIn.Attempt', 'CheckRCloneProcess', 'step done'],
      ['CheckRCloneProcess', 'StartRCloneProcess.Spawn', 'step done'],
      ['StartRCloneProcess.Spawn', 'WaitStart', 'step done'],
      ['WaitStart', 'Running', 'step done'],
    ]);
    for (const line of lines) {
      expect(line).toMatchObject({ level: 30, component: 'machine', msg: `state ${line.from} → ${line.to} (${line.event})` });
    }
  });

  it('names the external event that caused a change, and logs nothing for events that change no state', async () => {
    const { worker, transitions } = loggedWorker((f) => f.shutdown.next(HOLD));
    await settle();
    const booted = transitions().length;

    worker.actor.send({ type: 'HUB.NEW_JOB' });
    worker.actor.send({ type: 'STOP' });
    await settle();
    worker.actor.send({ type: 'START' });
    worker.actor.send({ type: 'RCLONE.EXITED', code: 137, signal: 'SIGKILL' });
    worker.actor.send({ type: 'SHUTDOWN', reason: 'SIGTERM' });
    worker.actor.send({ type: 'HUB.NEW_JOB' });
    await settle();
    worker.fakes.shutdown.release();
    await settle();

    expect(transitions().slice(booted)).toEqual([
      ['Running', 'WaitStop', 'STOP'],
      ['WaitStop', 'WaitStart', 'step done'],
      ['WaitStart', 'Running', 'START'],
      ['Running', 'StartRCloneProcess.Backoff', 'RCLONE.EXITED'],
      ['StartRCloneProcess.Backoff', 'Exiting.Draining', 'SHUTDOWN'],
      ['Exiting.Draining', 'Exiting.Exited', 'step done'],
      ['Exiting.Exited', 'Stopped', 'xstate.done.state.worker.Exiting'],
    ]);
  });

  it('names a replayed event as the cause of the change it makes', async () => {
    const { worker, transitions } = loggedWorker((f) => {
      f.checkOnline.next(HOLD);
      f.restartForReauth.next(HOLD);
    });
    await settle();
    worker.actor.send({ type: 'REAUTH.RESTART', reason: 'storage onedrive re-authenticated' });
    worker.fakes.checkOnline.release();
    await settle();
    expect(transitions().slice(-2)).toEqual([
      ['WaitStart', 'Running', 'step done'],
      ['Running', 'RestartingForReauth', 'REAUTH.RESTART'],
    ]);
  });
});
