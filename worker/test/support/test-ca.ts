/**
 * A private CA and a server certificate signed by it, made with the openssl CLI at test time
 * (never committed): what an operator with an internal CA, or behind a TLS-inspecting proxy, has.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCa {
  /** PEM of the CA certificate (what `SSL_CERT_FILE` names). */
  caPem: string;
  caFile: string;
  /** Key and certificate of a server whose SANs are the names given. */
  key: string;
  cert: string;
  remove(): Promise<void>;
}

export async function makeTestCa(names: string[]): Promise<TestCa> {
  const dir = await mkdtemp(join(tmpdir(), 'test-ca-'));
  const path = (name: string) => join(dir, name);
  const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=worker test CA', '-keyout', path('ca.key'), '-out', path('ca.pem')]);
  await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${names[0] ?? 'localhost'}`, '-keyout', path('leaf.key'), '-out', path('leaf.csr')]);
  await writeFile(path('leaf.ext'), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  await run('openssl', ['x509', '-req', '-in', path('leaf.csr'), '-CA', path('ca.pem'), '-CAkey', path('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', path('leaf.ext'), '-out', path('leaf.pem')]);
  return {
    caPem: await readFile(path('ca.pem'), 'utf8'),
    caFile: path('ca.pem'),
    key: await readFile(path('leaf.key'), 'utf8'),
    cert: await readFile(path('leaf.pem'), 'utf8'),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
