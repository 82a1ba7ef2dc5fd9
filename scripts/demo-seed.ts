/**
 * The embedded default world: 120 files in a local folder, three storages (local, GCS with
 * 20-second OAuth tokens, Nextcloud) and three rules. Used by `npm start` and by the stand-ins
 * service of docker-compose.
 */
import { join } from 'node:path';
import { RuleOperation, type Rule } from '../shared/hannibal.js';
import { makeTree, type Sandbox, type SandboxOptions } from './sandbox.js';

export const DEMO_TOKEN_LIFETIME_SECONDS = 20;

/** Stand-in settings of the demo: ~40 s per GCS job, so the access token rotates mid-job. */
export function demoSandboxOptions(dir: string, ports: { hub?: number; gcs?: number; webdav?: number } = {}): SandboxOptions {
  return {
    dir,
    hub: { rescheduleAfterMs: 45_000, ...(ports.hub ? { port: ports.hub } : {}) },
    gcs: { tokenLifetimeSeconds: DEMO_TOKEN_LIFETIME_SECONDS, bytesPerSecond: 150_000, ...(ports.gcs ? { port: ports.gcs } : {}) },
    webdav: ports.webdav ? { port: ports.webdav } : {},
  };
}

export interface DemoWorld {
  source: string;
  files: Map<string, Buffer>;
  rules: Rule[];
}

export async function seedDemo(sandbox: Sandbox): Promise<DemoWorld> {
  const source = join(sandbox.dir, 'photos');
  const files = await makeTree(source, 120, () => 20_000 + Math.floor(Math.random() * 80_000));
  const local = sandbox.addLocalStorage('laptop');
  const { storage: gcs } = sandbox.addGcsStorage('cloud-gcs', { bucket: 'backups' });
  const nextcloud = sandbox.addNextcloudStorage('nextcloud', 'alice', 'alice-demo-password');
  const rules = [
    sandbox.addRule('photos → GCS', { storage: local, path: source }, { storage: gcs, path: 'backups/photos' }),
    sandbox.addRule('photos → Nextcloud', { storage: local, path: source }, { storage: nextcloud, path: 'photos' }),
    sandbox.addRule('photos → local mirror', { storage: local, path: source }, { storage: local, path: join(sandbox.dir, 'mirror') }, RuleOperation.Sync),
  ];
  return { source, files, rules };
}

/** How many files of the demo tree the GCS stand-in holds byte for byte. */
export function verifiedInGcs(sandbox: Sandbox, files: Map<string, Buffer>): number {
  let same = 0;
  for (const [rel, bytes] of files) if (sandbox.gcs.object('backups', `photos/${rel}`)?.equals(bytes)) same += 1;
  return same;
}
