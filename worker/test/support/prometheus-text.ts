/**
 * Reads the Prometheus text exposition format (0.0.4) back into samples, for assertions on what
 * `/metrics` serves. Strict about what it does not understand: a malformed line fails the test.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  help: string;
  type: string;
}

export class Exposition {
  readonly samples: Sample[] = [];
  readonly families = new Map<string, Family>();

  constructor(text: string) {
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (meta) {
        const [, kind, name = '', rest = ''] = meta;
        const family = this.families.get(name) ?? { help: '', type: '' };
        if (kind === 'HELP') family.help = rest;
        else family.type = rest;
        this.families.set(name, family);
        continue;
      }
      const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!sample) throw new Error(`not an exposition line: ${line}`);
      const [, name = '', labels = '', value = ''] = sample;
      this.samples.push({ name, labels: parseLabels(labels), value: parseValue(value) });
    }
  }

  /** The samples of `name` whose labels include `labels`. */
  find(name: string, labels: Record<string, string> = {}): Sample[] {
    return this.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  }

  /** The value of the one sample of `name` with exactly these labels; undefined when there is none. */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    const hits = this.samples.filter((s) => s.name === name && sameLabels(s.labels, labels));
    if (hits.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} is not unique`);
    return hits[0]?.value;
  }

  /** The sum over the samples of `name` whose labels include `labels`. */
  sum(name: string, labels: Record<string, string> = {}): number {
    return this.find(name, labels).reduce((total, s) => total + s.value, 0);
  }
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const pattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;
  let match: RegExpExecArray | null;
  let end = 0;
  while ((match = pattern.exec(text)) !== null) {
    const [, key = '', raw = ''] = match;
    labels[key] = raw.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
    end = pattern.lastIndex;
  }
  if (end !== text.length) throw new Error(`malformed labels: {${text}}`);
  return labels;
}

function parseValue(text: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  const value = Number(text);
  if (Number.isNaN(value) && text !== 'NaN') throw new Error(`not a sample value: ${text}`);
  return value;
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}
