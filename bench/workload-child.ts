// The foreground workload, an ordinary process: `cpu` gzips compressible data in a loop, `disk` reads a file with O_DIRECT dd.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';

/** What the child prints on SIGTERM: bytes of completed units of work, and the seconds until the last one completed. */
export interface WorkloadReport {
  mode: 'cpu' | 'disk';
  bytes: number;
  sec: number;
}

const MiB = 1024 * 1024;
/** dd reads this much per invocation: 64 MiB is ~0.13 s at 500 MB/s, so dd's start-up (~3 ms) costs ~2 %, the same in every run. */
export const DISK_CHUNK_MIB = 64;

/** 1 MiB that gzip -1 compresses about 2:1: bytes from a 16-letter alphabet (4 bits of entropy each), fixed per process. */
function compressible(): Buffer {
  const b = randomFillSync(Buffer.alloc(MiB));
  for (let i = 0; i < b.length; i++) b[i] = 0x61 + ((b[i] as number) & 0x0f);
  return b;
}

function main(): void {
  const mode = process.argv[2];
  const t0 = performance.now();
  let bytes = 0;
  let last = t0;
  let stopping = false;
  let dd: ChildProcess | null = null;
  const report = (): void => {
    const out: WorkloadReport = { mode: mode as 'cpu' | 'disk', bytes, sec: (last - t0) / 1000 };
    process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(0));
  };
  process.once('SIGTERM', () => {
    stopping = true;
    dd?.kill('SIGKILL'); // its unfinished chunk is not counted
    report();
  });
  if (mode === 'cpu') {
    const data = compressible();
    // One chunk per turn of the event loop, so SIGTERM is seen between chunks.
    const step = (): void => {
      if (stopping) return;
      gzipSync(data, { level: 1 });
      bytes += data.length;
      last = performance.now();
      setImmediate(step);
    };
    setImmediate(step);
  } else if (mode === 'disk') {
    const file = process.argv[3];
    const fileMiB = Number(process.argv[4]);
    if (!file || !(fileMiB >= DISK_CHUNK_MIB)) throw new Error('usage: workload-child.js disk FILE SIZE_MIB');
    const chunks = Math.floor(fileMiB / DISK_CHUNK_MIB);
    let k = 0;
    const step = (): void => {
      if (stopping) return;
      const skip = (k++ % chunks) * DISK_CHUNK_MIB;
      dd = spawn('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M', `count=${DISK_CHUNK_MIB}`, `skip=${skip}`, 'iflag=direct', 'status=none'], { stdio: 'ignore' });
      dd.on('close', (code) => {
        if (stopping) return;
        if (code !== 0) throw new Error(`dd exited ${code}`);
        bytes += DISK_CHUNK_MIB * MiB;
        last = performance.now();
        step();
      });
    };
    step();
  } else {
    throw new Error('usage: workload-child.js cpu | disk FILE SIZE_MIB');
  }
}

main();
