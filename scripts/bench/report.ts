/**
 * Benchmark results: figures with their units and goals, the table printed at the end of
 * `npm run bench`, and the JSON kept in `.state/bench/latest.json`. Timing goals live here and
 * in the benchmarks, never in tests.
 */

export interface Goal {
  op: '<' | '<=' | '>=' | '=';
  limit: number;
}

export interface Figure {
  /** What was measured, said so that the table alone is understandable. */
  name: string;
  value: number;
  unit: string;
  /** Absent for figures reported for information. */
  goal?: Goal;
  /**
   * Where the figure sits in a table of several runs (e.g. `{ scenario: 'long job', strategy:
   * 'restart', figure: 'wall time' }`), so the README's tables can be rebuilt from the JSON.
   */
  labels?: Record<string, string>;
}

export interface BenchResult {
  id: string;
  title: string;
  /** How it was measured: the setup and the pieces involved. */
  method: string;
  figures: Figure[];
  /** The benchmark itself could not complete; counts as a missed goal. */
  error?: string;
}

export function goalMet(figure: Figure): boolean | undefined {
  const { goal, value } = figure;
  if (!goal) return undefined;
  switch (goal.op) {
    case '<':
      return value < goal.limit;
    case '<=':
      return value <= goal.limit;
    case '>=':
      return value >= goal.limit;
    case '=':
      return value === goal.limit;
  }
}

/** Figures whose goal was missed, and benchmarks that failed, as readable lines. */
export function misses(results: BenchResult[]): string[] {
  const lines: string[] = [];
  for (const result of results) {
    if (result.error) lines.push(`${result.id}: benchmark failed: ${result.error}`);
    for (const figure of result.figures) {
      if (goalMet(figure) === false) lines.push(`${result.id}: ${figure.name} = ${formatValue(figure)}, goal ${formatGoal(figure)}`);
    }
  }
  return lines;
}

export function formatValue(figure: Figure): string {
  const rounded = Number.isInteger(figure.value) ? String(figure.value) : figure.value.toFixed(figure.value < 10 ? 2 : 1);
  return figure.unit ? `${rounded} ${figure.unit}` : rounded;
}

function formatGoal(figure: Figure): string {
  if (!figure.goal) return '';
  return `${figure.goal.op} ${figure.goal.limit}${figure.unit ? ` ${figure.unit}` : ''}`;
}

/** A plain-text table: one block per benchmark, one row per figure. */
export function formatTable(results: BenchResult[]): string {
  const rows: string[][] = [];
  for (const result of results) {
    for (const figure of result.figures) {
      const met = goalMet(figure);
      rows.push([result.id, figure.name, formatValue(figure), formatGoal(figure), met === undefined ? '' : met ? 'ok' : 'MISSED']);
    }
    if (result.error) rows.push([result.id, 'benchmark failed', result.error.slice(0, 80), '', 'FAILED']);
  }
  const header = ['benchmark', 'figure', 'value', 'goal', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 2 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  let previous: string | undefined;
  for (const row of rows) {
    if (previous !== undefined && row[0] !== previous) out.push('');
    previous = row[0];
    out.push(line(row));
  }
  return out.join('\n');
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The p-th percentile (0–100) by nearest rank; NaN for no values. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

/** A fraction as a percentage with one decimal: `0.1234` → `12.3 %`. */
export function percentText(fraction: number): string {
  return `${(fraction * 100).toFixed(1)} %`;
}
