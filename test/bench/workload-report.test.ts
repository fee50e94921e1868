// The workload bench's text report: every measured figure of a repetition reaches its table.
import { describe, it, expect } from 'vitest';
import { renderWorkload } from '../../bench/workload-report.js';
import type { MeasuredRun, WorkloadResults } from '../../bench/workload-case.js';

const run = (wallSec: number, cpuSec: number, zfsFuseCpuSec: number | null, serverCpuSec: number): MeasuredRun =>
  ({ wallSec, downloadSec: wallSec / 2, importSec: wallSec / 4, cpuSec, zfsFuseCpuSec, serverCpuSec });
const sp = (median: number) => ({ median, min: median - 0.01, max: median + 0.01, n: 1 });

const results: WorkloadResults = {
  startedAt: '2026-12-03T17:00:00.000Z',
  config: { diffMiB: 256, reps: 1, aloneSec: 10, cpuWorkers: 2, readFileMiB: 512, compressedBytes: 256 * 2 ** 20, streamBytes: 257 * 2 ** 20 },
  priorities: { cpuCgroup: '/sys/fs/cgroup/cpu/x', cpuShares: 204, blkio: null, nice: 10, ionice: '-c 2 -n 7', diskScheduler: 'vda: mq-deadline' },
  loadAvg: { start: [1, 1, 1], end: [2, 2, 2] },
  reps: [{
    load1: [1, 2, 3, 4],
    alone: { cpu: 90e6, disk: 1500e6 },
    aloneRuns: [{ cpu: 90e6, disk: 1500e6 }, { cpu: 90e6, disk: 1500e6 }],
    agentAlone: run(2.6, 2.0, 0.4, 0.7),
    low: { cpu: 72e6, disk: 1200e6, agent: run(8.5, 2.1, 0.3, 0.8) },
    normal: { cpu: 56e6, disk: 1170e6, agent: run(4.9, 2.2, null, 0.9) },
  }],
  summary: { low: { cpuRatio: sp(0.8), diskRatio: sp(0.8), prefetchSlowdown: sp(3.3), zfsFuseShare: sp(0.13) },
    normal: { cpuRatio: sp(0.62), diskRatio: sp(0.78), prefetchSlowdown: sp(1.9), zfsFuseShare: sp(0.15) }, agentAloneSec: sp(2.6) },
};

describe('renderWorkload', () => {
  const text = renderWorkload(results);
  it('summarises ratios per priority', () => {
    expect(text).toContain('| unit\'s (shares+nice+ionice) | 0.80 (0.79–0.81) | 0.80 (0.79–0.81) | 8.5 | 3.30 (3.29–3.31) | 0.13 (0.12–0.14) |');
  });
  it('bills the agent, zfs-fuse and the server apart per repetition', () => {
    const row = text.split('\n').find((l) => l.startsWith('| 1 |'));
    expect(row).toBe('| 1 | 90.0 | 1500.0 | 72.0 / 1200.0 | 56.0 / 1170.0 | 2.6 (1.3 + 0.7) | 2.0 / 2.1 / 2.2 | 0.4 / 0.3 / n/a | 0.7 / 0.8 / 0.9 |');
  });
});
