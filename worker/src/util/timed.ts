/**
 * Runs `call` and reports how long it took and how it ended (the error, or undefined), whatever
 * the outcome; the result or error passes through unchanged.
 */
export async function timed<T>(call: () => Promise<T>, report: (durationSeconds: number, error: unknown) => void): Promise<T> {
  const started = performance.now();
  try {
    const result = await call();
    report((performance.now() - started) / 1000, undefined);
    return result;
  } catch (err) {
    report((performance.now() - started) / 1000, err);
    throw err;
  }
}
