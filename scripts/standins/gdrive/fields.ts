/**
 * Google's partial-response `fields` parameter: `files(id,name,size),nextPageToken`, `id`,
 * `a/b`, `*`. A selection is checked against the resource's schema — an unknown field is the
 * 400 `Invalid field selection` the real API gives — and the answer carries only what was
 * selected. Without `fields`, Drive v3 answers a method's default subset.
 */
import { driveErrors } from './drive-errors.js';

/** Field name → sub-schema for object (or array of object) fields, null for a leaf. */
export interface FieldSchema {
  readonly [name: string]: FieldSchema | null;
}

/** Field name → sub-mask, null for "the whole field". `*` selects every field of its level. */
export type FieldMask = ReadonlyMap<string, FieldMask | null>;

/** Parses a `fields` value against `schema`; throws the API's 400 for a malformed or unknown selection. */
export function parseFields(spec: string, schema: FieldSchema): FieldMask {
  const parser = new FieldsParser(spec);
  const mask = parser.selectionList(schema, '');
  if (!parser.atEnd()) throw driveErrors.invalidFields(spec);
  return mask;
}

/** The parts of `value` that `mask` selects (arrays are projected element by element). */
export function applyFields(value: unknown, mask: FieldMask | null): unknown {
  if (mask === null || mask.has('*')) return value;
  if (Array.isArray(value)) return value.map((element) => applyFields(element, mask));
  if (typeof value !== 'object' || value === null) return value;
  const source = value as Record<string, unknown>;
  const projected: Record<string, unknown> = {};
  for (const [name, sub] of mask) if (source[name] !== undefined) projected[name] = applyFields(source[name], sub);
  return projected;
}

class FieldsParser {
  #at = 0;

  constructor(private readonly spec: string) {}

  atEnd(): boolean {
    return this.#at === this.spec.length;
  }

  /** `selection (',' selection)*`, merged into one mask. */
  selectionList(schema: FieldSchema, prefix: string): FieldMask {
    const mask = new Map<string, FieldMask | null>();
    do {
      this.#selection(schema, prefix, mask);
    } while (this.#accept(','));
    return mask;
  }

  /** `name ('/' name)* ('(' selectionList ')')?` */
  #selection(schema: FieldSchema, prefix: string, into: Map<string, FieldMask | null>): void {
    const name = this.#name();
    const path = `${prefix}${name}`;
    if (name === '*') {
      into.set('*', null);
      return;
    }
    if (!(name in schema)) throw driveErrors.invalidFields(path);
    const childSchema = schema[name] ?? null;
    let sub: FieldMask | null = null;
    if (this.#accept('/') || this.#accept('(')) {
      if (childSchema === null) throw driveErrors.invalidFields(path);
      const nested = this.spec[this.#at - 1] === '(';
      if (nested) {
        sub = this.selectionList(childSchema, `${path}/`);
        if (!this.#accept(')')) throw driveErrors.invalidFields(this.spec);
      } else {
        const single = new Map<string, FieldMask | null>();
        this.#selection(childSchema, `${path}/`, single);
        sub = single;
      }
    }
    into.set(name, mergeMasks(into.get(name), sub));
  }

  #name(): string {
    const match = /^(?:\*|[A-Za-z0-9_]+)/.exec(this.spec.slice(this.#at));
    if (!match) throw driveErrors.invalidFields(this.spec);
    this.#at += match[0].length;
    return match[0];
  }

  #accept(char: string): boolean {
    if (this.spec[this.#at] !== char) return false;
    this.#at++;
    return true;
  }
}

/** Two selections of the same field: the whole field wins over parts of it. */
function mergeMasks(a: FieldMask | null | undefined, b: FieldMask | null): FieldMask | null {
  if (a === undefined) return b;
  if (a === null || b === null) return null;
  const merged = new Map(a);
  for (const [name, sub] of b) merged.set(name, mergeMasks(merged.get(name), sub));
  return merged;
}
