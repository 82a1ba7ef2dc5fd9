/**
 * (5) A burst of `StorageReauthenticated` events for one storage (50, then 200 saves of its
 * credentials in the hub, each broadcast) must cost one hub fetch and one change applied to
 * rclone, and be decided soon after the last event.
 */
import { HubPaths } from '../../shared/hannibal.js';
import { Sandbox, type LogRecord, type WorkerProcess } from '../sandbox.js';
import { CountingProxy } from './counting-proxy.js';
import { loggedAt, pause, RcCallCounter, untilRunning, waitFor } from './probes.js';
import type { BenchResult, Figure } from './report.js';

const BURSTS = [50, 200];
/** The burst is over when no decision followed for this long. */
const QUIET_MS = 3_000;
/** Lines that mean a change reached rclone. */
const APPLIED = new Set(['remote updated', 'remote created', 'token pushed to rclone']);

export async function benchReauthBurst(): Promise<BenchResult> {
  const sandbox = await Sandbox.start();
  const proxy = await CountingProxy.start(sandbox.hub.url);
  try {
    const storage = sandbox.addNextcloudStorage('nextcloud', 'heidi', 'heidi-bench-password-7');
    const worker = sandbox.spawnWorker('reauth', { HANNIBAL_URL: proxy.url, HANNIBAL_SIGNALR_URL: sandbox.hub.url });
    await untilRunning(worker);
    await pause(1_500);
    const counter = RcCallCounter.forWorker(worker);

    const figures: Figure[] = [];
    for (const size of BURSTS) {
      proxy.reset();
      const logged = worker.logs.length;
      const first = await counter.mark();
      for (let i = 1; i <= size; i++) sandbox.hub.updateStorage(storage.id, { password: `heidi-burst-${size}-${i}` });
      const lastEventAt = Date.now();
      const decisions = await settledDecisions(worker, logged);
      const rcCalls = RcCallCounter.between(first, await counter.mark());
      const since = worker.logs.slice(logged);
      const last = decisions.at(-1)!;
      figures.push(
        { name: `${size} events: hub fetches (GET storages)`, value: proxy.count('GET', HubPaths.storages), unit: '', goal: { op: '<=', limit: 1 } },
        { name: `${size} events: changes applied to rclone`, value: since.filter((r) => APPLIED.has(r.msg)).length, unit: '', goal: { op: '<=', limit: 1 } },
        { name: `${size} events: decisions logged`, value: decisions.length, unit: '' },
        { name: `${size} events: rc calls`, value: rcCalls, unit: '' },
        { name: `${size} events: last event → decision logged`, value: loggedAt(last) - lastEventAt, unit: 'ms', goal: { op: '<', limit: 2_000 } },
      );
    }
    await worker.stop();
    return {
      id: 'reauth-burst',
      title: 'StorageReauthenticated bursts',
      method: `one Nextcloud storage saved ${BURSTS.join(' and ')} times in a row in the hub (each save broadcasts StorageReauthenticated over SignalR); hub fetches counted by a proxy in front of the REST API, changes and decisions from the worker's log; debounce 500 ms (default)`,
      figures,
    };
  } finally {
    await sandbox.close();
    await proxy.close();
  }
}

/** The re-authentication decisions logged after `from`, once none has followed for QUIET_MS. */
async function settledDecisions(worker: WorkerProcess, from: number): Promise<LogRecord[]> {
  const decisions = () => worker.logs.slice(from).filter((r) => r.component === 'reauth' && r.msg.startsWith('re-authentication: '));
  await waitFor('a re-authentication decision', () => (decisions().length > 0 ? true : undefined), 30_000, 10);
  await waitFor('the burst to settle', () => (Date.now() - loggedAt(decisions().at(-1)!) >= QUIET_MS ? true : undefined), 60_000);
  return decisions();
}
