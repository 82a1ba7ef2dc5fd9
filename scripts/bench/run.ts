/**
 * `npm run bench [-- --quick] [-- --only=<id>[,<id>]]`: measures the worker with the real pieces
 * (stand-ins on 127.0.0.1, the real rclone, the worker process as users run it), prints a table
 * of figures with their goals, merges them into `.state/bench/latest.json` (one result per
 * benchmark id: a run of some benchmarks replaces only theirs), and exits 1 when a goal is missed
 * or a benchmark could not run. `--quick` shortens the long runs for development.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../sandbox.js';
import { benchDropboxBatching } from './dropbox-batching.js';
import { benchFleet } from './fleet.js';
import { benchJobLatency } from './job-latency.js';
import { benchRcCalls } from './rc-calls.js';
import { benchRcloneRestart } from './rclone-restart.js';
import { benchReauthBurst } from './reauth-burst.js';
import { formatTable, goalMet, misses, type BenchResult } from './report.js';
import { benchScale } from './scale.js';
import { benchSoak } from './soak.js';
import { benchStartTime } from './start-time.js';
import { benchStrategies } from './strategies.js';
import { benchTokenLead } from './token-lead.js';
import { benchWorkerKill } from './worker-kill.js';

interface Bench {
  id: string;
  run: (options: { quick: boolean }) => Promise<BenchResult[]>;
}

const BENCHES: Bench[] = [
  { id: 'job-latency', run: async (o) => [await benchJobLatency(o)] },
  { id: 'rclone-restart', run: async () => [await benchRcloneRestart()] },
  { id: 'rc-calls', run: async (o) => [await benchRcCalls(o)] },
  { id: 'reauth-burst', run: async () => [await benchReauthBurst()] },
  { id: 'start-time', run: async (o) => [await benchStartTime(o)] },
  { id: 'worker-kill', run: async (o) => [await benchWorkerKill(o)] },
  { id: 'dropbox-batching', run: async () => [await benchDropboxBatching()] },
  {
    id: 'token-lead',
    run: async (o) => {
      const { tokens, memory } = await benchTokenLead(o);
      return [tokens, memory];
    },
  },
  { id: 'strategies', run: async (o) => [await benchStrategies(o)] },
  { id: 'scale', run: async (o) => [await benchScale(o)] },
  { id: 'fleet', run: async (o) => [await benchFleet(o)] },
  { id: 'soak', run: async (o) => [await benchSoak(o)] },
];

/** What a result carries in latest.json besides its figures: when, how and on what it ran. */
interface StoredResult extends BenchResult {
  ranAt: string;
  durationS: number;
  quick: boolean;
  command: string;
  machine: Machine;
  node: string;
  rclone: string;
}

interface Machine {
  cores: number;
  /** /proc/loadavg's 1, 5 and 15 minute averages when the benchmark began and ended. */
  loadAtStart: number[];
  loadAtEnd: number[];
}

function say(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

function loadAverage(): number[] {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
  } catch {
    return [];
  }
}

async function main(): Promise<number> {
  const quick = process.argv.includes('--quick');
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
  const unknown = only?.filter((id) => !BENCHES.some((b) => b.id === id)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown benchmark ${unknown.join(', ')}; known: ${BENCHES.map((b) => b.id).join(', ')}`);
  const command = ['npm run bench', ...(quick || only ? ['--'] : []), ...(quick ? ['--quick'] : []), ...(only ? [`--only=${only.join(',')}`] : [])].join(' ');
  const rclone = execFileSync(process.env.RCLONE_PATH ?? 'rclone', ['version'], { encoding: 'utf8' }).split('\n')[0] ?? '';
  const results: StoredResult[] = [];
  for (const bench of BENCHES.filter((b) => !only || only.includes(b.id))) {
    const began = Date.now();
    const loadAtStart = loadAverage();
    say(`${bench.id} … (load average ${loadAtStart.join(' ')})`);
    let ran: BenchResult[];
    try {
      ran = await bench.run({ quick });
      say(`${bench.id} done in ${((Date.now() - began) / 1000).toFixed(1)} s`);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      say(`${bench.id} failed: ${message}`);
      ran = [{ id: bench.id, title: bench.id, method: '', figures: [], error: message }];
    }
    const machine: Machine = { cores: cpus().length, loadAtStart, loadAtEnd: loadAverage() };
    const load = `Machine: ${machine.cores} cores, load average (1/5/15 min) ${machine.loadAtStart.join(' ')} at the start and ${machine.loadAtEnd.join(' ')} at the end.`;
    for (const result of ran) {
      results.push({
        ...result,
        method: result.method ? `${result.method.trim()}${/[.!?]$/.test(result.method.trim()) ? '' : '.'} ${load}` : load,
        figures: result.figures.map((f) => ({ ...f, met: goalMet(f) ?? null })),
        ranAt: new Date(began).toISOString(),
        durationS: Math.round((Date.now() - began) / 1000),
        quick,
        command,
        machine,
        node: process.version,
        rclone,
      });
    }
  }

  process.stdout.write(`\n${formatTable(results)}\n\n`);
  for (const result of results) if (result.method) process.stdout.write(`${result.id}: ${result.method}\n\n`);

  const file = join(REPO_ROOT, '.state', 'bench', 'latest.json');
  await mkdir(join(REPO_ROOT, '.state', 'bench'), { recursive: true });
  const kept = mergeById(await previousResults(file), results);
  const missed = misses(kept);
  await writeFile(file, `${JSON.stringify({ updatedAt: new Date().toISOString(), results: kept, missed }, null, 2)}\n`);
  process.stdout.write(`results merged into ${file} (${kept.length} benchmark results kept)\n`);
  const missedNow = misses(results);
  if (missedNow.length > 0) {
    process.stdout.write(`\n${missedNow.length} goal(s) missed:\n${missedNow.map((m) => `  - ${m}`).join('\n')}\n`);
    return 1;
  }
  process.stdout.write('every goal met\n');
  return 0;
}

/** The results kept by earlier runs; a file in the old one-run format keeps its results too. */
async function previousResults(file: string): Promise<BenchResult[]> {
  try {
    const json = JSON.parse(await readFile(file, 'utf8')) as { results?: unknown };
    return Array.isArray(json.results) ? (json.results as BenchResult[]).filter((r) => typeof r.id === 'string') : [];
  } catch {
    return [];
  }
}

/** One result per id: this run's replace earlier ones; the order follows BENCHES, then unknown ids. */
function mergeById(previous: BenchResult[], fresh: BenchResult[]): BenchResult[] {
  const byId = new Map<string, BenchResult>(previous.map((r) => [r.id, r]));
  for (const result of fresh) byId.set(result.id, result);
  const order = (id: string) => {
    const index = BENCHES.findIndex((b) => b.id === id || (b.id === 'token-lead' && id === 'memory'));
    return index < 0 ? BENCHES.length : index;
  };
  return [...byId.values()].sort((a, b) => order(a.id) - order(b.id));
}

main().then(
  (code) => {
    process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
