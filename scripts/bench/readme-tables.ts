/**
 * Prints the README's benchmark tables (strategies, scale, fleet, soak) as Markdown from
 * `.state/bench/latest.json`, so the tables in the README are always those of one recorded run:
 * `node dist/scripts/bench/readme-tables.js`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../sandbox.js';
import { formatValue, type BenchResult, type Figure } from './report.js';

interface StoredResult extends BenchResult {
  ranAt?: string;
  quick?: boolean;
  command?: string;
  machine?: { cores: number; loadAtStart: number[]; loadAtEnd: number[] };
}

/** Pivot: one row per `rowLabel`, one column per `columnLabel`, in the order first seen. */
function pivot(figures: Figure[], rowLabel: string, columnLabel: string, cell: (figure: Figure, row: string, column: string) => string): string {
  const rows: string[] = [];
  const columns: string[] = [];
  const cells = new Map<string, string>();
  for (const figure of figures) {
    const row = figure.labels?.[rowLabel];
    const column = figure.labels?.[columnLabel];
    if (row === undefined || column === undefined) continue;
    if (!rows.includes(row)) rows.push(row);
    if (!columns.includes(column)) columns.push(column);
    cells.set(`${row}\u0000${column}`, cell(figure, row, column));
  }
  const lines = [`| | ${columns.join(' | ')} |`, `|---|${columns.map(() => '---:').join('|')}|`];
  for (const row of rows) lines.push(`| ${row} | ${columns.map((c) => cells.get(`${row}\u0000${c}`) ?? '—').join(' | ')} |`);
  return lines.join('\n');
}

function heading(result: StoredResult): string {
  const date = result.ranAt?.slice(0, 16).replace('T', ' ') ?? '?';
  const machine = result.machine ? `${result.machine.cores} cores, load average ${result.machine.loadAtStart.join(' ')} → ${result.machine.loadAtEnd.join(' ')}` : 'machine unknown';
  return `_${date} UTC, ${machine}, \`${result.command ?? 'npm run bench'}\`${result.quick ? ' (quick variant)' : ''}${result.error ? `, **failed: ${result.error}**` : ''}._`;
}

function strategies(result: StoredResult): string {
  const plain = result.figures.filter((f) => f.labels && f.labels.ratio === undefined);
  const ratios = new Map(result.figures.filter((f) => f.labels?.ratio === 'push').map((f) => [`${f.labels!.scenario}/${f.labels!.strategy}/${f.labels!.figure}`, f]));
  const scenarios = [...new Set(plain.map((f) => f.labels!.scenario!))];
  return scenarios
    .map((scenario) => {
      const table = pivot(
        plain.filter((f) => f.labels!.scenario === scenario),
        'figure',
        'strategy',
        (figure, row, column) => {
          const ratio = ratios.get(`${scenario}/${column}/${row}`);
          return ratio ? `${formatValue(figure)} (${ratio.value.toFixed(2)}×)` : formatValue(figure);
        },
      );
      return `**${scenario}**\n\n${table}`;
    })
    .join('\n\n');
}

async function main(): Promise<void> {
  const json = JSON.parse(await readFile(join(REPO_ROOT, '.state', 'bench', 'latest.json'), 'utf8')) as { results: StoredResult[] };
  const byId = new Map(json.results.map((r) => [r.id, r]));
  const out: string[] = [];
  const strategiesResult = byId.get('strategies');
  if (strategiesResult) out.push(`#### Token strategies\n\n${heading(strategiesResult)}\n\n${strategies(strategiesResult)}`);
  const scale = byId.get('scale');
  if (scale) out.push(`#### One worker, N jobs at once\n\n${heading(scale)}\n\n${pivot(scale.figures, 'figure', 'jobs', (f) => formatValue(f))}`);
  const fleet = byId.get('fleet');
  if (fleet) out.push(`#### A fleet on one hub\n\n${heading(fleet)}\n\n${pivot(fleet.figures, 'figure', 'workers', (f) => formatValue(f))}`);
  const soak = byId.get('soak');
  if (soak) out.push(`#### Soak\n\n${heading(soak)}\n\n| | |\n|---|---:|\n${soak.figures.map((f) => `| ${f.name} | ${formatValue(f)} |`).join('\n')}`);
  process.stdout.write(`${out.join('\n\n')}\n`);
}

await main();
