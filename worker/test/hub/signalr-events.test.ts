/**
 * HubEvents against the project's Hannibal stand-in (real @microsoft/signalr client, WebSockets,
 * real timers): start retried until the hub is up, typed events, serialised handlers,
 * onConnected after every (re)connect, and a stop that ends all reconnecting.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HubMethods } from '../../../shared/hannibal.js';
import { HannibalStandin } from '../../../scripts/standins/hannibal/server.js';
import { HubEvents, type HubEvent } from '../../src/hub/signalr-events.js';
import { createLogger } from '../../src/log/logger.js';
import { freeLoopbackPort } from '../../src/rclone/free-port.js';
import { deferred } from '../util/deferred.js';

/** Short backoff so reconnects happen within a test; the production default is 1 s → 30 s. */
const RETRY = { initialMs: 40, maxMs: 150 };

const hubs: HannibalStandin[] = [];
const clients: HubEvents[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.stop()));
  await Promise.all(hubs.splice(0).map((h) => h.close()));
});

async function startHub(port?: number): Promise<HannibalStandin> {
  const hub = await HannibalStandin.start(port === undefined ? {} : { port });
  hubs.push(hub);
  return hub;
}

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A started HubEvents that records events, connects and log lines. */
function listen(signalrUrl: string, onEvent?: (event: HubEvent) => Promise<void> | void) {
  const received: HubEvent[] = [];
  const logs: LogLine[] = [];
  const state = { connects: 0 };
  const logger = createLogger({ level: 'trace', format: 'json' }, { write: (line: string) => logs.push(JSON.parse(line) as LogLine) });
  const events = new HubEvents({
    signalrUrl,
    logger,
    retry: RETRY,
    onEvent: onEvent ?? ((event) => void received.push(event)),
    onConnected: () => {
      state.connects += 1;
    },
  });
  clients.push(events);
  events.start();
  const count = (msg: string) => logs.filter((l) => l.msg === msg).length;
  return { events, received, logs, state, count };
}

const FAILED = 'hub connection failed; retrying';
const IGNORED = 'StorageReauthenticated without a usable uriSchema; ignored';

describe('HubEvents', () => {
  it('keeps retrying start() until the hub comes up, then connects and delivers events', async () => {
    const port = await freeLoopbackPort();
    const client = listen(`http://127.0.0.1:${port}`);
    await expect.poll(() => client.count(FAILED), { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    expect(client.state.connects).toBe(0);
    expect(client.events.connected).toBe(false);

    const hub = await startHub(port);
    await expect.poll(() => client.state.connects, { timeout: 10_000 }).toBe(1);
    expect(client.events.connected).toBe(true);
    expect(hub.connectedClients()).toBe(1);

    hub.broadcast(HubMethods.newJobAvailable);
    await expect.poll(() => client.received).toEqual([{ type: 'NewJobAvailable' }]);
  });

  it('delivers NewJobAvailable and StorageReauthenticated(uriSchema) as typed events, in order', async () => {
    const hub = await startHub();
    const client = listen(hub.url);
    await expect.poll(() => client.state.connects).toBe(1);

    hub.broadcast(HubMethods.newJobAvailable);
    hub.broadcast(HubMethods.storageReauthenticated, 'gcs-main');
    hub.broadcast(HubMethods.newJobAvailable);
    await expect.poll(() => client.received).toEqual([
      { type: 'NewJobAvailable' },
      { type: 'StorageReauthenticated', uriSchema: 'gcs-main' },
      { type: 'NewJobAvailable' },
    ]);
  });

  it("delivers the real hub's JobUpdated(jobId, stateName) and takes RulesFlushed without a 'no client method' line (real-hannibal F5)", async () => {
    const hub = await startHub();
    const client = listen(hub.url);
    await expect.poll(() => client.state.connects).toBe(1);

    hub.broadcast(HubMethods.jobUpdated, 12, 'Executing');
    hub.broadcast('RulesFlushed');
    hub.broadcast(HubMethods.jobUpdated, '12', 4);
    hub.broadcast(HubMethods.jobUpdated, 12, 'DoneSuccess');
    await expect.poll(() => client.received).toEqual([
      { type: 'JobUpdated', jobId: 12, state: 'Executing' },
      { type: 'JobUpdated', jobId: 12, state: 'DoneSuccess' },
    ]);
    expect(client.logs.filter((l) => /no client method/i.test(l.msg))).toEqual([]);
    expect(client.count('hub flushed its rules')).toBe(1);
  });

  it('ignores StorageReauthenticated without a usable string argument', async () => {
    const hub = await startHub();
    const client = listen(hub.url);
    await expect.poll(() => client.state.connects).toBe(1);

    hub.broadcast(HubMethods.storageReauthenticated);
    hub.broadcast(HubMethods.storageReauthenticated, 42);
    hub.broadcast(HubMethods.storageReauthenticated, '');
    hub.broadcast(HubMethods.storageReauthenticated, { uriSchema: 'gcs-main' });
    hub.broadcast(HubMethods.storageReauthenticated, null);
    // Messages arrive in order on the one WebSocket: once this one is delivered, so were the others.
    hub.broadcast(HubMethods.storageReauthenticated, 'after');
    await expect.poll(() => client.received).toEqual([{ type: 'StorageReauthenticated', uriSchema: 'after' }]);
    expect(client.count(IGNORED)).toBe(5);
  });

  it('runs handlers one at a time: a slow handler is not overlapped by the next event', async () => {
    const hub = await startHub();
    const order: string[] = [];
    const release = deferred();
    const client = listen(hub.url, async (event) => {
      const name = event.type === 'StorageReauthenticated' ? event.uriSchema : event.type;
      order.push(`start ${name}`);
      if (name === 'a') await release.promise;
      order.push(`end ${name}`);
    });
    await expect.poll(() => client.state.connects).toBe(1);

    hub.broadcast(HubMethods.storageReauthenticated, 'a');
    hub.broadcast(HubMethods.storageReauthenticated, 'b');
    hub.broadcast(HubMethods.newJobAvailable);
    // An ignored event is logged when it arrives, not queued: once it is logged, 'b' and
    // NewJobAvailable have reached the client too and wait behind 'a'.
    hub.broadcast(HubMethods.storageReauthenticated, 7);
    await expect.poll(() => client.count(IGNORED)).toBe(1);
    expect(order).toEqual(['start a']);

    release.resolve();
    await expect.poll(() => order).toEqual(['start a', 'end a', 'start b', 'end b', 'start NewJobAvailable', 'end NewJobAvailable']);
  });

  it('logs a failing handler and goes on with the next event', async () => {
    const hub = await startHub();
    const handled: string[] = [];
    const client = listen(hub.url, (event) => {
      if (event.type === 'NewJobAvailable') throw new Error('acquire failed');
      if (event.type === 'StorageReauthenticated') handled.push(event.uriSchema);
    });
    await expect.poll(() => client.state.connects).toBe(1);

    hub.broadcast(HubMethods.newJobAvailable);
    hub.broadcast(HubMethods.storageReauthenticated, 'next');
    await expect.poll(() => handled).toEqual(['next']);
    expect(client.count('hub event handler failed')).toBe(1);
  });

  it('calls onConnected after the first connect and after every reconnect', async () => {
    const hub = await startHub();
    const port = Number(new URL(hub.url).port);
    const client = listen(hub.url);
    await expect.poll(() => client.state.connects).toBe(1);

    // A network drop: the client's automatic reconnect.
    hub.dropHubConnections();
    await expect.poll(() => client.state.connects, { timeout: 10_000 }).toBe(2);
    hub.broadcast(HubMethods.newJobAvailable);
    await expect.poll(() => client.received).toEqual([{ type: 'NewJobAvailable' }]);

    // A hub restart on the same port.
    await hubs.pop()!.close();
    const restarted = await startHub(port);
    await expect.poll(() => client.state.connects, { timeout: 10_000 }).toBe(3);
    await expect.poll(() => restarted.connectedClients()).toBe(1);
    restarted.broadcast(HubMethods.storageReauthenticated, 'after-restart');
    await expect.poll(() => client.received).toEqual([{ type: 'NewJobAvailable' }, { type: 'StorageReauthenticated', uriSchema: 'after-restart' }]);
  });

  it('stop() resolves while connected and leaves the hub', async () => {
    const hub = await startHub();
    const client = listen(hub.url);
    await expect.poll(() => hub.connectedClients()).toBe(1);
    await client.events.stop();
    expect(client.events.connected).toBe(false);
    await expect.poll(() => hub.connectedClients()).toBe(0);
  });

  it('stop() resolves while retrying or reconnecting, and nothing connects afterwards', async () => {
    const port = await freeLoopbackPort();
    const retrying = listen(`http://127.0.0.1:${port}`);
    await expect.poll(() => retrying.count(FAILED), { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    await retrying.events.stop();
    const attemptsAtStop = retrying.count(FAILED);

    const hub = await startHub(port);
    const reconnecting = listen(hub.url);
    await expect.poll(() => reconnecting.state.connects).toBe(1);
    hub.dropHubConnections();
    await reconnecting.events.stop();

    // Proving that nothing happens needs time to pass: several retry ceilings.
    await new Promise((resolve) => setTimeout(resolve, RETRY.maxMs * 6));
    expect(hub.connectedClients()).toBe(0);
    expect(retrying.state.connects).toBe(0);
    expect(retrying.count(FAILED)).toBe(attemptsAtStop);
    expect(reconnecting.state.connects).toBe(1);
  });
});
