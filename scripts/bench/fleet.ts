/**
 * `fleet`: N worker processes (each with its own rclone) against one stand-in hub, all of them
 * logged in as the same user, working through a batch of small local → local jobs: throughput
 * and its ratio to one worker, every job ended exactly once, no job run by two owners at once
 * (the hub's own run ledger). Then the same batch with one worker SIGKILLed mid-run: its jobs
 * must be failed by the hub's heartbeat deadline, planned again by the hub's scheduler and
 * finished by the others.
 */
import { join } from 'node:path';
import { JobState } from '../../shared/hannibal.js';
import { isLive } from '../processes.js';
import { makeTree, Sandbox, type WorkerProcess } from '../sandbox.js';
import { cpuSecondsOf, pause, untilRunning, waitFor } from './probes.js';
import type { BenchResult, Figure } from './report.js';

/** The hub's heartbeat deadline for the bench (Hannibal's is 120 s). */
const DEADLINE_SECONDS = 20;
const HEARTBEAT_SECONDS = 5;
/** The worker's safety poll for jobs (default 120 s): what notices a timed-out job once nothing else asks the hub. */
const ACQUIRE_POLL_SECONDS = 10;
const POLL_SECONDS = 2;
const MAX_JOBS = 4;
/** A timed-out job's rule is planned again this long after its last heartbeat. */
const MIN_RETRY = '00:00:01';
const FILES = 5;
const FILE_BYTES = 2_000;
const FINISHED: ReadonlySet<number> = new Set([JobState.DoneSuccess, JobState.DoneWithErrors, JobState.Cancelled]);

interface KillOutcome {
  /** Jobs the killed worker held. */
  jobs: number;
  /** SIGKILL → the hub failed the last of them for missing heartbeats. */
  timedOutAfterS: number;
  /** SIGKILL → the last of their rules finished by another worker. */
  finishedAfterS: number;
  finishedByOthers: number;
  /** The killed worker's rclone still ran 5 s after the SIGKILL. */
  rcloneOutlived: boolean;
}

interface FleetRun {
  workers: number;
  jobs: number;
  seconds: number;
  rulesDone: number;
  jobsCreated: number;
  endedOnce: number;
  endedTwice: number;
  handBacks: number;
  concurrentRuns: number;
  acquisitions: number;
  emptyAcquisitions: number;
  workerCpuSeconds: number;
  benchCpuSeconds: number;
  busiest: number;
  idlest: number;
  kill?: KillOutcome;
}

export async function benchFleet(options: { quick: boolean }): Promise<BenchResult> {
  const jobs = options.quick ? 60 : 200;
  const sizes = options.quick ? [1, 2] : [1, 2, 4];
  const runs: FleetRun[] = [];
  for (const workers of sizes) {
    process.stderr.write(`bench: fleet: ${workers} worker(s), ${jobs} jobs …\n`);
    runs.push(await runFleet(workers, jobs, false));
  }
  const killWorkers = sizes.at(-1)!;
  process.stderr.write(`bench: fleet: ${killWorkers} workers, ${jobs} jobs, one SIGKILLed …\n`);
  const killed = await runFleet(killWorkers, jobs, true);
  const single = runs[0]!;
  const figures = [...runs, killed].flatMap((run) => runFigures(run, single));
  return {
    id: 'fleet',
    title: 'several workers on one hub',
    method: [
      `N worker processes (node dist/worker/src/main.js, each with its own rclone; WORKER_MAX_JOBS=${MAX_JOBS}, WORKER_POLL_SECONDS=${POLL_SECONDS}, WORKER_HEARTBEAT_SECONDS=${HEARTBEAT_SECONDS}, WORKER_ACQUIRE_POLL_SECONDS=${ACQUIRE_POLL_SECONDS}), one stand-in hub (heartbeat deadline shortened to ${DEADLINE_SECONDS} s; rules' minRetryTime ${MIN_RETRY}), ${jobs} rules with one job each created at once (each announced by NewJobAvailable), every job a local → local copy of ${FILES} files × ${FILE_BYTES / 1000} kB to its own folder.`,
      `Throughput = jobs ÷ (first job created → last DoneSuccess at the hub). "Ended once" counts jobs with exactly one end: a DoneSuccess/DoneWithErrors/Cancelled report or the hub's heartbeat timeout. Concurrent runs: the hub's run ledger (acquisition to last report or timeout per owner), pairs of owners overlapping on one job. CPU: /proc/<pid>/stat of every worker and its rclone; the bench process (stand-in hub, stand-ins, the bench) by process.cpuUsage().`,
      `Kill run: once 30 % of the rules were done, the worker holding the most Executing jobs was SIGKILLed; the hub fails its jobs at the next acquisition after the deadline (lazy, as Hannibal), its scheduler plans the rules again, and the other workers run them.`,
    ].join(' '),
    figures,
  };
}

function runFigures(run: FleetRun, single: FleetRun): Figure[] {
  const label = run.kill ? `${run.workers} workers, one killed` : `${run.workers} worker${run.workers > 1 ? 's' : ''}`;
  const f = (figure: string, value: number, unit: string, goal?: Figure['goal']): Figure => ({
    name: `${label}: ${figure}`,
    value,
    unit,
    ...(goal ? { goal } : {}),
    labels: { workers: label, figure },
  });
  const throughput = (run.jobs / run.seconds) * 60;
  const figures = [
    f('throughput', throughput, 'jobs/min'),
    f('throughput ÷ one worker', throughput / ((single.jobs / single.seconds) * 60), '×'),
    f('rules finished DoneSuccess', run.rulesDone, `of ${run.jobs}`, { op: '=', limit: run.jobs }),
    f('jobs ended exactly once', run.endedOnce, `of ${run.jobsCreated}`, { op: '=', limit: run.jobsCreated }),
    f('jobs ended more than once', run.endedTwice, '', { op: '=', limit: 0 }),
    f('jobs run by two owners at once', run.concurrentRuns, '', { op: '=', limit: 0 }),
    f('jobs handed back (DoneFailure)', run.handBacks, ''),
    f('acquireNextJob calls per job', run.acquisitions / run.jobsCreated, ''),
    f('… of them answered 404', run.emptyAcquisitions / run.jobsCreated, ''),
    f('worker + rclone CPU per job', (run.workerCpuSeconds / run.jobsCreated) * 1000, 'ms'),
    f('bench process (hub) CPU per job', (run.benchCpuSeconds / run.jobsCreated) * 1000, 'ms'),
    f('jobs finished by the busiest worker', run.busiest, ''),
    f('jobs finished by the idlest worker', run.idlest, ''),
  ];
  if (run.kill) {
    figures.push(
      f('jobs held by the killed worker', run.kill.jobs, ''),
      f('SIGKILL → its last job failed by the hub', run.kill.timedOutAfterS, 's'),
      f('SIGKILL → its last rule finished elsewhere', run.kill.finishedAfterS, 's'),
      f('its rules finished by the other workers', run.kill.finishedByOthers, `of ${run.kill.jobs}`, { op: '=', limit: run.kill.jobs }),
      // An rclone that outlives its worker keeps writing a job another worker now runs (issue 9).
      f("killed worker's rclone alive 5 s later", run.kill.rcloneOutlived ? 1 : 0, '', { op: '=', limit: 0 }),
    );
  }
  return figures;
}

async function runFleet(workerCount: number, jobCount: number, kill: boolean): Promise<FleetRun> {
  const sandbox = await Sandbox.start({ hub: { heartbeatTimeoutSeconds: DEADLINE_SECONDS } });
  const strays: number[] = [];
  try {
    const laptop = sandbox.addLocalStorage('laptop');
    const source = join(sandbox.dir, 'src');
    await makeTree(source, FILES, FILE_BYTES);
    const rules = Array.from({ length: jobCount }, (_, i) =>
      sandbox.addRule(`job ${i}`, { storage: laptop, path: source }, { storage: laptop, path: join(sandbox.dir, 'out', String(i)) }, undefined, {
        minRetryTime: MIN_RETRY,
      }),
    );
    const workers = Array.from({ length: workerCount }, (_, i) =>
      sandbox.spawnWorker(`fleet-${i}`, {
        WORKER_MAX_JOBS: String(MAX_JOBS),
        WORKER_POLL_SECONDS: String(POLL_SECONDS),
        WORKER_HEARTBEAT_SECONDS: String(HEARTBEAT_SECONDS),
        WORKER_ACQUIRE_POLL_SECONDS: String(ACQUIRE_POLL_SECONDS),
      }),
    );
    await Promise.all(workers.map((w) => untilRunning(w)));
    await pause(1_000);
    const cpuBefore = workers.map(processCpu);
    const benchCpuBefore = process.cpuUsage();

    const startedAt = Date.now();
    for (const rule of rules) sandbox.hub.createJob(rule.id);
    const ruleIds = new Set(rules.map((r) => r.id));
    const doneRules = () => new Set(sandbox.hub.jobs().filter((j) => j.state === JobState.DoneSuccess && ruleIds.has(j.fromRuleId ?? -1)).map((j) => j.fromRuleId));

    let killOutcome: Promise<KillOutcome> | undefined;
    let victim: WorkerProcess | undefined;
    let victimCpuSeconds = 0;
    if (kill) {
      await waitFor('30 % of the rules done', () => (doneRules().size >= 0.3 * jobCount ? true : undefined), 600_000, 50);
      const held = (w: WorkerProcess) => sandbox.hub.jobs().filter((j) => j.state === JobState.Executing && j.owner === ownerOf(w));
      victim = [...workers].sort((a, b) => held(b).length - held(a).length)[0]!;
      const victimJobs = held(victim);
      const rclonePid = victim.rclonePid();
      if (rclonePid !== undefined) strays.push(rclonePid);
      victimCpuSeconds = processCpu(victim) - cpuBefore[workers.indexOf(victim)]!;
      process.kill(victim.pid!, 'SIGKILL');
      killOutcome = followKill(sandbox, victimJobs.map((j) => ({ id: j.id, ruleId: j.fromRuleId ?? -1 })), ownerOf(victim), Date.now(), rclonePid);
    }

    await waitFor(`all ${jobCount} rules done`, () => (doneRules().size === jobCount ? true : undefined), 1_200_000, 100);
    const doneAt = Math.max(...sandbox.hub.reports.filter((r) => r.state === JobState.DoneSuccess && r.status === 0).map((r) => r.at));
    const workerCpuSeconds = workers.reduce((sum, w, i) => (w === victim ? sum : sum + processCpu(w) - cpuBefore[i]!), victimCpuSeconds);
    const benchCpu = process.cpuUsage(benchCpuBefore);
    const killResult = killOutcome ? await killOutcome : undefined;

    const jobs = sandbox.hub.jobs();
    let endedOnce = 0;
    let endedTwice = 0;
    for (const job of jobs) {
      const ends =
        sandbox.hub.reports.filter((r) => r.jobId === job.id && r.status === 0 && FINISHED.has(r.state)).length +
        sandbox.hub.timeouts.filter((t) => t.jobId === job.id).length;
      if (ends === 1) endedOnce += 1;
      if (ends > 1) endedTwice += 1;
    }
    const finishedBy = workers.filter((w) => w !== victim).map((w) => sandbox.hub.reports.filter((r) => r.owner === ownerOf(w) && r.state === JobState.DoneSuccess && r.status === 0).length);
    return {
      workers: workerCount,
      jobs: jobCount,
      seconds: (doneAt - startedAt) / 1000,
      rulesDone: doneRules().size,
      jobsCreated: jobs.length,
      endedOnce,
      endedTwice,
      handBacks: sandbox.hub.reports.filter((r) => r.state === JobState.DoneFailure && r.status === 0).length,
      concurrentRuns: sandbox.hub.concurrentRuns().length,
      acquisitions: sandbox.hub.acquisitions.length,
      emptyAcquisitions: sandbox.hub.acquisitions.filter((a) => a.jobId === null).length,
      workerCpuSeconds,
      benchCpuSeconds: (benchCpu.user + benchCpu.system) / 1e6,
      busiest: Math.max(...finishedBy),
      idlest: Math.min(...finishedBy),
      ...(killResult ? { kill: killResult } : {}),
    };
  } finally {
    await sandbox.close();
    // An rclone that outlived its SIGKILLed worker is ours to end.
    for (const pid of strays) if (isLive(pid)) process.kill(pid, 'SIGKILL');
  }
}

function ownerOf(worker: WorkerProcess): string {
  return `worker-${worker.name}`;
}

/** CPU seconds of a worker and its current rclone. */
function processCpu(worker: WorkerProcess): number {
  const rclone = worker.rclonePid();
  return cpuSecondsOf(worker.pid!) + (rclone === undefined ? 0 : cpuSecondsOf(rclone));
}

/** Watches what the hub does with the killed worker's jobs until their rules are finished by others. */
async function followKill(
  sandbox: Sandbox,
  held: { id: number; ruleId: number }[],
  owner: string,
  killedAt: number,
  rclonePid: number | undefined,
): Promise<KillOutcome> {
  await pause(5_000);
  const rcloneOutlived = rclonePid !== undefined && isLive(rclonePid);
  const finishedElsewhere = () => {
    const jobs = sandbox.hub.jobs();
    return held.every((h) => jobs.some((j) => j.fromRuleId === h.ruleId && j.id !== h.id && j.state === JobState.DoneSuccess));
  };
  await waitFor("the killed worker's rules finished elsewhere", () => (finishedElsewhere() ? true : undefined), 600_000, 100);
  const timeouts = sandbox.hub.timeouts.filter((t) => held.some((h) => h.id === t.jobId));
  const finishedReports = held.map((h) => {
    const job = sandbox.hub.jobs().find((j) => j.fromRuleId === h.ruleId && j.state === JobState.DoneSuccess);
    return job ? sandbox.hub.reports.find((r) => r.jobId === job.id && r.state === JobState.DoneSuccess && r.status === 0) : undefined;
  });
  return {
    jobs: held.length,
    timedOutAfterS: timeouts.length > 0 ? (Math.max(...timeouts.map((t) => t.at)) - killedAt) / 1000 : Number.NaN,
    finishedAfterS: (Math.max(...finishedReports.map((r) => r?.at ?? Number.NaN)) - killedAt) / 1000,
    finishedByOthers: finishedReports.filter((r) => r !== undefined && r.owner !== owner).length,
    rcloneOutlived,
  };
}
