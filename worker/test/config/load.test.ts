/**
 * loadSettings: every variable's default and validation, secrets from files, the JSON config
 * file under the environment, the persistent owner id, and one ConfigError listing every problem.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { homedir, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HUB_HEARTBEAT_DEADLINE_SECONDS } from '../../../shared/hannibal.js';
import { defaultStateDir, loadSettings, persistentOwnerId, readSources } from '../../src/config/load.js';
import { detectNetworkId } from '../../src/config/network.js';
import type { Settings } from '../../src/config/settings.js';
import { ConfigError } from '../../src/errors.js';

const PASSWORD = 'hub-Pa55word-must-stay-hidden';
const CLIENT_SECRET = 'client-S3cret-must-stay-hidden';

let dir: string;
let stateDir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'worker-config-'));
  stateDir = join(dir, 'state');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Env = Record<string, string | undefined>;

/** The smallest valid environment, plus `extra`. */
function env(extra: Env = {}): Env {
  return {
    HANNIBAL_URL: 'http://127.0.0.1:5000',
    BACKER_USERNAME: 'worker@example.test',
    BACKER_PASSWORD: PASSWORD,
    WORKER_STATE_DIR: stateDir,
    WORKER_NETWORKS: 'test-net',
    ...extra,
  };
}

/** The ConfigError thrown for `source`, checked to be the only error type. */
async function configError(source: Env): Promise<ConfigError> {
  const err = await loadSettings(source).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

/** The problems listed in the ConfigError for `source`, one per line. */
async function problems(source: Env): Promise<string[]> {
  const err = await configError(source);
  const [headline, ...lines] = err.message.split('\n');
  expect(headline).toBe('invalid configuration:');
  return lines.map((line) => line.replace(/^ {2}- /, ''));
}

async function writeJson(name: string, content: unknown): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

describe('WORKER_LOCAL_ROOTS', () => {
  it('defaults to <state>/local, takes a comma-separated list of absolute directories, and "none"', async () => {
    expect((await loadSettings(env())).worker.localRoots).toEqual([join(stateDir, 'local')]);
    expect((await loadSettings(env({ WORKER_LOCAL_ROOTS: '/srv/backup, /mnt/photos/' }))).worker.localRoots).toEqual(['/srv/backup', '/mnt/photos/']);
    expect((await loadSettings(env({ WORKER_LOCAL_ROOTS: 'none' }))).worker.localRoots).toEqual([]);
  });

  it('refuses a relative directory, naming it', async () => {
    await expect(loadSettings(env({ WORKER_LOCAL_ROOTS: '/srv/backup,data' }))).rejects.toThrow('WORKER_LOCAL_ROOTS must list absolute directories (or be "none"), got "data"');
  });
});

describe('defaults', () => {
  it('fills every optional setting with its default', async () => {
    const s = await loadSettings(env());
    expect(s.hub).toEqual({
      url: 'http://127.0.0.1:5000',
      signalrUrl: 'http://127.0.0.1:5000',
      username: 'worker@example.test',
      password: PASSWORD,
      acquirePollSeconds: 120,
    });
    expect(s.worker).toEqual({
      ownerId: expect.stringMatching(/-[0-9a-f]{8}$/) as unknown,
      networks: 'test-net',
      stateDir,
      localRoots: [join(stateDir, 'local')],
      maxJobs: 4,
      heartbeatSeconds: 30,
      pollSeconds: 2,
      stallSeconds: 600,
      reauthWaitSeconds: 900,
      reauthDebounceMs: 500,
      shutdownTimeoutSeconds: 60,
    });
    expect(s.rclone).toEqual({ path: 'rclone' });
    expect(s.log).toEqual({ level: 'info', format: 'json' });
    expect(s.outbound).toEqual({ httpsProxy: undefined, httpProxy: undefined, noProxy: undefined, caFile: undefined, caPem: undefined });
    const { providers, ...tokens } = s.tokens;
    expect(tokens).toEqual({
      refreshThresholdSeconds: 900,
      sweepIntervalSeconds: 3600,
      refreshMarginSeconds: 60,
      requestTimeoutSeconds: 15,
      onedriveGraphUrl: 'https://graph.microsoft.com/v1.0',
      gcsApiUrl: undefined,
    });
    expect(providers).toEqual({
      onedrive: {
        tokenUrl: 'https://login.microsoftonline.com/consumers/oauth2/v2.0/token',
        clientId: undefined,
        clientSecret: undefined,
        scope: 'offline_access Files.ReadWrite User.Read',
      },
      dropbox: { tokenUrl: 'https://api.dropboxapi.com/oauth2/token', clientId: undefined, clientSecret: undefined, scope: undefined },
      googledrive: { tokenUrl: 'https://oauth2.googleapis.com/token', clientId: undefined, clientSecret: undefined, scope: undefined },
      gcs: { tokenUrl: 'https://oauth2.googleapis.com/token', clientId: undefined, clientSecret: undefined, scope: undefined },
    });
  });

  it('takes RCLONE_PATH and WORKER_NETWORKS as given', async () => {
    const s = await loadSettings(env({ RCLONE_PATH: '/usr/bin/rclone', WORKER_NETWORKS: 'fe80::1' }));
    expect(s.rclone.path).toBe('/usr/bin/rclone');
    expect(s.worker.networks).toBe('fe80::1');
  });

  it('detects the network id when WORKER_NETWORKS is unset', async () => {
    const s = await loadSettings(env({ WORKER_NETWORKS: undefined }));
    expect(s.worker.networks).toBe(await detectNetworkId());
    expect(s.worker.networks).not.toBe('');
  });
});

describe('whole-number settings', () => {
  const cases: [name: string, get: (s: Settings) => number, fallback: number, min: number, max: number][] = [
    ['WORKER_ACQUIRE_POLL_SECONDS', (s) => s.hub.acquirePollSeconds, 120, 5, 86_400],
    ['WORKER_MAX_JOBS', (s) => s.worker.maxJobs, 4, 1, 256],
    ['WORKER_HEARTBEAT_SECONDS', (s) => s.worker.heartbeatSeconds, 30, 1, 60],
    ['WORKER_POLL_SECONDS', (s) => s.worker.pollSeconds, 2, 1, 60],
    ['WORKER_STALL_SECONDS', (s) => s.worker.stallSeconds, 600, 10, 86_400],
    ['WORKER_REAUTH_WAIT_SECONDS', (s) => s.worker.reauthWaitSeconds, 900, 0, 7 * 86_400],
    ['WORKER_REAUTH_DEBOUNCE_MS', (s) => s.worker.reauthDebounceMs, 500, 0, 60_000],
    ['WORKER_SHUTDOWN_TIMEOUT_SECONDS', (s) => s.worker.shutdownTimeoutSeconds, 60, 1, 3600],
    ['TOKEN_REFRESH_THRESHOLD_SECONDS', (s) => s.tokens.refreshThresholdSeconds, 900, 0, 86_400],
    ['TOKEN_SWEEP_INTERVAL_SECONDS', (s) => s.tokens.sweepIntervalSeconds, 3600, 10, 7 * 86_400],
    ['TOKEN_REFRESH_MARGIN_SECONDS', (s) => s.tokens.refreshMarginSeconds, 60, 1, 3600],
    ['TOKEN_REQUEST_TIMEOUT_SECONDS', (s) => s.tokens.requestTimeoutSeconds, 15, 1, 300],
  ];

  it.each(cases)('%s: default, accepted range, rejected values', async (name, get, fallback, min, max) => {
    expect(get(await loadSettings(env()))).toBe(fallback);
    expect(get(await loadSettings(env({ [name]: String(min) })))).toBe(min);
    expect(get(await loadSettings(env({ [name]: ` ${max} ` })))).toBe(max);
    expect(get(await loadSettings(env({ [name]: '' })))).toBe(fallback);
    expect(await problems(env({ [name]: String(min - 1) }))).toEqual([`${name} must be between ${min} and ${max}, got ${min - 1}`]);
    expect(await problems(env({ [name]: String(max + 1) }))).toEqual([`${name} must be between ${min} and ${max}, got ${max + 1}`]);
    expect(await problems(env({ [name]: '2.5' }))).toEqual([`${name} must be a whole number, got "2.5"`]);
    expect(await problems(env({ [name]: 'ten' }))).toEqual([`${name} must be a whole number, got "ten"`]);
  });

  it('keeps the heartbeat so far inside the hub deadline that one lost heartbeat is survived', async () => {
    expect(await problems(env({ WORKER_HEARTBEAT_SECONDS: String(HUB_HEARTBEAT_DEADLINE_SECONDS) }))).toEqual([
      `WORKER_HEARTBEAT_SECONDS must be between 1 and 60, got ${HUB_HEARTBEAT_DEADLINE_SECONDS}`,
    ]);
    expect(await problems(env({ WORKER_HEARTBEAT_SECONDS: '61' }))).toHaveLength(1);
    expect(await problems(env({ WORKER_HEARTBEAT_SECONDS: '0' }))).toHaveLength(1);
    const s = await loadSettings(env({ WORKER_HEARTBEAT_SECONDS: '60' }));
    expect(2 * s.worker.heartbeatSeconds).toBeLessThanOrEqual(HUB_HEARTBEAT_DEADLINE_SECONDS);
  });
});

describe('hub settings', () => {
  it('requires HANNIBAL_URL, BACKER_USERNAME and a password', async () => {
    expect(await problems({ WORKER_STATE_DIR: stateDir })).toEqual([
      'HANNIBAL_URL is required (the hub REST base URL)',
      'BACKER_USERNAME is required (the hub login e-mail)',
      'BACKER_PASSWORD or BACKER_PASSWORD_FILE is required (the hub login password)',
    ]);
  });

  it('reports a bad HANNIBAL_URL once, not also as missing', async () => {
    expect(await problems(env({ HANNIBAL_URL: 'hub.example.com' }))).toEqual(['HANNIBAL_URL must be an http(s) URL, got "hub.example.com"']);
  });

  it('defaults HANNIBAL_SIGNALR_URL to HANNIBAL_URL, trailing slash dropped', async () => {
    const s = await loadSettings(env({ HANNIBAL_URL: 'https://hub.example/api/' }));
    expect(s.hub.url).toBe('https://hub.example/api');
    expect(s.hub.signalrUrl).toBe('https://hub.example/api');
  });

  it('takes HANNIBAL_SIGNALR_URL when set and validates it', async () => {
    const s = await loadSettings(env({ HANNIBAL_SIGNALR_URL: 'https://signalr.example/' }));
    expect(s.hub.signalrUrl).toBe('https://signalr.example');
    expect(s.hub.url).toBe('http://127.0.0.1:5000');
    expect(await problems(env({ HANNIBAL_SIGNALR_URL: 'ws://signalr.example' }))).toEqual([
      'HANNIBAL_SIGNALR_URL must be an http(s) URL, got "ws://signalr.example"',
    ]);
  });
});

describe('BACKER_PASSWORD and BACKER_PASSWORD_FILE', () => {
  it('reads the password from the file, trailing newline dropped', async () => {
    const file = await writeJson('password', `${PASSWORD}\n`);
    const s = await loadSettings(env({ BACKER_PASSWORD: undefined, BACKER_PASSWORD_FILE: file }));
    expect(s.hub.password).toBe(PASSWORD);
  });

  it('refuses both being set, without quoting either', async () => {
    const file = await writeJson('password', 'file-password-also-secret');
    const err = await configError(env({ BACKER_PASSWORD_FILE: file }));
    expect(err.message).toContain('set only one of BACKER_PASSWORD and BACKER_PASSWORD_FILE');
    expect(err.message).not.toContain(PASSWORD);
    expect(err.message).not.toContain('file-password-also-secret');
  });

  it('names an unreadable file and the reason, and does not also claim the password is missing', async () => {
    const missing = join(dir, 'no-such-secret');
    expect(await problems(env({ BACKER_PASSWORD: undefined, BACKER_PASSWORD_FILE: missing }))).toEqual([
      `BACKER_PASSWORD_FILE cannot be read: ENOENT (${missing})`,
    ]);
  });

  it('reports an empty password file once', async () => {
    const file = await writeJson('empty', '');
    expect(await problems(env({ BACKER_PASSWORD: undefined, BACKER_PASSWORD_FILE: file }))).toEqual([
      `BACKER_PASSWORD_FILE names an empty file: ${file}`,
    ]);
  });
});

describe('OAuth providers', () => {
  const techs = [
    ['onedrive', 'ONEDRIVE'],
    ['dropbox', 'DROPBOX'],
    ['googledrive', 'GOOGLEDRIVE'],
    ['gcs', 'GCS'],
  ] as const;

  it.each(techs)('%s: token URL, client id, secret and scope from %s_*', async (tech, prefix) => {
    const s = await loadSettings(
      env({
        [`${prefix}_TOKEN_URL`]: 'http://127.0.0.1:9000/token/',
        [`${prefix}_CLIENT_ID`]: `${tech}-client`,
        [`${prefix}_CLIENT_SECRET`]: CLIENT_SECRET,
        [`${prefix}_SCOPE`]: 'scope-a scope-b',
      }),
    );
    expect(s.tokens.providers[tech]).toEqual({
      tokenUrl: 'http://127.0.0.1:9000/token',
      clientId: `${tech}-client`,
      clientSecret: CLIENT_SECRET,
      scope: 'scope-a scope-b',
    });
    const others = techs.filter(([t]) => t !== tech).map(([t]) => s.tokens.providers[t]);
    for (const other of others) {
      expect(other.tokenUrl).not.toBe('http://127.0.0.1:9000/token');
      expect(other.clientId).toBeUndefined();
      expect(other.clientSecret).toBeUndefined();
    }
  });

  it.each(techs)('%s: client secret from %s_CLIENT_SECRET_FILE; both set or a bad token URL is an error', async (tech, prefix) => {
    const file = await writeJson(`${tech}-secret`, `${CLIENT_SECRET}\n`);
    const s = await loadSettings(env({ [`${prefix}_CLIENT_SECRET_FILE`]: file }));
    expect(s.tokens.providers[tech].clientSecret).toBe(CLIENT_SECRET);

    const err = await configError(env({ [`${prefix}_CLIENT_SECRET`]: CLIENT_SECRET, [`${prefix}_CLIENT_SECRET_FILE`]: file, [`${prefix}_TOKEN_URL`]: 'nope' }));
    expect(err.message.split('\n').slice(1)).toEqual([
      `  - ${prefix}_TOKEN_URL must be an http(s) URL, got "nope"`,
      `  - set only one of ${prefix}_CLIENT_SECRET and ${prefix}_CLIENT_SECRET_FILE`,
    ]);
    expect(err.message).not.toContain(CLIENT_SECRET);
  });

  it('takes the Graph URL from ONEDRIVE_GRAPH_URL, else its alias ONEDRIVE_API_URL', async () => {
    expect((await loadSettings(env({ ONEDRIVE_GRAPH_URL: 'http://127.0.0.1:1/graph/' }))).tokens.onedriveGraphUrl).toBe('http://127.0.0.1:1/graph');
    expect((await loadSettings(env({ ONEDRIVE_API_URL: 'http://127.0.0.1:2/v1.0' }))).tokens.onedriveGraphUrl).toBe('http://127.0.0.1:2/v1.0');
    const both = await loadSettings(env({ ONEDRIVE_GRAPH_URL: 'http://127.0.0.1:1/graph', ONEDRIVE_API_URL: 'http://127.0.0.1:2/v1.0' }));
    expect(both.tokens.onedriveGraphUrl).toBe('http://127.0.0.1:1/graph');
    expect(await problems(env({ ONEDRIVE_GRAPH_URL: 'graph' }))).toEqual(['ONEDRIVE_GRAPH_URL must be an http(s) URL, got "graph"']);
  });

  it('takes GCS_API_URL as the rclone gcs endpoint', async () => {
    expect((await loadSettings(env({ GCS_API_URL: 'http://127.0.0.1:4443/storage/v1/' }))).tokens.gcsApiUrl).toBe('http://127.0.0.1:4443/storage/v1');
    expect(await problems(env({ GCS_API_URL: 'gs://bucket' }))).toEqual(['GCS_API_URL must be an http(s) URL, got "gs://bucket"']);
  });
});

describe('logging', () => {
  it.each(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])('accepts LOG_LEVEL=%s', async (level) => {
    expect((await loadSettings(env({ LOG_LEVEL: level }))).log.level).toBe(level);
  });

  it('accepts LOG_FORMAT=pretty and rejects unknown levels and formats', async () => {
    expect((await loadSettings(env({ LOG_FORMAT: 'pretty' }))).log.format).toBe('pretty');
    expect(await problems(env({ LOG_LEVEL: 'verbose', LOG_FORMAT: 'xml' }))).toEqual([
      'LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, got "verbose"',
      'LOG_FORMAT must be one of json, pretty, got "xml"',
    ]);
  });
});

describe('outbound HTTP: proxy and private CA (the variables rclone reads)', () => {
  const PEM = '-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n';

  it('reads the proxy variables as Go does: upper case wins, a value without a scheme is http://', async () => {
    const s = await loadSettings(
      env({ HTTPS_PROXY: 'http://proxy.corp:3128', https_proxy: 'http://ignored:1', http_proxy: 'proxy.corp:8080', no_proxy: 'hub.corp,10.0.0.0/8' }),
    );
    expect(s.outbound).toMatchObject({ httpsProxy: 'http://proxy.corp:3128/', httpProxy: 'http://proxy.corp:8080/', noProxy: 'hub.corp,10.0.0.0/8' });
    expect((await loadSettings(env({ NO_PROXY: 'a.corp', no_proxy: 'b.corp' }))).outbound.noProxy).toBe('a.corp');
  });

  it('rejects a proxy that is not http(s) without quoting a value that may hold a password', async () => {
    const lines = await problems(env({ HTTPS_PROXY: 'ftp://user:Pr0xyPass@proxy.corp:21', http_proxy: 'http://' }));
    expect(lines).toEqual([
      'HTTPS_PROXY must be an http:// or https:// proxy URL (value not shown: it may hold a password)',
      'http_proxy must be an http:// or https:// proxy URL (value not shown: it may hold a password)',
    ]);
    expect(lines.join('\n')).not.toContain('Pr0xyPass');
  });

  it('reads SSL_CERT_FILE and adds NODE_EXTRA_CA_CERTS, which an explicit CA list would otherwise drop', async () => {
    await writeFile(join(dir, 'corp-ca.pem'), PEM);
    await writeFile(join(dir, 'extra.pem'), PEM.replace('test', 'extra'));
    const s = await loadSettings(env({ SSL_CERT_FILE: join(dir, 'corp-ca.pem'), NODE_EXTRA_CA_CERTS: join(dir, 'extra.pem') }));
    expect(s.outbound.caFile).toBe(join(dir, 'corp-ca.pem'));
    expect(s.outbound.caPem).toContain('MIIBtest');
    expect(s.outbound.caPem).toContain('MIIBextra');
    // NODE_EXTRA_CA_CERTS alone is Node's business: no explicit list.
    expect((await loadSettings(env({ NODE_EXTRA_CA_CERTS: join(dir, 'extra.pem') }))).outbound.caPem).toBeUndefined();
  });

  it('names an unreadable or certificate-less SSL_CERT_FILE', async () => {
    await writeFile(join(dir, 'empty.pem'), 'nothing here');
    expect(await problems(env({ SSL_CERT_FILE: join(dir, 'missing.pem') }))).toEqual([`SSL_CERT_FILE cannot be read: ENOENT (${join(dir, 'missing.pem')})`]);
    expect(await problems(env({ SSL_CERT_FILE: join(dir, 'empty.pem') }))).toEqual([`SSL_CERT_FILE ${join(dir, 'empty.pem')} holds no PEM certificate`]);
  });
});

describe('control endpoint', () => {
  it('is off by default; the token file defaults to the state dir (resolved at start)', async () => {
    expect((await loadSettings(env())).control).toEqual({ port: undefined, socket: undefined, socketMode: 0o600, tokenFile: undefined });
  });

  it('takes a port or a socket with its mode, and a token file', async () => {
    expect((await loadSettings(env({ WORKER_CONTROL_PORT: '0' }))).control.port).toBe(0);
    const s = await loadSettings(env({ WORKER_CONTROL_SOCKET: '/run/worker/control.sock', WORKER_CONTROL_SOCKET_MODE: '0660', WORKER_CONTROL_TOKEN_FILE: '/etc/worker/token' }));
    expect(s.control).toEqual({ port: undefined, socket: '/run/worker/control.sock', socketMode: 0o660, tokenFile: '/etc/worker/token' });
  });

  it('rejects both a port and a socket, and any other socket mode', async () => {
    expect(await problems(env({ WORKER_CONTROL_PORT: '9000', WORKER_CONTROL_SOCKET: '/run/w.sock' }))).toEqual([
      'set only one of WORKER_CONTROL_PORT and WORKER_CONTROL_SOCKET',
    ]);
    expect(await problems(env({ WORKER_CONTROL_SOCKET_MODE: '0666' }))).toEqual(['WORKER_CONTROL_SOCKET_MODE must be one of 0600, 0660, got "0666"']);
  });
});

describe('all problems at once', () => {
  it('throws one permanent ConfigError listing every bad value, and writes nothing', async () => {
    const err = await configError({
      WORKER_STATE_DIR: stateDir,
      WORKER_MAX_JOBS: '0',
      WORKER_POLL_SECONDS: 'fast',
      LOG_LEVEL: 'loud',
      GCS_TOKEN_URL: 'token',
      BACKER_PASSWORD: PASSWORD,
      BACKER_PASSWORD_FILE: join(dir, 'missing'),
    });
    expect(err.code).toBe('WORKER_ERR_CONFIG');
    expect(err.permanent).toBe(true);
    // Listed in the order the loader reads them; the set is what matters.
    expect(err.message.split('\n').slice(1).sort()).toEqual([
      '  - HANNIBAL_URL is required (the hub REST base URL)',
      '  - BACKER_USERNAME is required (the hub login e-mail)',
      '  - set only one of BACKER_PASSWORD and BACKER_PASSWORD_FILE',
      '  - WORKER_MAX_JOBS must be between 1 and 256, got 0',
      '  - WORKER_POLL_SECONDS must be a whole number, got "fast"',
      '  - GCS_TOKEN_URL must be an http(s) URL, got "token"',
      '  - LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, got "loud"',
    ].sort());
    expect(err.message).not.toContain(PASSWORD);
    await expect(stat(stateDir)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('WORKER_CONFIG_FILE', () => {
  it('merges the file under the environment: the environment wins, numbers become strings', async () => {
    const file = await writeJson('worker.json', {
      HANNIBAL_URL: 'http://file.example',
      BACKER_USERNAME: 'file-user@example.test',
      WORKER_MAX_JOBS: 8,
      LOG_FORMAT: 'pretty',
    });
    const s = await loadSettings(env({ WORKER_CONFIG_FILE: file, BACKER_USERNAME: undefined, HANNIBAL_URL: 'http://env.example' }));
    expect(s.hub.url).toBe('http://env.example');
    expect(s.hub.username).toBe('file-user@example.test');
    expect(s.worker.maxJobs).toBe(8);
    expect(s.log.format).toBe('pretty');
  });

  it('keeps the file value when the environment sets the variable empty', async () => {
    const file = await writeJson('worker.json', { BACKER_USERNAME: 'file-user@example.test', WORKER_MAX_JOBS: 8 });
    const s = await loadSettings(env({ WORKER_CONFIG_FILE: file, BACKER_USERNAME: '', WORKER_MAX_JOBS: ' ' }));
    expect(s.hub.username).toBe('file-user@example.test');
    expect(s.worker.maxJobs).toBe(8);
  });

  it('turns booleans into strings and reports nested values by key, without their content', async () => {
    const file = await writeJson('worker.json', { WORKER_OWNER_ID: true, BACKER_PASSWORD: { value: PASSWORD }, LIST: [1] });
    const { source, problems: found } = readSources({ WORKER_CONFIG_FILE: file });
    expect(source.WORKER_OWNER_ID).toBe('true');
    expect(found).toEqual([
      `WORKER_CONFIG_FILE ${file}: BACKER_PASSWORD must be a string, number or boolean`,
      `WORKER_CONFIG_FILE ${file}: LIST must be a string, number or boolean`,
    ]);
    expect(found.join('\n')).not.toContain(PASSWORD);
  });

  it('lists file problems together with the other problems', async () => {
    const file = await writeJson('worker.json', { WORKER_MAX_JOBS: { n: 3 } });
    expect(await problems(env({ WORKER_CONFIG_FILE: file, WORKER_POLL_SECONDS: '0' }))).toEqual([
      `WORKER_CONFIG_FILE ${file}: WORKER_MAX_JOBS must be a string, number or boolean`,
      'WORKER_POLL_SECONDS must be between 1 and 60, got 0',
    ]);
  });

  it.each([['[1, 2]'], ['"a string"'], ['null'], ['42']])('rejects %s: not a JSON object', async (content) => {
    const file = await writeJson('worker.json', content);
    expect(await problems(env({ WORKER_CONFIG_FILE: file }))).toEqual([`WORKER_CONFIG_FILE ${file} must hold a JSON object of VARIABLE: value`]);
  });

  it('reports a file that is not JSON, or missing, naming the file', async () => {
    const bad = await writeJson('bad.json', '{ "LOG_LEVEL": "debug", }');
    const [badProblem] = await problems(env({ WORKER_CONFIG_FILE: bad }));
    expect(badProblem).toBe(`WORKER_CONFIG_FILE ${bad} cannot be read as JSON: not valid JSON at position 24`);

    const missing = join(dir, 'missing.json');
    const [missingProblem] = await problems(env({ WORKER_CONFIG_FILE: missing }));
    expect(missingProblem).toMatch(new RegExp(`^WORKER_CONFIG_FILE ${missing} cannot be read as JSON: .*ENOENT`));
  });

  it.each([
    ['an unquoted secret', `{"BACKER_PASSWORD": ${PASSWORD}}`],
    ['a secret after the document', `{"A": 1} ${PASSWORD}`],
    ['a secret with a bad escape', `{"BACKER_PASSWORD": "${PASSWORD}\\q"}`],
    ['a secret as the whole file', PASSWORD],
  ])('never quotes the file in a JSON error (%s)', async (_case, content) => {
    const file = await writeJson('secret.json', content);
    const err = await configError(env({ WORKER_CONFIG_FILE: file }));
    expect(err.message).toContain(`WORKER_CONFIG_FILE ${file} cannot be read as JSON`);
    expect(err.message).not.toContain(PASSWORD);
    expect(err.message).not.toContain(PASSWORD.slice(0, 8));
  });
});

describe('owner id', () => {
  it('uses WORKER_OWNER_ID as given and persists nothing', async () => {
    const s = await loadSettings(env({ WORKER_OWNER_ID: 'worker-a' }));
    expect(s.worker.ownerId).toBe('worker-a');
    await expect(stat(join(stateDir, 'owner-id'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('generates <host>-<8 hex> once, keeps it private in the state dir, and reuses it', async () => {
    const first = await loadSettings(env());
    expect(first.worker.ownerId.startsWith(`${hostname()}-`)).toBe(true);
    expect(first.worker.ownerId.slice(hostname().length + 1)).toMatch(/^[0-9a-f]{8}$/);
    const file = join(stateDir, 'owner-id');
    expect(await readFile(file, 'utf8')).toBe(`${first.worker.ownerId}\n`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);

    const second = await loadSettings(env());
    expect(second.worker.ownerId).toBe(first.worker.ownerId);
  });

  it('differs between two state dirs on the same host', async () => {
    const a = await loadSettings(env({ WORKER_STATE_DIR: join(dir, 'a') }));
    const b = await loadSettings(env({ WORKER_STATE_DIR: join(dir, 'b') }));
    expect(a.worker.ownerId).not.toBe(b.worker.ownerId);
  });

  it('keeps an id written by an earlier version or an operator; regenerates for an empty file', async () => {
    const custom = join(dir, 'custom');
    await rm(custom, { force: true });
    persistentOwnerId(custom);
    await writeFile(join(custom, 'owner-id'), '  operator-chosen-id \n');
    expect(persistentOwnerId(custom)).toBe('operator-chosen-id');
    await writeFile(join(custom, 'owner-id'), '\n');
    expect(persistentOwnerId(custom)).toMatch(/-[0-9a-f]{8}$/);
  });

  it('puts the state dir under XDG_STATE_HOME, else ~/.local/state', async () => {
    const xdg = join(dir, 'xdg');
    const s = await loadSettings(env({ WORKER_STATE_DIR: undefined, XDG_STATE_HOME: xdg }));
    expect(s.worker.stateDir).toBe(join(xdg, 'rclone-sync-worker'));
    expect(await readFile(join(xdg, 'rclone-sync-worker', 'owner-id'), 'utf8')).toBe(`${s.worker.ownerId}\n`);
    expect(defaultStateDir({})).toBe(join(homedir(), '.local', 'state', 'rclone-sync-worker'));
    expect(defaultStateDir({ XDG_STATE_HOME: ' ' })).toBe(join(homedir(), '.local', 'state', 'rclone-sync-worker'));
  });
});
