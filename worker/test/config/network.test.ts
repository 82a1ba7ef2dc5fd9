/**
 * Network id parsing from /proc/net samples: the default route's gateway, IPv6 in RFC 5952 form,
 * IPv4 from little-endian hex.
 */
import { describe, expect, it } from 'vitest';
import { ipv4DefaultGateway, ipv6DefaultGateway } from '../../src/config/network.js';

const ZERO = '0'.repeat(32);

/** One /proc/net/ipv6_route line: dest, dest len, source, source len, next hop, metric, refcnt, use, flags, iface. */
function v6Route(dest: string, destLen: string, nextHop: string, iface = 'eth0'): string {
  return `${dest} ${destLen} ${ZERO} 00 ${nextHop} 00000400 00000001 00000000 00000003 ${iface.padStart(8)}`;
}

const V4_HEADER = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT';
function v4Route(dest: string, gateway: string, iface = 'eth0'): string {
  return `${iface}\t${dest}\t${gateway}\t0003\t0\t0\t100\t00000000\t0\t0\t0                                                                           `;
}

describe('ipv6DefaultGateway', () => {
  it('finds the next hop of ::/0 among other routes', () => {
    const table = [
      v6Route('fe800000000000000000000000000000', '40', ZERO),
      v6Route('20010db8000000000000000000000000', '40', ZERO),
      v6Route(ZERO, '00', 'fe800000000000000e7274fffe07ee9c'),
      v6Route(ZERO, '00', ZERO, 'lo'),
      '',
    ].join('\n');
    expect(ipv6DefaultGateway(table)).toBe('fe80::e72:74ff:fe07:ee9c');
  });

  it('ignores default routes without a next hop (on-link, unreachable) and non-default routes', () => {
    const table = [
      v6Route(ZERO, '00', ZERO, 'lo'),
      v6Route('20010db8000000000000000000000000', '20', '20010db8000000000000000000000001'),
      v6Route(ZERO, '40', '20010db8000000000000000000000001'),
    ].join('\n');
    expect(ipv6DefaultGateway(table)).toBeUndefined();
  });

  it('returns undefined for an empty or malformed table', () => {
    expect(ipv6DefaultGateway('')).toBeUndefined();
    expect(ipv6DefaultGateway('garbage line\nmore garbage')).toBeUndefined();
  });

  it.each([
    // Longest zero run compressed; leading zeros of groups dropped.
    ['20010db8000000000000000000000001', '2001:db8::1'],
    // Of two equally long runs the first is compressed.
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    // The longer run wins even when it comes second.
    ['20010000000000010000000000000001', '2001:0:0:1::1'],
    // A single zero group is not compressed.
    ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'],
    // Runs at either end.
    ['00000000000000000000000000000001', '::1'],
    ['fe800000000000000000000000000000', 'fe80::'],
    // No zero group at all.
    ['20010db8aaaabbbbccccddddeeeeffff', '2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff'],
  ])('writes next hop %s as %s (RFC 5952)', (hex, expected) => {
    expect(ipv6DefaultGateway(v6Route(ZERO, '00', hex))).toBe(expected);
  });
});

describe('ipv4DefaultGateway', () => {
  it('decodes the default route gateway from little-endian hex', () => {
    const table = [V4_HEADER, v4Route('0002A8C0', '00000000'), v4Route('00000000', '0102A8C0'), ''].join('\n');
    expect(ipv4DefaultGateway(table)).toBe('192.168.2.1');
  });

  it('decodes 10.0.0.1 and 172.17.0.1', () => {
    expect(ipv4DefaultGateway([V4_HEADER, v4Route('00000000', '0100000A')].join('\n'))).toBe('10.0.0.1');
    expect(ipv4DefaultGateway([V4_HEADER, v4Route('00000000', '010011AC', 'docker0')].join('\n'))).toBe('172.17.0.1');
  });

  it('skips the header and default routes without a gateway', () => {
    expect(ipv4DefaultGateway([V4_HEADER, v4Route('00000000', '00000000')].join('\n'))).toBeUndefined();
    expect(ipv4DefaultGateway(V4_HEADER)).toBeUndefined();
    expect(ipv4DefaultGateway('')).toBeUndefined();
  });
});
