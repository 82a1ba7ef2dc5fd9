/**
 * The Hannibal stand-in's SignalR hub against the real `@microsoft/signalr` client (WebSockets,
 * JSON hub protocol), plus a raw WebSocket client for wire details the official client hides.
 */
import { HttpTransportType, HubConnectionBuilder, HubConnectionState, LogLevel, type HubConnection } from '@microsoft/signalr';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { HUB_PATH, HubMethods, HubPaths, JobState, RuleOperation } from '../../shared/hannibal.js';
import { HannibalStandin, type HannibalStandinOptions } from '../standins/hannibal/server.js';
import { HubTestClient } from './hannibal-test-client.js';

let standin: HannibalStandin | undefined;
const connections: HubConnection[] = [];
const sockets: WebSocket[] = [];

afterEach(async () => {
  await Promise.all(connections.splice(0).map((connection) => connection.stop()));
  for (const socket of sockets.splice(0)) socket.terminate();
  await standin?.close();
  standin = undefined;
});

async function startHub(options: HannibalStandinOptions = {}): Promise<HannibalStandin> {
  standin = await HannibalStandin.start(options);
  return standin;
}

/** A connected official client that records every hub message it gets, in order. */
async function connect(hub: HannibalStandin): Promise<{ connection: HubConnection; received: string[] }> {
  const connection = new HubConnectionBuilder()
    .withUrl(`${hub.url}${HUB_PATH}`, { transport: HttpTransportType.WebSockets })
    .withAutomaticReconnect([0, 100, 200, 400, 800])
    .configureLogging(LogLevel.None)
    .build();
  connections.push(connection);
  const received: string[] = [];
  connection.on(HubMethods.newJobAvailable, () => received.push(HubMethods.newJobAvailable));
  connection.on(HubMethods.storageReauthenticated, (uriSchema: string) => received.push(`${HubMethods.storageReauthenticated}(${uriSchema})`));
  connection.on(HubMethods.jobUpdated, (jobId: number, state: string) => received.push(`${HubMethods.jobUpdated}(${jobId},${state})`));
  connection.on(HubMethods.rulesFlushed, (...args: unknown[]) => received.push(`${HubMethods.rulesFlushed}(${args.length})`));
  await connection.start();
  return { connection, received };
}

function addRule(hub: HannibalStandin): number {
  const source = hub.addEndpoint({ storageId: hub.addStorage({ technology: 'local', uriSchema: 'src' }).id, path: 'a' });
  const destination = hub.addEndpoint({ storageId: hub.addStorage({ technology: 'local', uriSchema: 'dst' }).id, path: 'b' });
  return hub.addRule({ name: 'r', sourceEndpointId: source.id, destinationEndpointId: destination.id, operation: RuleOperation.Sync }).id;
}

describe('with the official SignalR client', () => {
  it('connects and receives NewJobAvailable when a job is created', async () => {
    const hub = await startHub();
    const { received } = await connect(hub);
    await expect.poll(() => hub.connectedClients()).toBe(1);

    hub.createJob(addRule(hub));

    await expect.poll(() => received).toEqual([HubMethods.newJobAvailable]);
  });

  it('does not announce a job created with broadcast off', async () => {
    const hub = await startHub();
    const { received } = await connect(hub);
    const ruleId = addRule(hub);

    hub.createJob(ruleId, { broadcast: false });
    hub.broadcast('NewJobAvailable');

    await expect.poll(() => received).toEqual([HubMethods.newJobAvailable]);
    expect(hub.jobs()).toHaveLength(1);
  });

  it('announces StorageReauthenticated to every client when credentials change, and nothing when they do not', async () => {
    const hub = await startHub();
    const first = await connect(hub);
    const second = await connect(hub);
    const storage = hub.addStorage({ technology: 'gcs', uriSchema: 'x', accessToken: 'at-1', refreshToken: 'rt-1' });

    hub.updateStorage(storage.id, { accessToken: 'at-1', isActive: true });
    // A broadcast after the unchanged save: once it arrives, anything the save sent has too.
    hub.broadcast('NewJobAvailable');
    await expect.poll(() => first.received).toEqual([HubMethods.newJobAvailable]);

    hub.updateStorage(storage.id, { accessToken: 'at-2' });

    for (const { received } of [first, second]) {
      await expect.poll(() => received).toEqual([HubMethods.newJobAvailable, `${HubMethods.storageReauthenticated}(x)`]);
    }
  });

  it('announces JobUpdated with the state name after every acquisition and applied report, and new work when a run ends', async () => {
    const hub = await startHub();
    const { received } = await connect(hub);
    const rest = new HubTestClient(hub.url);
    await rest.login();
    const job = hub.createJob(addRule(hub));

    await rest.acquire('w');
    await rest.report({ jobId: job.id, owner: 'w', state: JobState.Executing });
    await rest.report({ jobId: job.id, owner: 'w', state: JobState.DoneFailure });
    await rest.acquire('w');
    await rest.report({ jobId: job.id, owner: 'w', state: JobState.DoneSuccess });
    await rest.report({ jobId: job.id, owner: 'w', state: JobState.Executing });

    await expect
      .poll(() => received)
      .toEqual([
        HubMethods.newJobAvailable,
        `${HubMethods.jobUpdated}(${job.id},Executing)`,
        `${HubMethods.jobUpdated}(${job.id},Executing)`,
        // A DoneFailure report makes the job Ready again, and the hub says so.
        `${HubMethods.jobUpdated}(${job.id},Ready)`,
        HubMethods.newJobAvailable,
        `${HubMethods.jobUpdated}(${job.id},Executing)`,
        `${HubMethods.jobUpdated}(${job.id},DoneSuccess)`,
        HubMethods.newJobAvailable,
      ]);
  });

  it('announces nothing when it times a job out, and RulesFlushed without arguments when rules are flushed', async () => {
    const hub = await startHub({ heartbeatTimeoutSeconds: 0.1 });
    const { received } = await connect(hub);
    const rest = new HubTestClient(hub.url);
    await rest.login();
    const job = hub.createJob(addRule(hub), { broadcast: false });
    await rest.acquire('w');
    await new Promise((resolve) => setTimeout(resolve, 200));

    await rest.acquire('other');
    expect(hub.job(job.id)?.state).toBe(JobState.DoneFailure);
    hub.flushRules();

    await expect.poll(() => received).toEqual([`${HubMethods.jobUpdated}(${job.id},Executing)`, `${HubMethods.rulesFlushed}(0)`]);
  });

  it('reconnects automatically after the sockets are dropped and receives broadcasts again', async () => {
    const hub = await startHub();
    const { connection, received } = await connect(hub);
    const reconnections: string[] = [];
    connection.onreconnected((connectionId) => reconnections.push(connectionId ?? ''));
    const firstId = connection.connectionId;

    hub.dropHubConnections();

    await expect.poll(() => reconnections).toHaveLength(1);
    expect(reconnections[0]).not.toBe(firstId);
    expect(connection.state).toBe(HubConnectionState.Connected);
    await expect.poll(() => hub.connectedClients()).toBe(1);
    hub.broadcast(HubMethods.storageReauthenticated, 'after-drop');
    await expect.poll(() => received).toEqual([`${HubMethods.storageReauthenticated}(after-drop)`]);
  });

  it('rejects invocations and streams of methods the hub does not have instead of hanging', async () => {
    const hub = await startHub();
    const { connection } = await connect(hub);

    await expect(connection.invoke('SendMessage', 'user', 'hello')).rejects.toThrow(/SendMessage/);
    const streamErrors: unknown[] = [];
    connection.stream('Counter', 3).subscribe({ next: () => undefined, complete: () => undefined, error: (error: unknown) => streamErrors.push(error) });
    await expect.poll(() => streamErrors).toHaveLength(1);
    expect(connection.state).toBe(HubConnectionState.Connected);
  });

  it('counts only connected clients', async () => {
    const hub = await startHub();
    const first = await connect(hub);
    await connect(hub);
    await expect.poll(() => hub.connectedClients()).toBe(2);

    await first.connection.stop();

    await expect.poll(() => hub.connectedClients()).toBe(1);
  });

  it('closes clients with a close message that lets them reconnect when the hub shuts down', async () => {
    const hub = await startHub();
    const { connection } = await connect(hub);
    const reconnecting: unknown[] = [];
    connection.onreconnecting((error) => reconnecting.push(error));

    await hub.close();
    standin = undefined;

    await expect.poll(() => reconnecting).toHaveLength(1);
  });
});

/** Negotiates and opens a raw WebSocket on the hub; resolves once open. */
async function openRawSocket(hub: HannibalStandin): Promise<{ socket: WebSocket; frames: string[]; token: string }> {
  const negotiation = await fetch(`${hub.url}${HUB_PATH}/negotiate?negotiateVersion=1`, { method: 'POST' });
  const { connectionToken } = (await negotiation.json()) as { connectionToken: string };
  const socket = new WebSocket(`${hub.url.replace('http', 'ws')}${HUB_PATH}?id=${connectionToken}`);
  sockets.push(socket);
  const frames: string[] = [];
  socket.on('message', (data: Buffer) => frames.push(data.toString('utf8')));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => {
      resolve();
    });
    socket.once('error', reject);
  });
  return { socket, frames, token: connectionToken };
}

describe('on the wire', () => {
  it('answers negotiate version 1 with a connection token and the WebSockets transport', async () => {
    const hub = await startHub();

    const reply = await fetch(`${hub.url}${HUB_PATH}/negotiate?negotiateVersion=1`, { method: 'POST' });

    expect(reply.status).toBe(200);
    const body = (await reply.json()) as Record<string, unknown>;
    expect(body).toEqual({
      negotiateVersion: 1,
      connectionId: expect.any(String) as unknown,
      connectionToken: expect.any(String) as unknown,
      availableTransports: [{ transport: 'WebSockets', transferFormats: ['Text', 'Binary'] }],
    });
    expect(body.connectionToken).not.toBe(body.connectionId);
  });

  it('accepts each connection token once and refuses unknown ones with 404', async () => {
    const hub = await startHub();
    const { token } = await openRawSocket(hub);

    const upgradeStatus = (id: string) =>
      new Promise<number>((resolve) => {
        const socket = new WebSocket(`${hub.url.replace('http', 'ws')}${HUB_PATH}?id=${id}`);
        sockets.push(socket);
        socket.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
        });
        socket.on('error', () => undefined);
      });

    expect(await upgradeStatus(token)).toBe(404);
    expect(await upgradeStatus('unknown')).toBe(404);
  });

  it('handshakes, answers several messages in one frame, pings, and closes on a close message', async () => {
    const hub = await startHub({ pingIntervalMs: 50 });
    const { socket, frames } = await openRawSocket(hub);

    socket.send('{"protocol":"json","version":1}\x1e');
    await expect.poll(() => frames[0]).toBe('{}\x1e');
    expect(hub.connectedClients()).toBe(1);

    socket.send('{"type":6}\x1e{"type":1,"target":"Nope","arguments":[],"invocationId":"7"}\x1e{"type":1,"target":"Fire","arguments":[]}\x1e');
    await expect.poll(() => frames.join('')).toContain('"invocationId":"7"');
    const messages = frames.slice(1).join('').split('\x1e').filter((text) => text !== '').map((text) => JSON.parse(text) as { type: number });
    expect(messages.some((message) => message.type === 6)).toBe(true);
    expect(messages.find((message) => message.type === 3)).toMatchObject({ type: 3, invocationId: '7', error: expect.stringContaining('Nope') as unknown });

    const pingsBefore = frames.filter((frame) => frame === '{"type":6}\x1e').length;
    await expect.poll(() => frames.filter((frame) => frame === '{"type":6}\x1e').length).toBeGreaterThan(pingsBefore + 1);

    const closed = new Promise<void>((resolve) => {
      socket.once('close', () => {
        resolve();
      });
    });
    socket.send('{"type":7}\x1e');
    await closed;
    await expect.poll(() => hub.connectedClients()).toBe(0);
  });

  it('refuses a handshake for another protocol with a handshake error', async () => {
    const hub = await startHub();
    const { socket, frames } = await openRawSocket(hub);

    socket.send('{"protocol":"messagepack","version":1}\x1e');

    await expect.poll(() => frames[0]).toBeDefined();
    expect(frames[0]?.endsWith('\x1e')).toBe(true);
    expect(JSON.parse(frames[0]!.slice(0, -1))).toEqual({ error: expect.stringContaining('messagepack') as unknown });
    expect(hub.connectedClients()).toBe(0);
  });

  it('keeps REST outages away from negotiation', async () => {
    const hub = await startHub();
    hub.setRestOutage({ status: 503 });

    const negotiate = await fetch(`${hub.url}${HUB_PATH}/negotiate?negotiateVersion=1`, { method: 'POST' });
    const storages = await fetch(`${hub.url}${HubPaths.storages}`);

    expect(negotiate.status).toBe(200);
    expect(storages.status).toBe(503);
  });
});
