// The download-size bench's settings from the environment and its markdown table.
import { describe, expect, it } from 'vitest';
import { downloadSizeOpts, formatTable, parseRecordsize, showSize } from '../../bench/download-size-opts.js';

describe('downloadSizeOpts', () => {
  it('defaults to one 128K run at xz -3 with zstd, on a 768 MiB image', () => {
    expect(downloadSizeOpts({})).toEqual({ imageMiB: 768, recordsizes: [131072], xzLevels: [3], skipZstd: false });
  });

  it('takes lists of recordsizes and xz levels, in order, and BENCH_SKIP_ZSTD=1', () => {
    const o = downloadSizeOpts({ BENCH_RECORDSIZE: '128K, 16k,4096', BENCH_XZ_LEVEL: '3,6,6', BENCH_SKIP_ZSTD: '1', BENCH_IMAGE_MIB: '512' });
    expect(o).toEqual({ imageMiB: 512, recordsizes: [131072, 16384, 4096], xzLevels: [3, 6], skipZstd: true });
  });

  it('refuses what is not a ZFS recordsize, a repeated one, a bad level or image size', () => {
    for (const bad of ['3K', '256', '32M', 'big', '', '4K,4096']) expect(() => downloadSizeOpts({ BENCH_RECORDSIZE: bad })).toThrow(/BENCH_RECORDSIZE|empty list/);
    expect(() => downloadSizeOpts({ BENCH_XZ_LEVEL: '10' })).toThrow(/BENCH_XZ_LEVEL/);
    expect(() => downloadSizeOpts({ BENCH_IMAGE_MIB: '10' })).toThrow(/BENCH_IMAGE_MIB/);
  });
});

describe('sizes', () => {
  it('parse and show round-trip', () => {
    expect(['512', '4K', '128K', '1M'].map((s) => showSize(parseRecordsize(s)))).toEqual(['512', '4K', '128K', '1M']);
  });
});

describe('formatTable', () => {
  it('prints one line per change, recordsize and level, with the ratios to zstd and the bound', () => {
    const t = formatTable([{
      change: 'app', from: 3, to: 4, zstdPatch: 1000, zstdSec: 1, lowerBoundXz: 800,
      cells: [{ recordsize: 131072, xzLevel: 3, oursXz: 3000, scratchXz: 9000 }, { recordsize: 4096, xzLevel: 6, oursXz: 1200, scratchXz: null }],
    }]).split('\n');
    expect(t).toHaveLength(4);
    expect(t[2]).toBe('| app, 3 → 4 | 128K | -3 | 3,000 | 9,000 | 1,000 | 800 | 3.00 | 3.75 |');
    expect(t[3]).toBe('| app, 3 → 4 | 4K | -6 | 1,200 | – | 1,000 | 800 | 1.20 | 1.50 |');
  });

  it('leaves the zstd ratio out when zstd was skipped', () => {
    const t = formatTable([{ change: 'pkg', from: 1, to: 2, zstdPatch: null, zstdSec: null, lowerBoundXz: 100, cells: [{ recordsize: 16384, xzLevel: 3, oursXz: 150, scratchXz: 5 }] }]);
    expect(t.split('\n')[2]).toBe('| pkg, 1 → 2 | 16K | -3 | 150 | 5 | – | 100 | – | 1.50 |');
  });
});
