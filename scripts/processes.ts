/**
 * What the process-lifecycle tests and benchmarks read from /proc: whether a process still runs (a zombie does
 * not: this machine's init may reap orphans late), the tree under a process, and which processes
 * mention a directory (every rclone of a worker has its state dir in argv).
 */
import { readdirSync, readFileSync } from 'node:fs';

interface ProcStat {
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** CPU time used so far, user + system (clock ticks of 10 ms, Linux's USER_HZ). */
  cpuMs: number;
}

export function procStat(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, from field 3 (state) on; utime and stime are fields 14, 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const [state = '?', ppid, pgrp, session] = fields;
    return { state, ppid: Number(ppid), pgrp: Number(pgrp), session: Number(session), cpuMs: (Number(fields[11]) + Number(fields[12])) * 10 };
  } catch {
    return undefined;
  }
}

/** True while `pid` runs (exists and is not a zombie). */
export function isLive(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}

function allPids(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/** Every live process below `pid` (children, grandchildren, …). */
export function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of allPids()) {
    const stat = procStat(p);
    if (!stat || stat.state === 'Z') continue;
    children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), p]);
  }
  const found: number[] = [];
  const visit = (parent: number) => {
    for (const child of children.get(parent) ?? []) {
      found.push(child);
      visit(child);
    }
  };
  visit(pid);
  return found;
}

export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Live processes whose command line contains `text`, with their command lines. */
export function processesMentioning(text: string): string[] {
  return allPids()
    .filter((pid) => pid !== process.pid && isLive(pid))
    .map((pid) => `${pid} ${commandLine(pid)}`)
    .filter((line) => line.includes(text));
}

/** Milliseconds until none of `pids` runs; Infinity when some still run after `timeoutMs`. */
export async function msUntilGone(pids: number[], timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (pids.some(isLive)) {
    if (Date.now() - started > timeoutMs) return Number.POSITIVE_INFINITY;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return Date.now() - started;
}

/** True when none of `pids` runs any more within `timeoutMs`. */
export async function goneWithin(pids: number[], timeoutMs: number): Promise<boolean> {
  return Number.isFinite(await msUntilGone(pids, timeoutMs));
}
