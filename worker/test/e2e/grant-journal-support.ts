/**
 * The world of the grant-journal end-to-end tests: the GCS stand-in with strict refresh-token
 * rotation and 20 s tokens, a 25 s copy to it, and the worker's hub REST calls going through a
 * stalling proxy, so a test can hold the hub's `PUT /storages` at the instant it chooses.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTree, type Sandbox, type SandboxOptions, type WorkerProcess } from '../../../scripts/sandbox.js';
import type { Storage } from '../../../shared/hannibal.js';
import type { JournaledGrant } from '../../src/tokens/grant-journal.js';
import { StallingProxy } from './stalling-proxy.js';

export const TOKEN_LIFETIME_S = 20;

/** Sandbox options for it: strict rotation, short tokens, a link slow enough for a 25 s copy. */
export const JOURNAL_SANDBOX: SandboxOptions = { gcs: { tokenLifetimeSeconds: TOKEN_LIFETIME_S, rotateRefreshTokens: true, bytesPerSecond: 20_000 } };

export interface JournalWorld {
  sandbox: Sandbox;
  proxy: StallingProxy;
  gcs: Storage;
  ruleId: number;
  files: Map<string, Buffer>;
  /** Worker a's journal directory and the GCS storage's entry in it. */
  grantsDir: string;
  journalFile: string;
  /** Starts worker a (same state dir every time), hub REST through the proxy. */
  spawn(): WorkerProcess;
  /** Reads the storage's journal entry as the worker left it; undefined when there is none. */
  journaled(): Promise<JournaledGrant | undefined>;
  /** The path of the hub's `PUT` of the GCS storage. */
  putPath: string;
  /** Starts worker a and a job of the rule; resolves once the job runs in rclone. */
  startJob(): Promise<{ worker: WorkerProcess; jobId: number }>;
}

export async function journalWorld(sandbox: Sandbox): Promise<JournalWorld> {
  const proxy = await StallingProxy.start(sandbox.hub.url);
  const laptop = sandbox.addLocalStorage('laptop');
  const { storage: gcs } = sandbox.addGcsStorage('gcs', { bucket: 'backups' });
  const source = join(sandbox.dir, 'docs');
  const files = await makeTree(source, 20, 25_000);
  const rule = sandbox.addRule('docs to gcs', { storage: laptop, path: source }, { storage: gcs, path: 'backups/docs' });
  const grantsDir = join(sandbox.dir, 'state-a', 'grants');
  const journalFile = join(grantsDir, `${gcs.id}.json`);
  const spawn = () =>
    sandbox.spawnWorker('a', { HANNIBAL_URL: proxy.url, HANNIBAL_SIGNALR_URL: sandbox.hub.url, TOKEN_REFRESH_THRESHOLD_SECONDS: '5', WORKER_HEARTBEAT_SECONDS: '2' });
  return {
    sandbox,
    proxy,
    gcs,
    ruleId: rule.id,
    files,
    grantsDir,
    journalFile,
    putPath: `/api/hannibal/v1/storages/${gcs.id}`,
    spawn,
    startJob: async () => {
      const worker = spawn();
      await worker.waitForLog((r) => r.msg === 'rclone ready');
      const job = sandbox.hub.createJob(rule.id);
      await worker.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === job.id);
      return { worker, jobId: job.id };
    },
    journaled: async () => {
      try {
        return JSON.parse(await readFile(journalFile, 'utf8')) as JournaledGrant;
      } catch {
        return undefined;
      }
    },
  };
}
