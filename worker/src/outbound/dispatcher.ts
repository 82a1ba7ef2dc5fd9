/**
 * The worker's own outbound HTTP — token endpoints, Microsoft Graph `me/drive`, the hub's REST
 * API — behind a corporate proxy and with a private CA (issue 8.3), configured by the same
 * standard variables the supervised rclone reads (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`,
 * `SSL_CERT_FILE`), with the same routing rules (proxy-rules.ts), so one environment serves both.
 *
 * Requests to a proxied origin are tunnelled with `CONNECT` (undici's `ProxyAgent`); TLS to the
 * origin is then end to end through the tunnel. A private CA (`caPem`) is trusted in addition to
 * Node's built-in roots — for the origin, through a tunnel or not, and for an `https://` proxy.
 * Without one, Node's defaults apply (including `NODE_EXTRA_CA_CERTS`).
 */
import { rootCertificates } from 'node:tls';
import { Agent, Dispatcher, ProxyAgent } from 'undici';
import { ProxyRules } from './proxy-rules.js';

export interface OutboundSettings {
  /** Proxy for https URLs (`HTTPS_PROXY`). */
  httpsProxy: string | undefined;
  /** Proxy for http URLs (`HTTP_PROXY`). */
  httpProxy: string | undefined;
  /** Hosts reached directly (`NO_PROXY`). */
  noProxy: string | undefined;
  /** PEM certificates trusted in addition to Node's built-in roots (`SSL_CERT_FILE`). */
  caPem: string | undefined;
}

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 };

export class OutboundDispatcher extends Dispatcher {
  private readonly direct: Agent;
  private readonly httpsVia: ProxyAgent | undefined;
  private readonly httpVia: ProxyAgent | undefined;
  private readonly rules: ProxyRules;
  /** Every dispatcher this one routes to, for close/destroy. */
  private readonly routes: Dispatcher[] = [];

  constructor(private readonly settings: OutboundSettings) {
    super();
    const ca = settings.caPem ? [...rootCertificates, settings.caPem] : undefined;
    const tls = ca ? { ca } : undefined;
    this.direct = new Agent(tls ? { connect: tls } : {});
    const via = (uri: string | undefined) => (uri ? new ProxyAgent({ uri, ...(tls ? { requestTls: tls, proxyTls: tls } : {}) }) : undefined);
    this.httpsVia = via(settings.httpsProxy);
    this.httpVia = via(settings.httpProxy);
    this.routes.push(this.direct);
    if (this.httpsVia) this.routes.push(this.httpsVia);
    if (this.httpVia) this.routes.push(this.httpVia);
    this.rules = new ProxyRules(settings.noProxy);
  }

  /** `direct`, or the proxy a request to `url` takes (its credentials left out): for log lines. */
  describe(url: string): string {
    const target = new URL(url);
    const proxy = this.proxyFor(target);
    if (!proxy) return 'direct';
    const shown = new URL(proxy === this.httpsVia ? (this.settings.httpsProxy ?? '') : (this.settings.httpProxy ?? ''));
    return `via proxy ${shown.protocol}//${shown.host}`;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const origin = options.origin;
    const target = origin instanceof URL ? origin : new URL(String(origin));
    return this.route(target).dispatch(options, handler);
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    const closed = Promise.all(this.routes.map((d) => d.close())).then(() => undefined);
    if (!callback) return closed;
    void closed.then(callback);
  }

  override destroy(err?: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(errOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
    const err = typeof errOrCallback === 'function' ? null : (errOrCallback ?? null);
    const done = typeof errOrCallback === 'function' ? errOrCallback : callback;
    const destroyed = Promise.all(this.routes.map((d) => d.destroy(err))).then(() => undefined);
    if (!done) return destroyed;
    void destroyed.then(done);
  }

  private route(target: URL): Dispatcher {
    return this.proxyFor(target) ?? this.direct;
  }

  private proxyFor(target: URL): ProxyAgent | undefined {
    const proxy = target.protocol === 'https:' ? this.httpsVia : target.protocol === 'http:' ? this.httpVia : undefined;
    if (!proxy) return undefined;
    const port = target.port === '' ? (DEFAULT_PORTS[target.protocol] ?? 0) : Number(target.port);
    return this.rules.bypass(target.hostname, port) ? undefined : proxy;
  }
}
