/**
 * RcClient against undici's MockAgent: what goes on the wire and how answers and failures are
 * classified. The same client against a real rclone is in rc-client.rclone.test.ts.
 */
import { inspect } from 'node:util';
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RcError } from '../../src/errors.js';
import { RcClient } from '../../src/rclone/rc-client.js';

const ORIGIN = 'http://127.0.0.1:5572';
const PASSWORD = 'rc-test-password-9f2d';

interface SeenRequest {
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

let agent: MockAgent;
let seen: SeenRequest[];

beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
  seen = [];
});

afterEach(async () => {
  await agent.close();
});

function client(timeoutMs?: number): RcClient {
  return new RcClient({ baseUrl: `${ORIGIN}/`, user: 'worker', password: PASSWORD, dispatcher: agent, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
}

/** Answers `path` once with `status` and `body` the way rclone does: tab-indented JSON labelled text/plain. */
function answer(path: string, status: number, body: unknown): void {
  agent
    .get(ORIGIN)
    .intercept({ path: `/${path}`, method: 'POST' })
    .reply(status, (options) => {
      seen.push({ path, headers: options.headers as Record<string, string>, body: JSON.parse(typeof options.body === 'string' ? options.body : 'null') });
      return typeof body === 'string' ? body : JSON.stringify(body, null, '\t');
    }, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
}

async function rejection(promise: Promise<unknown>): Promise<RcError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(RcError);
    return err as RcError;
  }
  throw new Error('expected the call to fail');
}

describe('RcClient.call', () => {
  it('POSTs JSON with Basic auth and parses a text/plain JSON body', async () => {
    answer('core/stats', 200, { bytes: 42, transfers: 1 });
    const stats = await client().coreStats('job-7');
    expect(stats).toEqual({ bytes: 42, transfers: 1 });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.body).toEqual({ group: 'job-7' });
    expect(seen[0]?.headers['content-type']).toBe('application/json');
    expect(seen[0]?.headers.authorization).toBe(`Basic ${Buffer.from(`worker:${PASSWORD}`).toString('base64')}`);
  });

  it('turns rclone error envelopes into RcError with path, status and message', async () => {
    answer('job/status', 500, { error: 'job not found', input: { jobid: 9 }, path: 'job/status', status: 500 });
    const err = await rejection(client().jobStatus(9));
    expect(err).toMatchObject({ path: 'job/status', status: 500, message: 'job not found', code: 'WORKER_ERR_RC', permanent: false });
  });

  it('keeps a non-JSON error body as the message (rclone answers 401 "Unauthorized")', async () => {
    answer('rc/noop', 401, 'Unauthorized\n');
    const err = await rejection(client().noop());
    expect(err).toMatchObject({ path: 'rc/noop', status: 401, message: 'Unauthorized' });
  });

  it('refuses a 200 answer that is not a JSON object', async () => {
    answer('core/version', 200, 'not json');
    const err = await rejection(client().version());
    expect(err.status).toBe(200);
  });

  it('reports a transport failure as a transient RcError without the password', async () => {
    agent.get(ORIGIN).intercept({ path: '/rc/noop', method: 'POST' }).replyWithError(new Error('connect ECONNREFUSED 127.0.0.1:5572'));
    const err = await rejection(client().noop());
    expect(err).toMatchObject({ path: 'rc/noop', status: undefined, code: 'WORKER_ERR_RC_TRANSPORT', permanent: false });
    expect(err.message).toContain('ECONNREFUSED');
    expect(inspect(err, { depth: 10 })).not.toContain(PASSWORD);
    expect(inspect(err, { depth: 10 })).not.toContain(Buffer.from(`worker:${PASSWORD}`).toString('base64'));
  });

  it('gives up after timeoutMs with a transient RcError', async () => {
    agent.get(ORIGIN).intercept({ path: '/core/stats', method: 'POST' }).reply(200, '{}').delay(10_000);
    const err = await rejection(client(30).coreStats());
    expect(err).toMatchObject({ status: undefined, message: 'rc core/stats: no answer within 30 ms' });
  });

  it('stops when the caller aborts', async () => {
    agent.get(ORIGIN).intercept({ path: '/rc/noop', method: 'POST' }).reply(200, '{}').delay(10_000);
    const controller = new AbortController();
    const call = client().call('rc/noop', {}, { signal: controller.signal });
    controller.abort();
    const err = await rejection(call);
    expect(err).toMatchObject({ status: undefined, message: 'rc rc/noop: aborted' });
  });

  it('never shows the password when the client itself is inspected or serialised', () => {
    const rc = client();
    const basic = Buffer.from(`worker:${PASSWORD}`).toString('base64');
    for (const text of [inspect(rc, { depth: 10, showHidden: true }), JSON.stringify(rc)]) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(basic);
    }
  });
});

describe('RcClient config calls', () => {
  it('creates a remote non-interactively with values stored as given', async () => {
    answer('config/create', 200, {});
    await client().configCreate('dav', 'webdav', { url: 'http://127.0.0.1:9/', pass: 'obscured-value' });
    expect(seen[0]?.body).toEqual({
      name: 'dav',
      type: 'webdav',
      parameters: { url: 'http://127.0.0.1:9/', pass: 'obscured-value' },
      opt: { nonInteractive: true, noObscure: true },
    });
  });

  it('adds config_refresh_token=false for OAuth remotes', async () => {
    answer('config/update', 200, { State: '', Result: '', Error: '', Option: null });
    await client().configUpdate('gcs1', { token: '{"access_token":"AT"}' }, { oauth: true });
    expect(seen[0]?.body).toEqual({
      name: 'gcs1',
      parameters: { token: '{"access_token":"AT"}', config_refresh_token: 'false' },
      opt: { nonInteractive: true, noObscure: true },
    });
  });

  it('fails when rclone answers with a question (non-empty State)', async () => {
    answer('config/update', 200, {
      Error: '',
      Option: { Name: 'config_refresh_token', Help: 'Already have a token - refresh?' },
      Result: '',
      State: '*oauth-confirm,,,',
    });
    const err = await rejection(client().configUpdate('gcs1', { token: '{}' }));
    expect(err).toMatchObject({ path: 'config/update', status: 200, permanent: true });
    expect(err.message).toContain('"config_refresh_token"');
    expect(err.message).toContain('*oauth-confirm,,,');
  });
});

describe('RcClient jobs', () => {
  it('starts an async transfer with group, config, filter and createEmptySrcDirs', async () => {
    answer('sync/sync', 200, { jobid: 12 });
    const rc = client();
    const jobid = await rc.startTransfer('sync', '/src', 'dav:dst', {
      group: 'hub-job-3',
      config: { Transfers: 2 },
      filter: { ExcludeRule: ['_backer'] },
      createEmptySrcDirs: true,
    });
    expect(jobid).toBe(12);
    expect(seen[0]?.body).toEqual({
      srcFs: '/src',
      dstFs: 'dav:dst',
      _async: true,
      _group: 'hub-job-3',
      _config: { Transfers: 2 },
      _filter: { ExcludeRule: ['_backer'] },
      createEmptySrcDirs: true,
    });
  });

  it('sends only the options given', async () => {
    answer('sync/copy', 200, { jobid: 4 });
    await client().startTransfer('copy', '/a', '/b', { group: 'g' });
    expect(seen[0]?.body).toEqual({ srcFs: '/a', dstFs: '/b', _async: true, _group: 'g' });
  });

  it('remembers started jobs until job/status shows them finished or expired', async () => {
    const rc = client();
    answer('rc/noop', 200, { jobid: 5 });
    answer('sync/copy', 200, { jobid: 6 });
    expect(await rc.startNoop({ group: 'n' })).toBe(5);
    expect(seen[0]?.body).toEqual({ _async: true, _group: 'n' });
    await rc.startTransfer('copy', '/a', '/b', { group: 'c' });
    expect(rc.unfinishedJobIds().sort()).toEqual([5, 6]);

    answer('job/status', 200, { id: 5, finished: false });
    await rc.jobStatus(5);
    expect(rc.unfinishedJobIds().sort()).toEqual([5, 6]);
    answer('job/status', 200, { id: 5, finished: true, success: true });
    await rc.jobStatus(5);
    expect(rc.unfinishedJobIds()).toEqual([6]);
    answer('job/status', 500, { error: 'job not found', input: { jobid: 6 }, path: 'job/status', status: 500 });
    await rejection(rc.jobStatus(6));
    expect(rc.unfinishedJobIds()).toEqual([]);
  });

  it('fails when an async start has no job id', async () => {
    answer('sync/copy', 200, {});
    const err = await rejection(client().startTransfer('copy', '/a', '/b', { group: 'g' }));
    expect(err.path).toBe('sync/copy');
  });
});
