/**
 * The worker's network id, as the .NET worker computes it (anchor-backer.md §4.5): the gateway
 * of the default route, IPv6 preferred, else IPv4, else "Unknown". The hub only gives a worker
 * jobs whose storages are reachable from its network.
 */
import { readFile } from 'node:fs/promises';

export const UNKNOWN_NETWORK = 'Unknown';

/** Parses /proc/net/ipv6_route: the default route (::/0) with a non-zero next hop. */
export function ipv6DefaultGateway(table: string): string | undefined {
  for (const line of table.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 10) continue;
    const [dest, destLen, , , nextHop] = cols;
    if (dest !== '0'.repeat(32) || destLen !== '00' || !nextHop || /^0+$/.test(nextHop)) continue;
    const groups = nextHop.match(/.{4}/g) ?? [];
    return compressIpv6(groups.map((g) => g.replace(/^0+(?=.)/, '')));
  }
  return undefined;
}

/** Parses /proc/net/route: the default route (destination 0) gateway, little-endian hex. */
export function ipv4DefaultGateway(table: string): string | undefined {
  for (const line of table.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    const [, dest, gateway] = cols;
    if (dest !== '00000000' || !gateway || gateway === '00000000') continue;
    const bytes = gateway.match(/.{2}/g)?.map((b) => parseInt(b, 16)) ?? [];
    return bytes.reverse().join('.');
  }
  return undefined;
}

function compressIpv6(groups: string[]): string {
  // Replace the longest run of zero groups with "::" (RFC 5952).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== '0') {
      i += 1;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === '0') j += 1;
    if (j - i > bestLen && j - i > 1) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLen).join(':')}`;
}

export async function detectNetworkId(): Promise<string> {
  const read = (path: string) => readFile(path, 'utf8').catch(() => '');
  const [v6, v4] = await Promise.all([read('/proc/net/ipv6_route'), read('/proc/net/route')]);
  return ipv6DefaultGateway(v6) ?? ipv4DefaultGateway(v4) ?? UNKNOWN_NETWORK;
}
