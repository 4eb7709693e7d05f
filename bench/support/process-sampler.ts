import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { round } from './stats.js';

/** How often the service's CPU time and resident memory are read while the load runs. */
const SAMPLE_INTERVAL_MS = 250;
const KIB_PER_MIB = 1024;

export interface ProcessUsage {
  /** CPU time over wall time for the sampled span; 100 = one core busy. */
  cpu_percent: number;
  /** The highest one-interval CPU figure seen. */
  cpu_percent_peak: number;
  /** The highest VmRSS sampled during the span. */
  peak_rss_mib: number;
  /** VmHWM at the end: the process's resident peak since it started (seeding and warm-up included). */
  vm_hwm_mib: number;
  samples: number;
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux almost always). */
const CLOCK_TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields are counted after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name and state.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

function memoryKib(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { rss: field('VmRSS'), hwm: field('VmHWM') };
  } catch {
    return undefined;
  }
}

/**
 * Samples a process's CPU time and resident set from /proc every 250 ms until `stop()`; the figures
 * cover only the span between start and stop (the measured load, not the seeding before it).
 */
export function sampleProcess(pid: number): { stop(): ProcessUsage } {
  const startedAt = performance.now();
  const startCpu = cpuSeconds(pid) ?? 0;
  let lastCpu = startCpu;
  let lastAt = startedAt;
  let peakRssKib = memoryKib(pid)?.rss ?? 0;
  let peakCpuPercent = 0;
  let samples = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const cpu = cpuSeconds(pid);
    const memory = memoryKib(pid);
    if (cpu === undefined || memory === undefined) return;
    samples += 1;
    peakRssKib = Math.max(peakRssKib, memory.rss);
    peakCpuPercent = Math.max(peakCpuPercent, ((cpu - lastCpu) / ((now - lastAt) / 1000)) * 100);
    lastCpu = cpu;
    lastAt = now;
  }, SAMPLE_INTERVAL_MS);
  return {
    stop() {
      clearInterval(timer);
      const endCpu = cpuSeconds(pid) ?? lastCpu;
      const memory = memoryKib(pid);
      peakRssKib = Math.max(peakRssKib, memory?.rss ?? 0);
      const wallSeconds = (performance.now() - startedAt) / 1000;
      return {
        cpu_percent: round(((endCpu - startCpu) / wallSeconds) * 100, 1),
        cpu_percent_peak: round(peakCpuPercent, 1),
        peak_rss_mib: round(peakRssKib / KIB_PER_MIB, 1),
        vm_hwm_mib: round((memory?.hwm ?? 0) / KIB_PER_MIB, 1),
        samples,
      };
    },
  };
}
