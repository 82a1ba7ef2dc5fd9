/**
 * Runs the stand-ins as a service (docker-compose's `standins`): the Hannibal-compatible hub,
 * the GCS-API storage with its OAuth token endpoint, and the WebDAV server, on fixed ports of
 * 127.0.0.1, seeded with the demo world and creating its jobs. A worker sharing this network
 * namespace reaches them at 127.0.0.1.
 *
 *   STANDIN_DIR   data folder shared with the worker (local storages live here), default ./.state/standins
 *   HUB_PORT      default 5080      GCS_PORT  default 5081      WEBDAV_PORT  default 5082
 */
import { join } from 'node:path';
import { demoSandboxOptions, seedDemo } from '../demo-seed.js';
import { HUB_USER, REPO_ROOT, Sandbox } from '../sandbox.js';

const port = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

const sandbox = await Sandbox.start(
  demoSandboxOptions(process.env.STANDIN_DIR ?? join(REPO_ROOT, '.state', 'standins'), {
    hub: port('HUB_PORT', 5080),
    gcs: port('GCS_PORT', 5081),
    webdav: port('WEBDAV_PORT', 5082),
  }),
);
const { rules } = await seedDemo(sandbox);
for (const rule of rules) sandbox.hub.createJob(rule.id);

process.stdout.write(
  [
    `stand-ins up; worker environment:`,
    `  HANNIBAL_URL=${sandbox.hub.url}`,
    `  BACKER_USERNAME=${HUB_USER.email}   (password: see the compose secret)`,
    `  GCS_TOKEN_URL=${sandbox.gcs.tokenUrl}`,
    `  GCS_API_URL=${sandbox.gcs.apiEndpoint}`,
    '',
  ].join('\n'),
);
const stop = () => {
  void sandbox.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
