/**
 * Logs every state change of the worker machine: from, to, and the event that caused it.
 */
import type { InspectionEvent } from 'xstate';
import type { Logger } from '../log/logger.js';

/** `{ CheckOnline: 'Backoff' }` → `CheckOnline.Backoff` */
export function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value as Record<string, unknown>)
      .map(([key, child]) => `${key}.${stateName(child)}`)
      .join(',');
  }
  return String(value);
}

/** XState's internal event names, said plainly. */
export function eventName(type: string): string {
  if (type.startsWith('xstate.done.actor.')) return 'step done';
  if (type.startsWith('xstate.error.actor.')) return 'step failed';
  if (type.startsWith('xstate.after.')) return 'delay elapsed';
  if (type === 'xstate.init') return 'start';
  return type;
}

/** One state change of the root machine. `from` is undefined for the initial state. */
export interface RootTransition {
  from: string | undefined;
  to: string;
  /** The causing event, said plainly (see `eventName`). */
  event: string;
}

/**
 * An `inspect` callback for `createActor` that calls `listener` once per state change of the
 * root machine (child actors and self-transitions are left out).
 */
export function rootTransitions(listener: (transition: RootTransition) => void): (event: InspectionEvent) => void {
  let previous: string | undefined;
  return (inspection) => {
    // Microsteps show every transition, also those inside one macrostep (the eventless pass
    // through WaitStart, a replayed deferred event); the snapshot shows the initial state.
    if (inspection.type !== '@xstate.microstep' && inspection.type !== '@xstate.snapshot') return;
    if (inspection.actorRef.sessionId !== inspection.rootId) return;
    const snapshot = inspection.snapshot as { value?: unknown };
    const current = stateName(snapshot.value);
    if (current === previous) return;
    const from = previous;
    previous = current;
    listener({ from, to: current, event: eventName(inspection.event.type) });
  };
}

/** An `inspect` callback for `createActor` that logs transitions of the root machine. */
export function transitionLogger(logger: Logger): (event: InspectionEvent) => void {
  const log = logger.child({ component: 'machine' });
  return rootTransitions(({ from, to, event }) => {
    log.info({ from: from ?? '(start)', to, event }, `state ${from ?? '(start)'} → ${to} (${event})`);
  });
}
