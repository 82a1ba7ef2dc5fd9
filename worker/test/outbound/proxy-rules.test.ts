/** Which hosts bypass the proxy: Go's rules, so the worker and its rclone agree (proxy-rules.ts). */
import { describe, expect, it } from 'vitest';
import { ProxyRules } from '../../src/outbound/proxy-rules.js';

describe('ProxyRules', () => {
  it('never proxies loopback, whatever NO_PROXY says', () => {
    const rules = new ProxyRules(undefined);
    for (const host of ['localhost', 'LOCALHOST', '127.0.0.1', '127.0.0.2', '[::1]', '::1', '::ffff:127.0.0.1']) expect(rules.bypass(host, 80), host).toBe(true);
    for (const host of ['[::2]', '10.0.0.1', 'local.localhost', 'localhost.net', 'graph.microsoft.com']) expect(rules.bypass(host, 443), host).toBe(false);
  });

  it('matches a domain and its subdomains, a leading dot or *. subdomains only, never a mere suffix', () => {
    const rules = new ProxyRules('corp.example, .intra.example,*.lab.example');
    expect(rules.bypass('corp.example', 443)).toBe(true);
    expect(rules.bypass('hub.corp.example', 443)).toBe(true);
    expect(rules.bypass('notcorp.example', 443)).toBe(false);
    expect(rules.bypass('intra.example', 443)).toBe(false);
    expect(rules.bypass('hub.intra.example', 443)).toBe(true);
    expect(rules.bypass('lab.example', 443)).toBe(false);
    expect(rules.bypass('x.lab.example', 443)).toBe(true);
    expect(rules.bypass('HUB.CORP.EXAMPLE.', 443)).toBe(true);
  });

  it('matches IP addresses and CIDRs against IP hosts only', () => {
    const rules = new ProxyRules('10.0.0.0/8 192.0.2.7 fd00::/8');
    expect(rules.bypass('10.20.30.40', 443)).toBe(true);
    expect(rules.bypass('11.0.0.1', 443)).toBe(false);
    expect(rules.bypass('192.0.2.7', 443)).toBe(true);
    expect(rules.bypass('192.0.2.8', 443)).toBe(false);
    expect(rules.bypass('[fd00::1]', 443)).toBe(true);
    expect(rules.bypass('10.example', 443)).toBe(false);
  });

  it('honours a port on an entry', () => {
    const rules = new ProxyRules('hub.corp.example:8443,[fd00::5]:443,192.0.2.9:80');
    expect(rules.bypass('hub.corp.example', 8443)).toBe(true);
    expect(rules.bypass('hub.corp.example', 443)).toBe(false);
    expect(rules.bypass('[fd00::5]', 443)).toBe(true);
    expect(rules.bypass('[fd00::5]', 80)).toBe(false);
    expect(rules.bypass('192.0.2.9', 80)).toBe(true);
    expect(rules.bypass('192.0.2.9', 443)).toBe(false);
  });

  it('bypasses everything for *, and ignores empty or unparsable entries', () => {
    expect(new ProxyRules('*').bypass('graph.microsoft.com', 443)).toBe(true);
    const odd = new ProxyRules(' , ,10.0.0.0/99,.');
    expect(odd.bypass('10.1.1.1', 443)).toBe(false);
    expect(odd.bypass('example.com', 443)).toBe(false);
  });
});
