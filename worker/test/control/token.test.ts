/**
 * The control token: generated 0600 into the state dir when not configured (its path logged,
 * never its value), read on every check, compared in constant time, unusable files fail closed.
 */
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bearerToken, ControlToken, sameSecret } from '../../src/control/token.js';
import { recordingLogger } from '../support/recording-logger.js';

const TOKEN = 'control-T0ken-for-tests-only-7f3a';
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'control-token-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function tokenFile(content: string, mode = 0o600): Promise<string> {
  const file = join(dir, 'token');
  await writeFile(file, content, { mode });
  await chmod(file, mode);
  return file;
}

describe('ControlToken', () => {
  it('generates a private token into the state dir, logs its path only, and keeps it across starts', async () => {
    const stateDir = join(dir, 'state');
    const { logger, records } = recordingLogger();
    const token = await ControlToken.prepare({ file: undefined, stateDir, logger });
    expect(token.file).toBe(join(stateDir, 'control-token'));
    expect((await stat(token.file)).mode & 0o777).toBe(0o600);
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);
    const generated = (await readFile(token.file, 'utf8')).trim();
    expect(generated).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(records).toContainEqual(expect.objectContaining({ tokenFile: token.file, generated: true }));
    expect(JSON.stringify(records)).not.toContain(generated);
    expect(await token.verify(`Bearer ${generated}`)).toBe('ok');

    const again = await ControlToken.prepare({ file: undefined, stateDir, logger });
    expect((await readFile(again.file, 'utf8')).trim()).toBe(generated);
    expect(records.at(-1)).toMatchObject({ generated: false });
  });

  it('tells missing credentials from a wrong token', async () => {
    const token = await ControlToken.prepare({ file: await tokenFile(`${TOKEN}\n`), stateDir: dir, logger: recordingLogger().logger });
    expect(await token.verify(undefined)).toBe('missing');
    expect(await token.verify('')).toBe('missing');
    expect(await token.verify(`Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`)).toBe('missing');
    expect(await token.verify('Bearer')).toBe('missing');
    expect(await token.verify(`Bearer ${TOKEN}x`)).toBe('invalid');
    expect(await token.verify(`Bearer ${TOKEN.slice(0, -1)}`)).toBe('invalid');
    expect(await token.verify(`Bearer ${TOKEN}`)).toBe('ok');
    expect(await token.verify(`bearer ${TOKEN}`)).toBe('ok');
  });

  it('reads the file on every check, so rewriting it rotates the token', async () => {
    const file = await tokenFile(TOKEN);
    const token = await ControlToken.prepare({ file, stateDir: dir, logger: recordingLogger().logger });
    await writeFile(file, 'rotated-token-0123456789');
    expect(await token.verify(`Bearer ${TOKEN}`)).toBe('invalid');
    expect(await token.verify('Bearer rotated-token-0123456789')).toBe('ok');
  });

  it.each([
    ['missing', async () => join(dir, 'no-such-file'), /cannot read it \(ENOENT\)/],
    ['a directory', async () => dir, /not a regular file/],
    ['readable by everyone', async () => tokenFile(TOKEN, 0o644), /readable by every local user/],
    ['too short', async () => tokenFile('short'), /at least 16 characters/],
    ['empty', async () => tokenFile('\n'), /at least 16 characters/],
    ['more than one word', async () => tokenFile(`${TOKEN} ${TOKEN}`), /one word/],
  ])('fails closed when the configured file is %s, logging why once', async (_, file, reason) => {
    const { logger, records } = recordingLogger();
    const token = await ControlToken.prepare({ file: await file(), stateDir: dir, logger });
    expect(await token.verify(`Bearer ${TOKEN}`)).toBe('unavailable');
    expect(await token.verify(`Bearer ${TOKEN}`)).toBe('unavailable');
    const problems = records.filter((r) => r.msg.startsWith('control token file is unusable'));
    expect(problems).toHaveLength(1);
    expect(problems[0]?.reason).toMatch(reason);
    // Missing credentials are still missing: the caller learns what to send.
    expect(await token.verify(undefined)).toBe('missing');
  });

  it('never generates over a configured file', async () => {
    const file = join(dir, 'configured-token');
    await ControlToken.prepare({ file, stateDir: dir, logger: recordingLogger().logger });
    await expect(stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('bearerToken and sameSecret', () => {
  it('takes the token of a Bearer header only', () => {
    expect(bearerToken(`Bearer ${TOKEN}`)).toBe(TOKEN);
    expect(bearerToken(`BEARER  ${TOKEN} `)).toBe(TOKEN);
    expect(bearerToken(`Bearer ${TOKEN} extra`)).toBeUndefined();
    expect(bearerToken(`Token ${TOKEN}`)).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });

  it('compares whole secrets of any length', () => {
    expect(sameSecret(TOKEN, TOKEN)).toBe(true);
    expect(sameSecret(TOKEN, `${TOKEN}a`)).toBe(false);
    expect(sameSecret('', TOKEN)).toBe(false);
    expect(sameSecret('', '')).toBe(true);
  });
});
