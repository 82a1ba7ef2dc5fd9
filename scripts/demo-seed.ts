/**
 * The embedded default world: 120 files in a local folder, storages (local, GCS with 20-second
 * OAuth tokens, Nextcloud, and with `onedrive` a OneDrive reached through the TLS proxy, its
 * tokens also living 20 s and its refresh token rotating on every refresh as Microsoft's does)
 * and a rule from the folder to each. Used by `npm start` (with OneDrive) and by the stand-ins
 * service of docker-compose (without: its worker runs in another container, with no proxy CA).
 */
import { join } from 'node:path';
import { RuleOperation, type Rule } from '../shared/hannibal.js';
import { makeTree, type Sandbox, type SandboxOptions } from './sandbox.js';

export const DEMO_TOKEN_LIFETIME_SECONDS = 20;

/** Stand-in settings of the demo: ~40 s per GCS or OneDrive job, so the access token rotates mid-job. */
export function demoSandboxOptions(
  dir: string,
  ports: { hub?: number; gcs?: number; webdav?: number } = {},
  providers: { onedrive?: boolean } = {},
): SandboxOptions {
  return {
    dir,
    hub: { rescheduleAfterMs: 45_000, ...(ports.hub ? { port: ports.hub } : {}) },
    gcs: { tokenLifetimeSeconds: DEMO_TOKEN_LIFETIME_SECONDS, bytesPerSecond: 150_000, ...(ports.gcs ? { port: ports.gcs } : {}) },
    webdav: ports.webdav ? { port: ports.webdav } : {},
    ...(providers.onedrive ? { onedrive: { tokenLifetimeSeconds: DEMO_TOKEN_LIFETIME_SECONDS, bytesPerSecond: 150_000 } } : {}),
  };
}

export interface DemoWorld {
  source: string;
  files: Map<string, Buffer>;
  rules: Rule[];
  gcsRule: Rule;
  /** Present when the sandbox runs the OneDrive stand-in. */
  onedrive?: { rule: Rule; storageId: number };
}

/** Where the demo's rules put the tree in GCS (bucket `backups`) and in OneDrive. */
const GCS_FOLDER = 'backups/photos';
const ONEDRIVE_FOLDER = 'backups/photos';

export async function seedDemo(sandbox: Sandbox): Promise<DemoWorld> {
  const source = join(sandbox.dir, 'photos');
  const files = await makeTree(source, 120, () => 20_000 + Math.floor(Math.random() * 80_000));
  const local = sandbox.addLocalStorage('laptop');
  const { storage: gcs } = sandbox.addGcsStorage('cloud-gcs', { bucket: 'backups' });
  const nextcloud = sandbox.addNextcloudStorage('nextcloud', 'alice', 'alice-demo-password');
  const gcsRule = sandbox.addRule('photos → GCS', { storage: local, path: source }, { storage: gcs, path: GCS_FOLDER });
  const rules = [
    gcsRule,
    sandbox.addRule('photos → Nextcloud', { storage: local, path: source }, { storage: nextcloud, path: 'photos' }),
    sandbox.addRule('photos → local mirror', { storage: local, path: source }, { storage: local, path: join(sandbox.dir, 'mirror') }, RuleOperation.Sync),
  ];
  if (!sandbox.onedrive) return { source, files, rules, gcsRule };
  const { storage: onedrive } = sandbox.addOnedriveStorage('cloud-onedrive');
  const onedriveRule = sandbox.addRule('photos → OneDrive', { storage: local, path: source }, { storage: onedrive, path: ONEDRIVE_FOLDER });
  rules.splice(1, 0, onedriveRule);
  return { source, files, rules, gcsRule, onedrive: { rule: onedriveRule, storageId: onedrive.id } };
}

/** How many files of the demo tree the GCS stand-in holds byte for byte. */
export function verifiedInGcs(sandbox: Sandbox, files: Map<string, Buffer>): number {
  const [bucket, ...prefix] = GCS_FOLDER.split('/');
  return countSame(files, (rel) => sandbox.gcs.object(bucket!, `${prefix.join('/')}/${rel}`));
}

/** How many files of the demo tree the OneDrive stand-in holds byte for byte. */
export function verifiedInOnedrive(sandbox: Sandbox, files: Map<string, Buffer>): number {
  return countSame(files, (rel) => sandbox.onedrive?.file(`/${ONEDRIVE_FOLDER}/${rel}`));
}

function countSame(files: Map<string, Buffer>, stored: (rel: string) => Buffer | undefined): number {
  let same = 0;
  for (const [rel, bytes] of files) if (stored(rel)?.equals(bytes)) same += 1;
  return same;
}
