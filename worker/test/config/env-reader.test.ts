/**
 * EnvReader: typed reads that collect one message per bad value and never quote a secret.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvReader } from '../../src/config/env-reader.js';

const SECRET = 'S3cr3t-value-never-printed';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'env-reader-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('raw and string', () => {
  it('trims values and treats empty or blank as unset', () => {
    const r = new EnvReader({ A: '  value  ', EMPTY: '', BLANK: '   ' });
    expect(r.raw('A')).toBe('value');
    expect(r.raw('EMPTY')).toBeUndefined();
    expect(r.raw('BLANK')).toBeUndefined();
    expect(r.raw('MISSING')).toBeUndefined();
    expect(r.string('BLANK', 'fallback')).toBe('fallback');
    expect(r.string('A', 'fallback')).toBe('value');
    expect(r.string('MISSING')).toBeUndefined();
    expect(r.problems).toEqual([]);
  });
});

describe('required', () => {
  it('reports a missing value with the reason it is needed', () => {
    const r = new EnvReader({ SET: 'x', BLANK: ' ' });
    expect(r.required('SET', 'why')).toBe('x');
    expect(r.required('BLANK', 'the hub login e-mail')).toBe('');
    expect(r.problems).toEqual(['BLANK is required (the hub login e-mail)']);
  });
});

describe('int', () => {
  const range = { min: 1, max: 100 };

  it('uses the fallback when unset and accepts both ends of the range', () => {
    const r = new EnvReader({ LOW: '1', HIGH: '100', SPACED: ' 42 ' });
    expect(r.int('UNSET', 30, range)).toBe(30);
    expect(r.int('LOW', 30, range)).toBe(1);
    expect(r.int('HIGH', 30, range)).toBe(100);
    expect(r.int('SPACED', 30, range)).toBe(42);
    expect(r.problems).toEqual([]);
  });

  it.each(['abc', '1.5', '1e2', '0x10', '10s', '+5'])('rejects %j as not a whole number', (value) => {
    const r = new EnvReader({ N: value });
    expect(r.int('N', 30, range)).toBe(30);
    expect(r.problems).toEqual([`N must be a whole number, got "${value}"`]);
  });

  it.each([
    ['0', 0],
    ['101', 101],
    ['-5', -5],
  ])('rejects %s as out of range', (value, n) => {
    const r = new EnvReader({ N: value });
    expect(r.int('N', 30, range)).toBe(30);
    expect(r.problems).toEqual([`N must be between 1 and 100, got ${n}`]);
  });
});

describe('url', () => {
  it('accepts http and https URLs and drops trailing slashes', () => {
    const r = new EnvReader({ A: 'http://127.0.0.1:8080/', B: 'https://hub.example/api///', C: 'https://hub.example' });
    expect(r.url('A')).toBe('http://127.0.0.1:8080');
    expect(r.url('B')).toBe('https://hub.example/api');
    expect(r.url('C', 'https://fallback')).toBe('https://hub.example');
    expect(r.url('UNSET', 'https://fallback')).toBe('https://fallback');
    expect(r.url('UNSET')).toBeUndefined();
    expect(r.problems).toEqual([]);
  });

  it.each(['not a url', 'ftp://files.example', 'file:///etc/passwd', 'hub.example.com'])('rejects %j', (value) => {
    const r = new EnvReader({ U: value });
    expect(r.url('U', 'https://fallback')).toBe('https://fallback');
    expect(r.problems).toEqual([`U must be an http(s) URL, got "${value}"`]);
  });
});

describe('oneOf', () => {
  it('accepts an allowed value, falls back when unset, reports anything else with the choices', () => {
    const r = new EnvReader({ OK: 'pretty', BAD: 'xml' });
    const formats = ['json', 'pretty'] as const;
    expect(r.oneOf('OK', formats, 'json')).toBe('pretty');
    expect(r.oneOf('UNSET', formats, 'json')).toBe('json');
    expect(r.oneOf('BAD', formats, 'json')).toBe('json');
    expect(r.problems).toEqual(['BAD must be one of json, pretty, got "xml"']);
  });
});

describe('secret', () => {
  it('reads the value directly', () => {
    const r = new EnvReader({ PASS: SECRET });
    expect(r.secret('PASS')).toBe(SECRET);
    expect(r.secret('UNSET')).toBeUndefined();
    expect(r.problems).toEqual([]);
  });

  it('reads NAME_FILE and drops one trailing newline (LF or CRLF), nothing else', async () => {
    const lf = join(dir, 'lf');
    const crlf = join(dir, 'crlf');
    const two = join(dir, 'two-newlines');
    await writeFile(lf, `${SECRET}\n`);
    await writeFile(crlf, `${SECRET}\r\n`);
    await writeFile(two, ` ${SECRET}\n\n`);
    const r = new EnvReader({ A_FILE: lf, B_FILE: crlf, C_FILE: two });
    expect(r.secret('A')).toBe(SECRET);
    expect(r.secret('B')).toBe(SECRET);
    expect(r.secret('C')).toBe(` ${SECRET}\n`);
    expect(r.problems).toEqual([]);
  });

  it('reports setting both NAME and NAME_FILE without quoting the secret', async () => {
    const file = join(dir, 'both');
    await writeFile(file, 'other-secret');
    const r = new EnvReader({ PASS: SECRET, PASS_FILE: file });
    r.secret('PASS');
    expect(r.problems).toEqual(['set only one of PASS and PASS_FILE']);
  });

  it('names an unreadable file and why, never its content', async () => {
    const missing = join(dir, 'does-not-exist');
    const unreadable = join(dir, 'unreadable');
    await writeFile(unreadable, SECRET);
    await chmod(unreadable, 0o000);
    const r = new EnvReader({ A_FILE: missing, B_FILE: dir, C_FILE: unreadable });
    expect(r.secret('A')).toBeUndefined();
    expect(r.secret('B')).toBeUndefined();
    r.secret('C');
    expect(r.problems[0]).toBe(`A_FILE cannot be read: ENOENT (${missing})`);
    expect(r.problems[1]).toBe(`B_FILE cannot be read: EISDIR (${dir})`);
    // Root can read a mode-000 file; everyone else gets EACCES.
    if (process.getuid?.() !== 0) expect(r.problems[2]).toBe(`C_FILE cannot be read: EACCES (${unreadable})`);
    for (const p of r.problems) expect(p).not.toContain(SECRET);
  });

  it('reports an empty secret file', async () => {
    const empty = join(dir, 'empty');
    await writeFile(empty, '\n');
    const r = new EnvReader({ PASS_FILE: empty });
    r.secret('PASS');
    expect(r.problems).toEqual([`PASS_FILE names an empty file: ${empty}`]);
  });
});
