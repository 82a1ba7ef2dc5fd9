/**
 * Every shipped way of starting the worker passes the node flags the tests and benchmarks run it
 * with (`WORKER_NODE_FLAGS`): the soak's memory figure holds only for a worker started that way.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, WORKER_NODE_FLAGS } from '../../../scripts/sandbox.js';

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');

const START_LINES: Record<string, () => string> = {
  'the bin (main.ts shebang)': () => read('worker/src/main.ts').split('\n')[0]!,
  'npm start': () => (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.start!,
  'the systemd unit': () => read('config/systemd/rclone-sync-worker.service').split('\n').find((l) => l.startsWith('ExecStart='))!,
  'the Dockerfile': () => read('Dockerfile').split('\n').find((l) => l.startsWith('CMD '))!,
};

describe('node flags of the shipped start paths', () => {
  it.each(Object.keys(START_LINES))('%s passes every flag the tests run the worker with', (name) => {
    const line = START_LINES[name]!();
    expect(WORKER_NODE_FLAGS.length).toBeGreaterThan(0);
    for (const flag of WORKER_NODE_FLAGS) expect(line).toContain(flag);
  });
});
