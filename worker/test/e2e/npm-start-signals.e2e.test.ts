/**
 * Under npm, npm is the process the user signals (research/real-hannibal.md F3: SIGTERM to
 * `npm start` used to end npm only; the worker ran on orphaned and handed nothing back). Run
 * through the real npm, which forwards SIGINT and SIGTERM to its script's shell: SIGTERM to npm,
 * and a terminal's Ctrl-C (SIGINT to npm's whole group, so the worker gets it twice), mid-job —
 * `npm start` with `HANNIBAL_URL` set (the worker replaces the shell), `npx rclone-sync-worker`
 * (the shell stays and dies of the signal: the worker drains because its parent is gone), and the
 * demo. Counted: hand-back reports at the hub, processes left under npm, recompilations.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTree, REPO_ROOT, WORKER_MAIN } from '../../../scripts/sandbox.js';
import { commandLine, descendantsOf, goneWithin, processesMentioning, procStat } from '../../../scripts/processes.js';
import { JobState, rcPasswordOf, sandboxPerTest, terminalReports } from './support.js';

const startSandbox = sandboxPerTest();

/** npm in a process group of its own (as a terminal's foreground job), output kept. */
class NpmRun {
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;

  constructor(args: string[], env: Record<string, string>) {
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !/^(RCLONE_|HANNIBAL_|DEMO_|npm_)/i.test(k)),
    );
    this.child = spawn('npm', args, { cwd: REPO_ROOT, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => this.lines.push(line.replace(/\x1b\[[0-9;]*m/g, ''))); // eslint-disable-line no-control-regex
    }
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        resolve({ code, signal });
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The worker's JSON log records (`HANNIBAL_URL` mode). */
  records(): Record<string, unknown>[] {
    return this.lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  async waitFor(predicate: (line: string) => boolean, timeoutMs = 60_000): Promise<string> {
    await expect.poll(() => this.lines.find(predicate), { timeout: timeoutMs, interval: 100 }).toBeDefined();
    return this.lines.find(predicate)!;
  }

  /** Cleanup after a failed assertion: the whole group, SIGKILL. */
  kill(): void {
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

let npm: NpmRun | undefined;
let demoDir: string | undefined;
afterEach(async () => {
  npm?.kill();
  npm = undefined;
  if (demoDir) await rm(demoDir, { recursive: true, force: true });
  demoDir = undefined;
});

const builtAt = () => statSync(WORKER_MAIN).mtimeMs;

const NPM_START = ['start'];
const NPX_BIN = ['exec', '--offline', '--', 'rclone-sync-worker'];

describe('the worker under npm with HANNIBAL_URL, signalled mid-job', () => {
  it.each([
    ['npm start: SIGTERM to npm', NPM_START, 'npm', 'SIGTERM', 'SIGTERM'],
    ['npm start: Ctrl-C (SIGINT to npm\'s group)', NPM_START, 'group', 'SIGINT', 'SIGINT'],
    ['npx rclone-sync-worker: SIGTERM to npm', NPX_BIN, 'npm', 'SIGTERM', 'its parent npm exited'],
    ['npx rclone-sync-worker: Ctrl-C (SIGINT to npm\'s group)', NPX_BIN, 'group', 'SIGINT', 'SIGINT'],
  ] as const)('%s: the worker hands the job back once, and nothing is left running', { timeout: 150_000 }, async (_, args, target, signal, cause) => {
    const sandbox = await startSandbox({ webdav: { bytesPerSecond: 100_000 } });
    const laptop = sandbox.addLocalStorage('laptop');
    const nextcloud = sandbox.addNextcloudStorage('nextcloud', 'hana', 'hana-e2e-password-9');
    const source = join(sandbox.dir, 'src');
    await makeTree(source, 40, 20_000);
    const rule = sandbox.addRule('to nextcloud', { storage: laptop, path: source }, { storage: nextcloud, path: 'backup' });
    const built = builtAt();

    npm = new NpmRun([...args], sandbox.workerEnv('npm'));
    const job = sandbox.hub.createJob(rule.id);
    await npm.waitFor((line) => line.includes('"msg":"job started in rclone"'));
    await expect.poll(() => sandbox.webdav.files('hana').size, { timeout: 30_000, interval: 50 }).toBeGreaterThanOrEqual(2);

    const tree = descendantsOf(npm.pid);
    const worker = npm.records().find((r) => r.msg === 'rclone ready')?.pid as number;
    const rclone = npm.records().find((r) => r.msg === 'rclone ready')?.rclonePid as number;
    expect(tree).toEqual(expect.arrayContaining([worker, rclone]));
    if (args === NPM_START) {
      // npm → the worker (the shell exec'd node; start.js runs the worker in-process) → rclone.
      expect(procStat(worker)?.ppid).toBe(npm.pid);
      expect(commandLine(worker)).toContain('dist/scripts/start.js');
    } else {
      // npm → sh -c rclone-sync-worker → the worker (the bin: dist/worker/src/main.js) → rclone.
      expect(commandLine(procStat(worker)!.ppid)).toMatch(/^sh -c/);
      expect(commandLine(worker)).toMatch(/rclone-sync-worker$/);
    }
    const rcPassword = rcPasswordOf(rclone) ?? '';

    process.kill(target === 'npm' ? npm.pid : -npm.pid, signal);

    const exit = await npm.exited;
    expect(await goneWithin(tree, 15_000)).toBe(true);
    expect(processesMentioning(sandbox.dir)).toEqual([]);
    expect(terminalReports(sandbox, job.id)).toEqual([
      expect.objectContaining({ state: JobState.DoneFailure, owner: 'worker-npm', reason: `worker shutting down (${cause}); job handed back to the hub` }),
    ]);
    const records = npm.records();
    if (cause === signal) expect(records.filter((r) => r.msg === 'signal received: draining')).toEqual([expect.objectContaining({ signal })]);
    else expect(records.filter((r) => r.msg === 'stop requested: draining')).toEqual([expect.objectContaining({ reason: cause })]);
    // A Ctrl-C under `npm start` is sent to the worker twice (by the terminal, and forwarded by
    // npm): one request. (The kernel merges the two when both are pending at once, so the worker
    // sees one or two.) Under npx, npm forwards it to the shell instead.
    const repeats = records.filter((r) => String(r.msg).startsWith('signal repeated at once'));
    expect(repeats.length).toBeLessThanOrEqual(target === 'group' && args === NPM_START ? 1 : 0);
    expect(records.some((r) => r.msg === 'second signal: exiting now')).toBe(false);
    expect(records).toContainEqual(expect.objectContaining({ msg: 'rclone exited', rclonePid: rclone, code: 0 }));
    expect(records).toContainEqual(expect.objectContaining({ msg: 'worker stopped' }));
    // npm's exit follows its script's: the worker's 0, or (npx) the shell's death by the signal.
    expect(exit).toEqual(args === NPM_START ? { code: 0, signal: null } : { code: null, signal });
    // Nothing was recompiled: the build was current.
    expect(builtAt()).toBe(built);
    const secrets = [...sandbox.secrets(), rcPassword].filter((s) => s.length >= 8);
    expect(npm.lines.filter((line) => secrets.some((s) => line.includes(s)))).toEqual([]);
  });
});

describe('npm start without HANNIBAL_URL (the demo), SIGTERM to npm mid-job', () => {
  it('stops the worker, which hands each running job back once; the demo ends and nothing is left running', { timeout: 150_000 }, async () => {
    demoDir = await mkdtemp(join(tmpdir(), 'worker-demo-'));
    npm = new NpmRun(NPM_START, { DEMO_DIR: demoDir });
    await npm.waitFor((line) => /job started in rclone/.test(line) && line.includes('"jobId":'));
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const tree = descendantsOf(npm.pid);
    expect(tree.map(commandLine)).toEqual(expect.arrayContaining([expect.stringContaining('dist/worker/src/main.js'), expect.stringMatching(/rclone rcd/)]));

    process.kill(npm.pid, 'SIGTERM');

    expect(await npm.exited).toEqual({ code: 0, signal: null });
    expect(await goneWithin(tree, 15_000)).toBe(true);
    expect(processesMentioning(demoDir)).toEqual([]);

    const started = new Set(npm.lines.filter((l) => l.includes('job started in rclone')).map((l) => Number(/"jobId":(\d+)/.exec(l)?.[1])));
    const reports = npm.lines.map((l) => /^\[demo\] hub got report: job (\d+) \(.*\) → (\w+)/.exec(l)).filter((m) => m !== null);
    const handedBack = reports.filter((m) => m[2] === 'DoneFailure');
    expect(handedBack.length).toBeGreaterThan(0);
    for (const line of npm.lines.filter((l) => /→ DoneFailure/.test(l))) expect(line).toContain('(worker shutting down (SIGTERM); job handed back to the hub)');
    // Every job that ran got exactly one terminal report.
    for (const jobId of started) expect(reports.filter((m) => Number(m[1]) === jobId), `job ${jobId}`).toHaveLength(1);
    expect(npm.lines.some((l) => l.includes('second signal: exiting now'))).toBe(false);
  });
});
