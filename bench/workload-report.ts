// Renders the workload bench's results as text for stdout (the JSON goes to .cache/bench-workload.json).
import type { WorkloadResults } from './workload-case.js';
import type { Spread } from './workload-stats.js';

const MiB = 1024 * 1024;
const f = (n: number, d = 2): string => n.toFixed(d);
const sp = (s: Spread, d = 2): string => `${f(s.median, d)} (${f(s.min, d)}–${f(s.max, d)})`;
const list = (xs: number[], d = 1): string => xs.map((x) => f(x, d)).join(', ');

export function renderWorkload(r: WorkloadResults): string {
  const c = r.config;
  const p = r.priorities;
  const out: string[] = [];
  out.push(`workload bench, ${r.startedAt}: ${c.cpuWorkers} gzip -1 workers + 1 O_DIRECT dd reader (64 MiB chunks of a ${c.readFileMiB} MiB file), alone ${c.aloneSec} s before and after each rep`);
  out.push(`agent: downloadStream over HTTPS (127.0.0.1, throwaway CA) + importStream of a ${f(c.compressedBytes / MiB, 1)} MiB xz diff (${f(c.streamBytes / MiB, 1)} MiB stream) into zfs-fuse; ${c.reps} reps`);
  out.push(`unit's priorities as applied: cpu cgroup ${p.cpuCgroup} cpu.shares=${p.cpuShares}; ${p.blkio ? `blkio ${p.blkio.file}=${p.blkio.weight}` : 'blkio: no weight file (IOWeight= not applicable)'}; nice ${p.nice}; ionice ${p.ionice}; ${p.diskScheduler}`);
  out.push(`load average at start ${list(r.loadAvg.start, 2)}, at end ${list(r.loadAvg.end, 2)}; 1-min load before/between runs per rep: ${r.reps.map((x) => `[${list(x.load1)}]`).join(' ')}`);
  out.push('');
  out.push('| agent priority | CPU workload ratio | disk workload ratio | prefetch wall s | prefetch slowdown | zfs-fuse share of the agent\'s CPU |');
  out.push('|---|---:|---:|---:|---:|---:|');
  for (const k of ['low', 'normal'] as const) {
    const s = r.summary[k];
    out.push(`| ${k === 'low' ? 'unit\'s (shares+nice+ionice)' : 'default'} | ${sp(s.cpuRatio)} | ${sp(s.diskRatio)} | ${list(r.reps.map((x) => x[k].agent.wallSec))} | ${sp(s.prefetchSlowdown)} | ${sp(s.zfsFuseShare)} |`);
  }
  out.push(`  median (min–max) over reps; ratio = workload rate while the agent runs / mean of the alone runs before and after the rep (goal ≥ 0.9); slowdown = prefetch wall with the workload / alone`);
  out.push(`  prefetch alone: ${sp(r.summary.agentAloneSec)} s wall`);
  out.push('');
  out.push('| rep | alone CPU MB/s | alone disk MB/s | low: CPU / disk MB/s | default: CPU / disk MB/s | agent alone s (dl + import) | agent CPU s alone / low / default | zfs-fuse CPU s alone / low / default | server CPU s alone / low / default |');
  out.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const mb = (x: number): string => f(x / 1e6, 1);
  const z = (x: number | null): string => (x === null ? 'n/a' : f(x, 1));
  r.reps.forEach((x, i) => {
    out.push(`| ${i + 1} | ${mb(x.alone.cpu)} | ${mb(x.alone.disk)} | ${mb(x.low.cpu)} / ${mb(x.low.disk)} | ${mb(x.normal.cpu)} / ${mb(x.normal.disk)} | ${f(x.agentAlone.wallSec, 1)} (${f(x.agentAlone.downloadSec, 1)} + ${f(x.agentAlone.importSec, 1)}) | ${f(x.agentAlone.cpuSec, 1)} / ${f(x.low.agent.cpuSec, 1)} / ${f(x.normal.agent.cpuSec, 1)} | ${z(x.agentAlone.zfsFuseCpuSec)} / ${z(x.low.agent.zfsFuseCpuSec)} / ${z(x.normal.agent.zfsFuseCpuSec)} | ${f(x.agentAlone.serverCpuSec, 1)} / ${f(x.low.agent.serverCpuSec, 1)} / ${f(x.normal.agent.serverCpuSec, 1)} |`);
  });
  out.push('  agent CPU = node + the xz and zfs children it waited for (outside zfs-fuse); zfs-fuse CPU = the daemon\'s utime+stime over the run (it serves every pool on the host); server CPU = the bench process (the HTTPS server\'s side of the download, which a device would not pay)');
  return out.join('\n');
}
