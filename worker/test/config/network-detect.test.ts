/**
 * detectNetworkId's choice between the route tables: IPv6 gateway preferred, then IPv4, then
 * "Unknown". The /proc files are replaced by samples through a mocked `readFile`.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';

const tables = vi.hoisted(() => ({ v6: undefined as string | undefined, v4: undefined as string | undefined }));

vi.mock('node:fs/promises', () => ({
  readFile: (path: string) => {
    const content = path === '/proc/net/ipv6_route' ? tables.v6 : path === '/proc/net/route' ? tables.v4 : undefined;
    if (content === undefined) return Promise.reject(Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' }));
    return Promise.resolve(content);
  },
}));

const { UNKNOWN_NETWORK, detectNetworkId } = await import('../../src/config/network.js');

const ZERO = '0'.repeat(32);
const V6_WITH_GATEWAY = `${ZERO} 00 ${ZERO} 00 fe800000000000000e7274fffe07ee9c 00000400 00000001 00000000 00000003     eth0\n`;
const V6_WITHOUT_GATEWAY = `${ZERO} 00 ${ZERO} 00 ${ZERO} ffffffff 00000001 00000000 00200200       lo\n`;
const V4_WITH_GATEWAY = 'Iface\tDestination\tGateway \tFlags\nens3\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n';

beforeEach(() => {
  tables.v6 = undefined;
  tables.v4 = undefined;
});

describe('detectNetworkId', () => {
  it('prefers the IPv6 gateway when both exist', async () => {
    tables.v6 = V6_WITH_GATEWAY;
    tables.v4 = V4_WITH_GATEWAY;
    await expect(detectNetworkId()).resolves.toBe('fe80::e72:74ff:fe07:ee9c');
  });

  it('falls back to the IPv4 gateway when IPv6 has no default gateway or is missing', async () => {
    tables.v6 = V6_WITHOUT_GATEWAY;
    tables.v4 = V4_WITH_GATEWAY;
    await expect(detectNetworkId()).resolves.toBe('192.168.1.1');
    tables.v6 = undefined;
    await expect(detectNetworkId()).resolves.toBe('192.168.1.1');
  });

  it('answers "Unknown" when there is no gateway or no /proc at all', async () => {
    tables.v6 = V6_WITHOUT_GATEWAY;
    tables.v4 = 'Iface\tDestination\tGateway\n';
    await expect(detectNetworkId()).resolves.toBe(UNKNOWN_NETWORK);
    tables.v6 = undefined;
    tables.v4 = undefined;
    await expect(detectNetworkId()).resolves.toBe('Unknown');
  });
});
