/**
 * The token writer: Go's encoding of golang.org/x/oauth2 `Token` (so rclone, re-reading it,
 * finds nothing to save), and the surgical, atomic rewrite of one line of rclone.conf.
 */
import { mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigTokenError, goTime, rcloneTokenJson, replaceTokenLine, writeRemoteToken } from '../../src/rclone/config-token.js';

describe('rcloneTokenJson', () => {
  it('writes the fields in the struct order of oauth2.Token, without empty optional ones', () => {
    expect(rcloneTokenJson({ access_token: 'sl.A', token_type: 'Bearer', expiry: '2026-11-30T10:00:00.123Z' })).toBe(
      '{"access_token":"sl.A","token_type":"Bearer","expiry":"2026-11-30T10:00:00.123Z"}',
    );
    expect(rcloneTokenJson({ access_token: 'a', token_type: '', refresh_token: 'r', expiry: '2026-11-30T10:00:00Z' })).toBe(
      '{"access_token":"a","refresh_token":"r","expiry":"2026-11-30T10:00:00Z"}',
    );
  });

  it('writes the expiry as Go’s RFC3339Nano: UTC as Z, trailing zeros of the fraction dropped', () => {
    expect(goTime(Date.parse('2026-11-30T10:00:00.120Z'))).toBe('2026-11-30T10:00:00.12Z');
    expect(goTime(Date.parse('2026-11-30T10:00:00.100Z'))).toBe('2026-11-30T10:00:00.1Z');
    expect(goTime(Date.parse('2026-11-30T10:00:00.000Z'))).toBe('2026-11-30T10:00:00Z');
    expect(goTime(Date.parse('2026-11-30T11:00:00.5+01:00'))).toBe('2026-11-30T10:00:00.5Z');
  });

  it('escapes strings as encoding/json does (HTML-safe, control characters as \\u00XX)', () => {
    const json = rcloneTokenJson({ access_token: 'a<b>&c"d\\e\nf\bg\u2028', token_type: 'Bearer', expiry: '2026-11-30T10:00:00Z' });
    expect(json).toContain(String.raw`"a\u003cb\u003e\u0026c\"d\\e\nf\u0008g\u2028"`);
    expect((JSON.parse(json) as { access_token: string }).access_token).toBe('a<b>&c"d\\e\nf\bg\u2028');
  });

  it('refuses an expiry that is not a date', () => {
    expect(() => rcloneTokenJson({ access_token: 'a', token_type: 'Bearer', expiry: 'soon' })).toThrow(ConfigTokenError);
  });
});

const CONFIG = [
  '[first]',
  'type = dropbox',
  'token = {"access_token":"old-1","token_type":"Bearer","expiry":"2026-11-30T10:00:00Z"}',
  '',
  '[second]',
  'type = drive',
  'scope = drive',
  'token = {"access_token":"old-2","token_type":"Bearer","expiry":"2026-11-30T10:00:00Z"}',
  '',
  '[plain]',
  'type = local',
  '',
].join('\n');

describe('replaceTokenLine', () => {
  it('replaces the token of the named section only and keeps every other byte', () => {
    const next = replaceTokenLine(CONFIG, 'second', '{"access_token":"new"}');
    expect(next).toBe(CONFIG.replace('{"access_token":"old-2","token_type":"Bearer","expiry":"2026-11-30T10:00:00Z"}', '{"access_token":"new"}'));
  });

  it('refuses a missing section and a section without a token line', () => {
    expect(() => replaceTokenLine(CONFIG, 'nowhere', '{}')).toThrow(/no section \[nowhere\]/);
    expect(() => replaceTokenLine(CONFIG, 'plain', '{}')).toThrow(/has no token line/);
    // The token line of the next section is not the missing one of this section.
    expect(() => replaceTokenLine('[a]\ntype = local\n[b]\ntoken = {}\n', 'a', '{}')).toThrow(/has no token line/);
  });
});

describe('writeRemoteToken', () => {
  let dir: string;
  let path: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'config-token-'));
    path = join(dir, 'rclone.conf');
    await writeFile(path, CONFIG, { mode: 0o600 });
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('replaces the file atomically, 0600, leaving no temp file', async () => {
    await writeRemoteToken(path, 'first', '{"access_token":"new"}');
    expect(await readFile(path, 'utf8')).toContain('token = {"access_token":"new"}\n\n[second]');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['rclone.conf']);
  });

  it('gives the new file a later mtime even when the old one is in the future (same size, same clock tick)', async () => {
    const future = Date.now() / 1000 + 60;
    await utimes(path, future, future);
    const before = await stat(path, { bigint: true });
    await writeRemoteToken(path, 'first', '{"access_token":"old-1","token_type":"Bearer","expiry":"2026-11-30T10:00:01Z"}');
    const after = await stat(path, { bigint: true });
    expect(after.size).toBe(before.size);
    expect(after.mtimeNs > before.mtimeNs).toBe(true);
  });

  it('refuses values rclone’s INI reader would change, and leaves the file alone', async () => {
    await expect(writeRemoteToken(path, 'first', '{"a":"x\ny"}')).rejects.toThrow(ConfigTokenError);
    await expect(writeRemoteToken(path, 'first', '{"a":"`"}')).rejects.toThrow(ConfigTokenError);
    await expect(writeRemoteToken(path, 'missing', '{}')).rejects.toThrow(ConfigTokenError);
    expect(await readFile(path, 'utf8')).toBe(CONFIG);
    expect(await readdir(dir)).toEqual(['rclone.conf']);
  });
});
