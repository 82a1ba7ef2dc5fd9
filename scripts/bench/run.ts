/**
 * `npm run bench [-- --quick]`: measures the worker with the real pieces (stand-ins on
 * 127.0.0.1, the real rclone, the worker process as users run it), prints a table of figures
 * with their goals, writes them to `.state/bench/latest.json`, and exits 1 when a goal is
 * missed or a benchmark could not run. `--quick` shortens the long runs (~2 min instead of ~5);
 * `--only=<id>[,<id>]` runs some of them.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../sandbox.js';
import { benchDropboxBatching } from './dropbox-batching.js';
import { benchJobLatency } from './job-latency.js';
import { benchRcCalls } from './rc-calls.js';
import { benchRcloneRestart } from './rclone-restart.js';
import { benchReauthBurst } from './reauth-burst.js';
import { formatTable, goalMet, misses, type BenchResult } from './report.js';
import { benchStartTime } from './start-time.js';
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
];

function say(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

async function main(): Promise<number> {
  const quick = process.argv.includes('--quick');
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
  const unknown = only?.filter((id) => !BENCHES.some((b) => b.id === id)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown benchmark ${unknown.join(', ')}; known: ${BENCHES.map((b) => b.id).join(', ')}`);
  const startedAt = new Date();
  const results: BenchResult[] = [];
  for (const bench of BENCHES.filter((b) => !only || only.includes(b.id))) {
    const began = Date.now();
    say(`${bench.id} …`);
    try {
      results.push(...(await bench.run({ quick })));
      say(`${bench.id} done in ${((Date.now() - began) / 1000).toFixed(1)} s`);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      say(`${bench.id} failed: ${message}`);
      results.push({ id: bench.id, title: bench.id, method: '', figures: [], error: message });
    }
  }

  const rclone = execFileSync(process.env.RCLONE_PATH ?? 'rclone', ['version'], { encoding: 'utf8' }).split('\n')[0] ?? '';
  process.stdout.write(`\n${formatTable(results)}\n\n`);
  for (const result of results) if (result.method) process.stdout.write(`${result.id}: ${result.method}\n`);

  const missed = misses(results);
  const file = join(REPO_ROOT, '.state', 'bench', 'latest.json');
  await mkdir(join(REPO_ROOT, '.state', 'bench'), { recursive: true });
  const json = {
    startedAt: startedAt.toISOString(),
    durationS: Math.round((Date.now() - startedAt.getTime()) / 1000),
    quick,
    only: only ?? null,
    node: process.version,
    rclone,
    results: results.map((r) => ({ ...r, figures: r.figures.map((f) => ({ ...f, met: goalMet(f) ?? null })) })),
    missed,
  };
  await writeFile(file, `${JSON.stringify(json, null, 2)}\n`);
  process.stdout.write(`\nresults written to ${file}\n`);
  if (missed.length > 0) {
    process.stdout.write(`\n${missed.length} goal(s) missed:\n${missed.map((m) => `  - ${m}`).join('\n')}\n`);
    return 1;
  }
  process.stdout.write('every goal met\n');
  return 0;
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
