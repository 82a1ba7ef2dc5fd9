/**
 * Single-flight: concurrent calls for the same key share one in-flight promise. The entry is
 * removed when it settles, so a later call starts a new flight and failures are not cached.
 */
export class SingleFlight<K, V> {
  private readonly inflight = new Map<K, Promise<V>>();

  run(key: K, fn: () => Promise<V>): Promise<V> {
    const existing = this.inflight.get(key);
    if (existing) return existing;
    // The cleanup runs as a callback, so it always comes after the `set` below, even when
    // `fn` throws synchronously (a `finally` inside the async function would run before it).
    const flight = (async () => fn())().finally(() => {
      this.inflight.delete(key);
    });
    this.inflight.set(key, flight);
    return flight;
  }

  isInFlight(key: K): boolean {
    return this.inflight.has(key);
  }
}
