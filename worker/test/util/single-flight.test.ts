/** SingleFlight: concurrent calls per key share one promise; settled flights are forgotten. */
import { describe, expect, it } from 'vitest';
import { SingleFlight } from '../../src/util/single-flight.js';
import { deferred } from './deferred.js';

describe('SingleFlight', () => {
  it('shares one call among concurrent callers of the same key', async () => {
    const flights = new SingleFlight<string, number>();
    const gate = deferred<number>();
    let calls = 0;
    const fn = () => {
      calls += 1;
      return gate.promise;
    };
    const a = flights.run('k', fn);
    const b = flights.run('k', fn);
    expect(b).toBe(a);
    expect(flights.isInFlight('k')).toBe(true);
    gate.resolve(7);
    await expect(Promise.all([a, b])).resolves.toEqual([7, 7]);
    expect(calls).toBe(1);
  });

  it('keeps different keys apart', async () => {
    const flights = new SingleFlight<number, string>();
    const a = flights.run(1, async () => 'one');
    const b = flights.run(2, async () => 'two');
    await expect(Promise.all([a, b])).resolves.toEqual(['one', 'two']);
  });

  it('forgets a flight once it settles, so the next call runs again', async () => {
    const flights = new SingleFlight<string, number>();
    let calls = 0;
    const fn = async () => ++calls;
    await expect(flights.run('k', fn)).resolves.toBe(1);
    expect(flights.isInFlight('k')).toBe(false);
    await expect(flights.run('k', fn)).resolves.toBe(2);
  });

  it('shares a rejection with every waiter but does not cache it', async () => {
    const flights = new SingleFlight<string, string>();
    const gate = deferred<string>();
    const failure = new Error('refresh failed');
    const a = flights.run('k', () => gate.promise);
    const b = flights.run('k', () => Promise.resolve('not called'));
    gate.reject(failure);
    await expect(a).rejects.toBe(failure);
    await expect(b).rejects.toBe(failure);
    expect(flights.isInFlight('k')).toBe(false);
    await expect(flights.run('k', async () => 'recovered')).resolves.toBe('recovered');
  });

  it('does not cache a function that throws synchronously', async () => {
    const flights = new SingleFlight<string, string>();
    const failure = new Error('sync throw');
    await expect(
      flights.run('k', () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(flights.isInFlight('k')).toBe(false);
    await expect(flights.run('k', async () => 'second call ran')).resolves.toBe('second call ran');
  });
});
