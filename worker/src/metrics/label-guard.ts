/**
 * Keeps an open-ended label (an rc path, a storage name) from growing without bound: the first
 * `limit` distinct values pass, every later new value becomes `other`. Every series costs the
 * scraper memory for as long as the worker lives, so a label fed from outside data must have a
 * ceiling even when today's callers only pass a handful of values.
 */
export const OVERFLOW_LABEL = 'other';

/** Longer values are cut: a label value is a name, not a payload. */
const MAX_LABEL_LENGTH = 64;

export class LabelGuard {
  private readonly seen = new Set<string>();

  constructor(private readonly limit: number) {}

  value(raw: string): string {
    const value = raw.length > MAX_LABEL_LENGTH ? raw.slice(0, MAX_LABEL_LENGTH) : raw;
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.limit) return OVERFLOW_LABEL;
    this.seen.add(value);
    return value;
  }
}
