/** Mutex: exclusive, in call order, and one failure does not jam the lock. */
import { describe, expect, it } from 'vitest';
import { Mutex } from '../../src/util/mutex.js';
import { deferred, settle } from './deferred.js';

describe('Mutex.runExclusive', () => {
  it('runs one function at a time, in call order, and returns each result to its caller', async () => {
    const mutex = new Mutex();
    const order: string[] = [];
    const gates = [deferred(), deferred(), deferred()];
    const results = gates.map((gate, i) =>
      mutex.runExclusive(async () => {
        order.push(`start ${i}`);
        await gate.promise;
        order.push(`end ${i}`);
        return i * 10;
      }),
    );

    await settle();
    expect(order).toEqual(['start 0']);
    gates[1]!.resolve();
    gates[2]!.resolve();
    await settle();
    expect(order).toEqual(['start 0']);

    gates[0]!.resolve();
    await expect(Promise.all(results)).resolves.toEqual([0, 10, 20]);
    expect(order).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
  });

  it('rejects to the caller whose function failed and still runs the next one', async () => {
    const mutex = new Mutex();
    const failure = new Error('boom');
    const failed = mutex.runExclusive(async () => {
      throw failure;
    });
    const next = mutex.runExclusive(async () => 'next ran');
    await expect(failed).rejects.toBe(failure);
    await expect(next).resolves.toBe('next ran');
  });

  it('treats a function that throws synchronously like a rejection', async () => {
    const mutex = new Mutex();
    const failure = new Error('sync throw');
    const failed = mutex.runExclusive(() => {
      throw failure;
    });
    await expect(failed).rejects.toBe(failure);
    await expect(mutex.runExclusive(async () => 1)).resolves.toBe(1);
  });
});
