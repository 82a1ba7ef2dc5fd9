/**
 * SerialQueue: one task at a time in submission order; a failing task is reported and the
 * queue goes on.
 */
import { describe, expect, it } from 'vitest';
import { SerialQueue } from '../../src/util/serial-queue.js';
import { deferred, settle } from './deferred.js';

function unexpected(err: unknown): void {
  throw new Error(`unexpected task failure: ${String(err)}`);
}

describe('SerialQueue', () => {
  it('starts a task only after the previous one has finished, in submission order', async () => {
    const queue = new SerialQueue(unexpected);
    const order: string[] = [];
    const gates = [deferred(), deferred(), deferred()];
    gates.forEach((gate, i) => {
      void queue.push(async () => {
        order.push(`start ${i}`);
        await gate.promise;
        order.push(`end ${i}`);
      });
    });

    await settle();
    expect(order).toEqual(['start 0']);

    // Finishing a later task first must not let it jump the queue.
    gates[2]!.resolve();
    gates[1]!.resolve();
    await settle();
    expect(order).toEqual(['start 0']);

    gates[0]!.resolve();
    await queue.idle();
    expect(order).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
  });

  it('runs synchronous tasks too', async () => {
    const queue = new SerialQueue(unexpected);
    const order: number[] = [];
    void queue.push(() => {
      order.push(1);
    });
    await queue.push(() => {
      order.push(2);
    });
    expect(order).toEqual([1, 2]);
  });

  it('reports a rejecting or throwing task to onError and keeps running later tasks', async () => {
    const errors: unknown[] = [];
    const queue = new SerialQueue((err) => {
      errors.push(err);
    });
    const ran: string[] = [];
    const rejected = new Error('rejected');
    const thrown = new Error('thrown');

    const first = queue.push(async () => {
      throw rejected;
    });
    void queue.push(() => {
      throw thrown;
    });
    void queue.push(() => {
      ran.push('after failures');
    });

    await expect(first).resolves.toBeUndefined();
    await queue.idle();
    expect(errors).toEqual([rejected, thrown]);
    expect(ran).toEqual(['after failures']);
  });

  it('push resolves when that task has run; idle when everything queued so far has', async () => {
    const queue = new SerialQueue(unexpected);
    const gate = deferred();
    let secondDone = false;
    const first = queue.push(() => gate.promise);
    void queue.push(() => {
      secondDone = true;
    });

    let idle = false;
    void queue.idle().then(() => (idle = true));
    await settle();
    expect(idle).toBe(false);

    gate.resolve();
    await first;
    await queue.idle();
    expect(secondDone).toBe(true);
    expect(idle).toBe(true);
  });

  it('is idle at once when nothing was queued', async () => {
    await expect(new SerialQueue(unexpected).idle()).resolves.toBeUndefined();
  });
});
