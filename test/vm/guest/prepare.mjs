// In-guest e2e prepare step: before the agent starts, applies the boot plan's file changes (a changed config, fresh data).
import { openSync, readFileSync, writeFileSync, writeSync, fsyncSync, closeSync, mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Buffer } from 'node:buffer';

const text = readFileSync('/dev/vdd').toString('utf8').replace(/\0+$/g, '').trim();
const plan = text ? JSON.parse(text) : {};
const out = openSync('/dev/ttyS1', 'w');
for (const [path, content] of Object.entries(plan.write ?? {})) {
  writeFileSync(path, content);
  writeSync(out, `E2E wrote ${JSON.stringify({ path, bytes: Buffer.byteLength(content) })}\n`);
}
// The agent units read /run/e2e/agent.env (a drop-in of the e2e appliance): e.g. a crash point for this boot only.
mkdirSync('/run/e2e', { recursive: true });
const env = Object.entries(plan.agentEnv ?? {}).map(([k, v]) => `${k}=${v}\n`).join('');
writeFileSync('/run/e2e/agent.env', env);
if (env) writeSync(out, `E2E wrote ${JSON.stringify({ path: '/run/e2e/agent.env', env: plan.agentEnv })}\n`);
if (plan.dataMiB) {
  const fd = openSync('/var/lib/e2e/data.bin', 'w');
  for (let i = 0; i < plan.dataMiB; i++) writeSync(fd, randomBytes(1 << 20));
  fsyncSync(fd);
  closeSync(fd);
  writeSync(out, `E2E wrote ${JSON.stringify({ path: '/var/lib/e2e/data.bin', bytes: plan.dataMiB << 20 })}\n`);
}
