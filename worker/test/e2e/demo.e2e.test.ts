/**
 * `npm start` as a newcomer runs it (issue: "`npm start` on a fresh clone shows a job completing
 * within a minute, in readable logs"), and as an operator runs it against a real hub
 * (`HANNIBAL_URL` set: the worker alone).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { HUB_USER, REPO_ROOT, Sandbox } from '../../../scripts/sandbox.js';
import { DEFAULT_CLIENT } from '../../../scripts/standins/gcs/server.js';
import { DEFAULT_ONEDRIVE_CLIENT } from '../../../scripts/standins/onedrive/server.js';
import { rcPasswordOf } from './support.js';

const START_SCRIPT = join(REPO_ROOT, 'dist/scripts/start.js');
/** Passwords the embedded demo hands out (scripts/start.ts, scripts/sandbox.ts). */
const DEMO_PASSWORDS = [HUB_USER.password, 'alice-demo-password', DEFAULT_CLIENT.clientSecret, DEFAULT_ONEDRIVE_CLIENT.clientSecret];
/**
 * Shapes of the stand-ins' access and refresh tokens, which the test cannot know in advance:
 * GCS (Google's `ya29.`, `1//`) and OneDrive (Microsoft's `EwB…`, `M.C5_BAY.0.U.-…`).
 */
const TOKEN_SHAPES = [/ya29\.[\w-]{8}/, /1\/\/[\w-]{8}/, /EwB[\w-]{8}/, /M\.C5_BAY\.0\.U\.-[\w-]{8}/];

/** `node dist/scripts/start.js` with its output kept line by line, each with its arrival time. */
class StartProcess {
  readonly lines: { atMs: number; text: string }[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private readonly startedAt = Date.now();

  constructor(env: Record<string, string>) {
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('RCLONE_') && k !== 'HANNIBAL_URL' && !k.startsWith('DEMO_')),
    );
    this.child = spawn(process.execPath, [START_SCRIPT], { cwd: REPO_ROOT, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        this.lines.push({ atMs: Date.now() - this.startedAt, text: stripColours(line) });
      });
    }
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code) => {
        resolve(code);
      });
    });
  }

  texts(): string[] {
    return this.lines.map((l) => l.text);
  }

  first(pattern: RegExp): { atMs: number; text: string } | undefined {
    return this.lines.find((l) => pattern.test(l.text));
  }

  async waitFor(pattern: RegExp, timeoutMs: number): Promise<{ atMs: number; text: string }> {
    await expect.poll(() => this.first(pattern), { timeout: timeoutMs, interval: 100 }).toBeDefined();
    return this.first(pattern)!;
  }

  /** The worker's JSON log records (with `LOG_FORMAT=json`). */
  records(): Record<string, unknown>[] {
    return this.lines.flatMap(({ text }) => {
      try {
        return [JSON.parse(text) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Cleanup after a failed assertion: SIGTERM (the script stops what it started), SIGKILL after 30 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await this.exited;
    clearTimeout(timer);
  }
}

function stripColours(line: string): string {
  // eslint-disable-next-line no-control-regex
  return line.replace(/\x1b\[[0-9;]*m/g, '');
}

function rclonesUsing(dir: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', `rclone rcd .*${dir}`], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/** Fails when a known secret or anything shaped like an issued OAuth token appears in a line. */
function expectNoSecretsIn(lines: string[], secrets: string[]): void {
  const hits = lines.filter((line) => secrets.some((s) => s.length >= 8 && line.includes(s)) || TOKEN_SHAPES.some((shape) => shape.test(line)));
  expect(hits.map((line) => line.slice(0, 160))).toEqual([]);
}

let started: StartProcess | undefined;
let sandbox: Sandbox | undefined;
let demoDir: string | undefined;
afterEach(async () => {
  await started?.stop();
  started = undefined;
  await sandbox?.close();
  sandbox = undefined;
  if (demoDir) await rm(demoDir, { recursive: true, force: true });
  demoDir = undefined;
});

describe('npm start', () => {
  it('without HANNIBAL_URL runs the embedded demo: a job done within a minute, GCS and OneDrive (through the TLS proxy) verified, tokens refreshed and rotated by the worker only, readable logs', { timeout: 180_000 }, async () => {
    demoDir = await mkdtemp(join(tmpdir(), 'worker-demo-'));
    started = new StartProcess({ DEMO_SECONDS: '75', DEMO_DIR: demoDir });
    expect(await started.exited).toBe(0);
    const texts = started.texts();

    const firstSuccess = started.first(/^\[demo\] hub got report: job \d+ \(.+\) → DoneSuccess$/);
    expect(firstSuccess, texts.slice(-20).join('\n')).toBeDefined();
    expect(firstSuccess!.atMs).toBeLessThan(60_000);
    expect(texts).toContainEqual(expect.stringMatching(/^\[demo\] hub got report: job \d+ \(\[Scheduler\] photos → GCS\) → DoneSuccess$/));

    const verified = /^\[demo\] verified GCS copy: (\d+)\/(\d+) files byte for byte/.exec(started.first(/verified GCS copy/)?.text ?? '');
    expect(verified).not.toBeNull();
    expect(Number(verified![2])).toBeGreaterThan(0);
    expect(verified![1]).toBe(verified![2]);

    // OneDrive through the TLS proxy: done, every file, the token rotated while the job ran, the
    // hub on the newest refresh token, rclone never asking for a token.
    expect(texts).toContainEqual(expect.stringMatching(/^\[demo\] hub got report: job \d+ \(\[Scheduler\] photos → OneDrive\) → DoneSuccess$/));
    const onedrive = /^\[demo\] verified OneDrive copy: (\d+)\/(\d+) files byte for byte; (\d+) token rotations by the worker during the job \(hub holds refresh token generation (\d+) of (\d+)\); by rclone (\d+); 401 answers (\d+); (\d+) TLS tunnels/.exec(
      started.first(/verified OneDrive copy/)?.text ?? '',
    );
    expect(onedrive, texts.filter((t) => t.startsWith('[demo]')).join('\n')).not.toBeNull();
    const [odStored, odFiles, rotations, held, latest, odByRclone, od401, tunnels] = onedrive!.slice(1).map(Number);
    expect(odFiles).toBeGreaterThan(0);
    expect(odStored).toBe(odFiles);
    expect(rotations).toBeGreaterThanOrEqual(1);
    expect(held).toBe(latest);
    expect(odByRclone).toBe(0);
    expect(od401).toBe(0);
    expect(tunnels).toBeGreaterThan(0);

    const summary = /^\[demo\] GCS stand-in: (\d+) token refreshes by the worker, (\d+) by rclone/.exec(started.first(/^\[demo\] GCS stand-in:/)?.text ?? '');
    expect(summary).not.toBeNull();
    expect(Number(summary![1])).toBeGreaterThanOrEqual(1);
    expect(Number(summary![2])).toBe(0);

    // Readable: the worker's lines are one-line pino-pretty records
    // ("[laptop] [HH:MM:ss.mmm] LEVEL: message {context}"), never raw JSON, and they tell the story of a job.
    const workerLines = texts.filter((t) => t.startsWith('[laptop] ')).map((t) => t.slice('[laptop] '.length));
    const headlines = workerLines.filter((t) => /^\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN|ERROR|DEBUG): /.test(t));
    expect(headlines.length).toBeGreaterThan(0);
    expect(workerLines.filter((t) => t.trimStart().startsWith('{"'))).toEqual([]);
    for (const message of ['logged in to the hub', 'rclone ready', 'job acquired', 'job started in rclone', 'token pushed to rclone', 'job finished']) {
      expect(headlines.some((h) => h.endsWith(`: ${message}`) || h.includes(`: ${message} {`)), message).toBe(true);
    }

    expect(rclonesUsing(demoDir)).toEqual([]);
    expectNoSecretsIn(texts, DEMO_PASSWORDS);
  });

  it('with HANNIBAL_URL runs the worker alone against that hub, and SIGTERM stops it with exit 0', { timeout: 90_000 }, async () => {
    sandbox = await Sandbox.start();
    started = new StartProcess(sandbox.workerEnv('npm'));

    await started.waitFor(/"msg":"logged in to the hub"/, 30_000);
    await expect.poll(() => started!.records().some((r) => r.component === 'machine' && r.to === 'Running'), { timeout: 30_000, interval: 100 }).toBe(true);
    expect(sandbox.hub.logins).toContainEqual(expect.objectContaining({ email: HUB_USER.email, ok: true }));
    const rclonePid = started.records().find((r) => r.msg === 'rclone ready')?.rclonePid as number;
    const rcPassword = rcPasswordOf(rclonePid) ?? '';
    expect(rcPassword).not.toBe('');

    started.signal('SIGTERM');
    expect(await started.exited).toBe(0);
    const records = started.records();
    expect(records.some((r) => r.msg === 'worker stopped')).toBe(true);
    expect(records.some((r) => r.msg === 'rclone exited' && r.rclonePid === rclonePid)).toBe(true);
    // Only the worker ran: nothing of the embedded demo.
    expect(started.texts().filter((t) => t.startsWith('[demo]'))).toEqual([]);
    expect(rclonesUsing(sandbox.dir)).toEqual([]);
    expectNoSecretsIn(started.texts(), [...sandbox.secrets(), rcPassword]);
  });
});
