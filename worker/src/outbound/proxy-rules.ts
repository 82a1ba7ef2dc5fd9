/**
 * Which requests go through the proxy: the rules of Go's `net/http` (`httpproxy.FromEnvironment`),
 * which is what the supervised rclone applies to the same variables, so the worker and its rclone
 * never disagree about a host (research/rclone-providers-lab.md Q1):
 *
 * - `HTTPS_PROXY` for https URLs, `HTTP_PROXY` for http URLs; `HTTP_PROXY` alone does *not*
 *   apply to https (undici's `EnvHttpProxyAgent` would fall back to it; Go does not).
 * - Loopback is never proxied: `localhost`, 127.0.0.0/8, ::1.
 * - `NO_PROXY` is a comma- or space-separated list of: `*` (nothing is proxied); an IP address
 *   (`10.1.2.3`) or CIDR (`10.0.0.0/8`); a domain, which matches itself and its subdomains
 *   (`example.com`); a domain with a leading `.` or `*.`, which matches subdomains only. Each may
 *   carry a port (`example.com:8443`, `[fd00::1]:443`) and then matches that port only.
 */
import { BlockList, isIP } from 'node:net';

type Rule =
  | { kind: 'ip'; block: BlockList; port: number }
  | { kind: 'domain'; name: string; subdomainsOnly: boolean; port: number };

export class ProxyRules {
  private readonly all: boolean;
  private readonly rules: Rule[];

  constructor(noProxy: string | undefined) {
    const entries = (noProxy ?? '')
      .split(/[,\s]+/)
      .map((e) => e.trim().toLowerCase())
      .filter((e) => e !== '');
    this.all = entries.includes('*');
    this.rules = entries.flatMap((entry) => parseEntry(entry) ?? []);
  }

  /** True when a request to `hostname:port` must not go through a proxy. */
  bypass(hostname: string, port: number): boolean {
    const host = hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
    if (this.all || isLoopback(host)) return true;
    const family = isIP(host);
    return this.rules.some((rule) => {
      if (rule.port !== 0 && rule.port !== port) return false;
      if (rule.kind === 'ip') return family !== 0 && rule.block.check(host, family === 6 ? 'ipv6' : 'ipv4');
      if (family !== 0) return false;
      return host.endsWith(`.${rule.name}`) || (!rule.subdomainsOnly && host === rule.name);
    });
  }
}

function parseEntry(entry: string): Rule | undefined {
  const { host, port } = splitPort(entry);
  const [address, prefix] = host.split('/');
  const family = isIP(address ?? '');
  if (address !== undefined && family !== 0) {
    const block = new BlockList();
    const type = family === 6 ? 'ipv6' : 'ipv4';
    const bits = prefix === undefined ? undefined : Number(prefix);
    if (bits === undefined) block.addAddress(address, type);
    else if (Number.isInteger(bits) && bits >= 0 && bits <= (family === 6 ? 128 : 32)) block.addSubnet(address, bits, type);
    else return undefined;
    return { kind: 'ip', block, port };
  }
  const subdomainsOnly = host.startsWith('.') || host.startsWith('*.');
  const name = host.replace(/^\*?\./, '');
  return name === '' ? undefined : { kind: 'domain', name, subdomainsOnly, port };
}

/** `host:port`, `[v6]:port`, a bare IPv6 address (no port), or a host alone (port 0 = any). */
function splitPort(entry: string): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { host: bracketed[1] ?? '', port: Number(bracketed[2] ?? 0) };
  const withPort = /^([^:]+):(\d+)$/.exec(entry);
  if (withPort) return { host: withPort[1] ?? '', port: Number(withPort[2]) };
  return { host: entry, port: 0 };
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const family = isIP(host);
  if (family === 4) return host.startsWith('127.');
  if (family === 6) return LOOPBACK_V6.check(host, 'ipv6');
  return false;
}

const LOOPBACK_V6 = new BlockList();
LOOPBACK_V6.addAddress('::1', 'ipv6');
LOOPBACK_V6.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');
