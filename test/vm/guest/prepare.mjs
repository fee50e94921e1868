// In-guest e2e prepare step: before the agent starts, applies the boot plan's file changes (a changed config, fresh data).
import { openSync, readFileSync, writeFileSync, writeSync, fsyncSync, closeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Buffer } from 'node:buffer';

const text = readFileSync('/dev/vdd').toString('utf8').replace(/\0+$/g, '').trim();
const plan = text ? JSON.parse(text) : {};
const out = openSync('/dev/ttyS1', 'w');
for (const [path, content] of Object.entries(plan.write ?? {})) {
  writeFileSync(path, content);
  writeSync(out, `E2E wrote ${JSON.stringify({ path, bytes: Buffer.byteLength(content) })}\n`);
}
if (plan.dataMiB) {
  const fd = openSync('/var/lib/e2e/data.bin', 'w');
  for (let i = 0; i < plan.dataMiB; i++) writeSync(fd, randomBytes(1 << 20));
  fsyncSync(fd);
  closeSync(fd);
  writeSync(out, `E2E wrote ${JSON.stringify({ path: '/var/lib/e2e/data.bin', bytes: plan.dataMiB << 20 })}\n`);
}
