/**
 * Typed reads from a flat key/value source (environment merged over a JSON file) that collect
 * one clear message per bad value instead of failing on the first.
 */
import { readFileSync } from 'node:fs';

export type Source = Readonly<Record<string, string | undefined>>;

export class EnvReader {
  readonly problems: string[] = [];

  constructor(private readonly source: Source) {}

  /** The raw value, trimmed; empty counts as unset. */
  raw(name: string): string | undefined {
    const value = this.source[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  }

  string(name: string, fallback: string): string;
  string(name: string): string | undefined;
  string(name: string, fallback?: string): string | undefined {
    return this.raw(name) ?? fallback;
  }

  required(name: string, why: string): string {
    const value = this.raw(name);
    if (value === undefined) this.problems.push(`${name} is required (${why})`);
    return value ?? '';
  }

  int(name: string, fallback: number, range: { min: number; max: number }): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!/^-?\d+$/.test(value)) {
      this.problems.push(`${name} must be a whole number, got "${value}"`);
      return fallback;
    }
    const n = Number(value);
    if (n < range.min || n > range.max) {
      this.problems.push(`${name} must be between ${range.min} and ${range.max}, got ${n}`);
      return fallback;
    }
    return n;
  }

  url(name: string, fallback: string): string;
  url(name: string): string | undefined;
  url(name: string, fallback?: string): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    try {
      const parsed = new URL(value);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http(s)');
      return value.replace(/\/+$/, '');
    } catch {
      this.problems.push(`${name} must be an http(s) URL, got "${value}"`);
      return fallback;
    }
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.problems.push(`${name} must be one of ${allowed.join(', ')}, got "${value}"`);
    return fallback;
  }

  /**
   * A secret from `NAME` or from the file named by `NAME_FILE` (trailing newline dropped).
   * Setting both is ambiguous and reported. The value itself never appears in a message.
   */
  secret(name: string): string | undefined {
    const direct = this.raw(name);
    const file = this.raw(`${name}_FILE`);
    if (direct !== undefined && file !== undefined) {
      this.problems.push(`set only one of ${name} and ${name}_FILE`);
      return direct;
    }
    if (file === undefined) return direct;
    try {
      const content = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
      if (content === '') this.problems.push(`${name}_FILE names an empty file: ${file}`);
      return content;
    } catch (err) {
      this.problems.push(`${name}_FILE cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)} (${file})`);
      return undefined;
    }
  }
}
