/**
 * The process metrics a daemon's operator needs — CPU, memory, open files, start time — under the
 * standard names, so stock dashboards and alerts work.
 *
 * Deliberately not prom-client's `collectDefaultMetrics()`: it adds ~30 series (per-heap-space
 * sizes, GC histograms from a PerformanceObserver, active handles and requests, an event-loop
 * delay monitor sampling every 10 ms) that cost CPU on a shared host and answer no question this
 * worker's operators have. What is read here is read at scrape time and costs nothing between
 * scrapes.
 */
import { readdirSync } from 'node:fs';
import { Counter, Gauge, type Registry } from 'prom-client';

export function registerProcessMetrics(registry: Registry): void {
  const registers = [registry];
  const startSeconds = Math.round(Date.now() / 1000 - process.uptime());
  // From zero, so the first scrape counts everything since the process started.
  let lastCpu = { user: 0, system: 0 };
  new Counter({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    registers,
    collect() {
      const cpu = process.cpuUsage();
      this.inc((cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1e6);
      lastCpu = cpu;
    },
  });
  new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: 'nodejs_heap_size_used_bytes',
    help: 'V8 heap in use, in bytes (RSS growing while this stays flat points outside the JS heap).',
    registers,
    collect() {
      this.set(process.memoryUsage().heapUsed);
    },
  });
  new Gauge({
    name: 'nodejs_heap_size_total_bytes',
    help: 'V8 heap committed, in bytes (RSS follows this when the heap grows and shrinks between collections).',
    registers,
    collect() {
      this.set(process.memoryUsage().heapTotal);
    },
  });
  new Gauge({
    name: 'nodejs_external_memory_bytes',
    help: 'Memory held by JS objects outside the V8 heap (Buffers), in bytes.',
    registers,
    collect() {
      this.set(process.memoryUsage().external);
    },
  });
  new Gauge({
    name: 'process_start_time_seconds',
    help: 'Start time of the process since unix epoch in seconds.',
    registers,
    collect() {
      this.set(startSeconds);
    },
  });
  if (process.platform === 'linux') {
    new Gauge({
      name: 'process_open_fds',
      help: 'Number of open file descriptors.',
      registers,
      collect() {
        try {
          this.set(readdirSync('/proc/self/fd').length);
        } catch {
          // /proc not mounted (some containers): leave the series out.
        }
      },
    });
  }
}
