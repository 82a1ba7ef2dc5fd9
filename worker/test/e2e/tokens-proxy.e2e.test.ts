/**
 * The worker behind a corporate proxy and with a private CA (issue 8.3), end to end, configured
 * only by the standard variables its rclone reads too:
 *
 * - a plain CONNECT proxy (`HTTPS_PROXY`/`HTTP_PROXY`), the token endpoint under a name only the
 *   proxy resolves, so a refreshed token proves the request went through it; the hub and rclone's
 *   API calls on loopback never do;
 * - `NO_PROXY` naming the token host: it is reached directly, the proxy sees nothing;
 * - a TLS-inspecting proxy (scripts/standins/tls-proxy) in front of Google's real token URL,
 *   trusted through `SSL_CERT_FILE` alone — and refused without it.
 */
import { createServer, connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTree, type Sandbox } from '../../../scripts/sandbox.js';
import { TlsProxy } from '../../../scripts/standins/tls-proxy/proxy.js';
import { ConnectProxy } from '../support/connect-proxy.js';
import { expectNoSecretsLeaked, JobState, logsOf, sandboxPerTest, waitForTerminalReport } from './support.js';
import { sameObjects, workerTokenRequests } from './tokens-support.js';

const startSandbox = sandboxPerTest();
const PROXIED_HOST = 'oauth.proxied.test';
const LAN_ADDRESS = Object.values(networkInterfaces())
  .flat()
  .find((a) => a?.family === 'IPv4' && !a.internal)?.address;

/** A GCS storage whose token has expired (the first job must refresh it) and a small copy to it. */
async function world(): Promise<{ sandbox: Sandbox; ruleId: number; files: Map<string, Buffer>; gcsPort: number }> {
  const sandbox = await startSandbox();
  const laptop = sandbox.addLocalStorage('laptop');
  const { storage: gcs } = sandbox.addGcsStorage('gcs', { bucket: 'backups' });
  sandbox.hub.updateStorage(gcs.id, { expiresAt: new Date(Date.now() - 60_000).toISOString() });
  const source = join(sandbox.dir, 'notes');
  const files = await makeTree(source, 5, 10_000);
  const rule = sandbox.addRule('notes to gcs', { storage: laptop, path: source }, { storage: gcs, path: 'backups/notes' });
  return { sandbox, ruleId: rule.id, files, gcsPort: Number(new URL(sandbox.gcs.url).port) };
}

/** Runs one job of the rule to the end and checks it stored every file. */
async function runJob(w: Awaited<ReturnType<typeof world>>): Promise<void> {
  const job = w.sandbox.hub.createJob(w.ruleId);
  expect(await waitForTerminalReport(w.sandbox, job.id, 60_000)).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);
  expect(sameObjects(w.sandbox.gcs, 'backups', 'notes', w.files)).toBe(w.files.size);
  expect(workerTokenRequests(w.sandbox.gcs).map((e) => e.status)).toContain(200);
}

describe('the worker behind a corporate proxy', () => {
  it('refreshes tokens through a CONNECT proxy; the hub and rclone on loopback go direct', { timeout: 120_000 }, async () => {
    const w = await world();
    const corp = await ConnectProxy.start({ [PROXIED_HOST]: w.gcsPort });
    try {
      const worker = w.sandbox.spawnWorker('a', { HTTPS_PROXY: corp.url, HTTP_PROXY: corp.url, GCS_TOKEN_URL: `http://${PROXIED_HOST}:${w.gcsPort}/token` });
      const routes = await worker.waitForLog((r) => r.msg === 'outbound HTTP of the worker');
      expect(routes).toMatchObject({ hub: 'direct', tokenEndpoints: { gcs: `via proxy ${corp.url}` } });
      await runJob(w);
      expect(await worker.stop()).toBe(0);

      expect(corp.connects.length).toBeGreaterThan(0);
      expect(new Set(corp.targets())).toEqual(new Set([`${PROXIED_HOST}:${w.gcsPort}`]));
      expect(corp.connects.every((c) => c.status === 200)).toBe(true);
      expectNoSecretsLeaked(w.sandbox, [worker]);
    } finally {
      await corp.close();
    }
  });

  it.skipIf(LAN_ADDRESS === undefined)('reaches a token host listed in NO_PROXY directly', { timeout: 120_000 }, async () => {
    const w = await world();
    const lan = LAN_ADDRESS ?? '';
    const corp = await ConnectProxy.start({});
    let direct = 0;
    const relay = createServer((client) => {
      direct += 1;
      const upstream = connect(w.gcsPort, '127.0.0.1');
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, lan, resolve));
    const relayPort = (relay.address() as { port: number }).port;
    try {
      const worker = w.sandbox.spawnWorker('a', {
        HTTPS_PROXY: corp.url,
        HTTP_PROXY: corp.url,
        NO_PROXY: `hub.corp.example,${lan}`,
        GCS_TOKEN_URL: `http://${lan}:${relayPort}/token`,
      });
      expect(await worker.waitForLog((r) => r.msg === 'outbound HTTP of the worker')).toMatchObject({ tokenEndpoints: { gcs: 'direct' } });
      await runJob(w);
      expect(await worker.stop()).toBe(0);
      expect(direct).toBeGreaterThan(0);
      expect(corp.connects).toEqual([]);
      expectNoSecretsLeaked(w.sandbox, [worker]);
    } finally {
      await corp.close();
      await new Promise((resolve) => relay.close(resolve));
    }
  });

  it('refreshes at Google’s real token URL through a TLS-inspecting proxy trusted by SSL_CERT_FILE, and refuses it without', { timeout: 120_000 }, async () => {
    const w = await world();
    const tls = await TlsProxy.start({ routes: { 'oauth2.googleapis.com': w.sandbox.gcs.url } });
    try {
      // No GCS_TOKEN_URL: the default, https://oauth2.googleapis.com/token, through the proxy.
      const untrusting = w.sandbox.spawnWorker('a', { HTTPS_PROXY: tls.url, GCS_TOKEN_URL: '' });
      const failed = await untrusting.waitForLog((r) => r.msg === 'token refresh failed' && r.storage === 'gcs');
      expect(String(failed.cause)).toMatch(/certificate/i);
      expect(workerTokenRequests(w.sandbox.gcs)).toEqual([]);
      expect(await untrusting.stop()).toBe(0);

      const trusting = w.sandbox.spawnWorker('a', { HTTPS_PROXY: tls.url, SSL_CERT_FILE: tls.caFile, GCS_TOKEN_URL: '' });
      expect(await trusting.waitForLog((r) => r.msg === 'outbound HTTP of the worker')).toMatchObject({ privateCa: tls.caFile, tokenEndpoints: { gcs: `via proxy ${tls.url}` } });
      await runJob(w);
      expect(await trusting.stop()).toBe(0);
      expect(tls.stats.requestsByHost.get('oauth2.googleapis.com')).toBeGreaterThan(0);
      expect(logsOf(trusting, 'token refresh failed')).toEqual([]);
      expectNoSecretsLeaked(w.sandbox, [untrusting, trusting]);
    } finally {
      await tls.close();
    }
  });
});
