// BENCH_ONLY=fleet: 80,000 light devices against one `upgradectl serve` on 127.0.0.1 over a compressed simulated day.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ChildProcess } from 'node:child_process';
import { createDispatcher, fetchCapped } from '../src/adapters/http.js';
import { parseConfig } from '../src/config.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../src/sandbox/postgres.js';
import { ADMIN_TOKEN, buildSimFixture, SIM_BASES, SIM_CHANNEL, SIM_HARDWARE, SIM_RELEASE } from './fleet-sim-fixture.js';
import { CLK_TCK, GroupSampler, postgresPids, procSample, startClient, startServer, stopChild, type ClientHandle } from './fleet-sim-procs.js';
import { cpuPercent, phasePlan, wallSec, type Phase } from './fleet-sim-stats.js';
import { mergePhase, type FleetRun, type PhaseRow } from './fleet-sim-report.js';

export interface FleetConfig {
  devices: number;
  speedup: number;
  clients: number;
  connections: number;
  /** Simulated seconds one on-demand diff build takes. */
  buildSimSec: number;
  databases: ('sqlite' | 'pg')[];
}

export function fleetConfig(): FleetConfig {
  const env = (k: string, d: string): string => process.env[k] ?? d;
  const c: FleetConfig = {
    devices: Number(env('BENCH_FLEET_DEVICES', '80000')),
    speedup: Number(env('BENCH_FLEET_SPEEDUP', '60')),
    clients: Number(env('BENCH_FLEET_CLIENTS', '1')),
    connections: Number(env('BENCH_FLEET_CONNECTIONS', '256')),
    buildSimSec: Number(env('BENCH_FLEET_BUILD_SEC', '300')),
    databases: env('BENCH_FLEET_DB', 'sqlite,pg').split(',') as FleetConfig['databases'],
  };
  if (![c.devices, c.speedup, c.clients, c.connections, c.buildSimSec].every((x) => x > 0) || c.databases.some((d) => d !== 'sqlite' && d !== 'pg')) {
    throw new Error('bad BENCH_FLEET_* settings');
  }
  return c;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One run of the day against one database. */
export async function benchFleet(db: 'sqlite' | 'pg', c: FleetConfig, progress: (m: string) => void): Promise<FleetRun> {
  const agent = parseConfig({ deviceId: 'x', hardware: SIM_HARDWARE, zfs: { pool: 'x' } });
  const dir = mkdtempSync(join(tmpdir(), 'ua-fleetsim-'));
  let cluster: ThrowawayPostgres | null = null;
  let server: ChildProcess | null = null;
  const clients: ClientHandle[] = [];
  const t0 = performance.now();
  try {
    cluster = db === 'pg' ? await startThrowawayPostgres({ max_connections: 50 }) : null;
    const database = cluster ? await cluster.createDatabase('fleetsim') : join(dir, 'fleet.db');
    const fx = await buildSimFixture(dir, database, agent.fleet.checkinIntervalSec);
    const buildMs = (c.buildSimSec * 1000) / c.speedup;
    server = await startServer(fx.configPath, SIM_RELEASE, buildMs);
    const url = `https://127.0.0.1:${fx.port}`;
    const srv = new GroupSampler(() => (server?.pid ? [server.pid] : []));
    const pgDir = cluster ? join(cluster.dir, 'data') : null;
    const pgs = new GroupSampler(() => (pgDir ? postgresPids(pgDir) : []));
    const per = Math.ceil(c.devices / c.clients);
    for (let k = 0; k < c.clients; k++) {
      clients.push(await startClient({
        url, caFile: fx.caFile, first: k * per, count: Math.min(per, c.devices - k * per), speedup: c.speedup, connections: c.connections,
        hardware: SIM_HARDWARE, channel: SIM_CHANNEL, release: SIM_RELEASE, bases: SIM_BASES,
      }));
    }
    const admin = createDispatcher({ caFile: fx.caFile, headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000, connectTimeoutMs: 60_000 });
    const call = async (op: string, body: unknown): Promise<Record<string, unknown>> => {
      const res = await fetchCapped(`${url}/v1/admin/${op}`, {
        dispatcher: admin, maxBytes: 1 << 24, limits: { deadlineMs: 120_000, minBytesPerSec: 0, slowWindowMs: 30_000, maxRedirects: 0 },
        method: body === null ? 'GET' : 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        ...(body === null ? {} : { body: JSON.stringify(body) }),
      });
      if (res.status !== 200) throw new Error(`admin ${op}: HTTP ${res.status} ${res.body.toString()}`);
      return JSON.parse(res.body.toString()) as Record<string, unknown>;
    };
    const plan = phasePlan(agent.fleet.checkinIntervalSec, agent.fleet.jitterSec);
    let rolloutId = 0;
    const act = async (p: Phase): Promise<void> => {
      if (p.action === 'start-rollout') rolloutId = (await call('start', { channel: SIM_CHANNEL, hardware: SIM_HARDWARE, version: SIM_RELEASE, percent: 10 })).id as number;
      if (p.action === 'widen-rollout') await call('widen', { id: rolloutId, percent: 100 });
      if (p.action === 'stop-server' && server) await stopChild(server);
      if (p.action === 'start-server') server = await startServer(fx.configPath, SIM_RELEASE, buildMs);
    };
    const selfCpu = (): number => procSample(process.pid)?.ticks ?? 0;
    const rows: Omit<PhaseRow, 'client'>[] = [];
    for (const ch of clients) ch.child.send({ type: 'go' });
    for (const [i, p] of plan.entries()) {
      if (i > 0) for (const ch of clients) ch.child.send({ type: 'phase', index: i, herd: p.name === 'herd' });
      const start = performance.now();
      srv.sample();
      pgs.sample();
      const [st, pt, dt] = [srv.ticks(), pgs.ticks(), selfCpu()];
      srv.resetPeak();
      pgs.resetPeak();
      const load0 = loadavg();
      progress(`${db}: phase ${p.name} (${wallSec(p.simSec, c.speedup).toFixed(0)} s wall)`);
      await act(p);
      const end = start + wallSec(p.simSec, c.speedup) * 1000;
      while (performance.now() < end) {
        await sleep(Math.min(500, end - performance.now()));
        srv.sample();
        pgs.sample();
      }
      const sec = (performance.now() - start) / 1000;
      rows.push({
        name: p.name, wallSec: sec, simSec: p.simSec, loadStart: load0, loadEnd: loadavg(),
        serverCpuPct: cpuPercent(srv.ticks() - st, CLK_TCK, sec), serverPeakMiB: srv.resetPeak() / 1024,
        pgCpuPct: cluster ? cpuPercent(pgs.ticks() - pt, CLK_TCK, sec) : null, pgPeakMiB: cluster ? pgs.resetPeak() / 1024 : null,
        driverCpuPct: cpuPercent(selfCpu() - dt, CLK_TCK, sec),
      });
    }
    // The server may still be buried under the herd: its status is a nice-to-have, not worth the run.
    const status = await call('status', null).catch((err: unknown) => ({ error: (err as Error).message }) as Record<string, unknown>);
    const results = await Promise.all(clients.map((ch) => ch.result()));
    await admin.close();
    return {
      db, config: c, startedAt: new Date(Date.now() - (performance.now() - t0)).toISOString(), totalSec: (performance.now() - t0) / 1000,
      phases: rows.map((r, i) => ({ ...r, client: mergePhase(results.map((x) => x.phases[i]).filter((x) => x !== undefined), r.wallSec) })),
      devices202: results.reduce((a, r) => a + r.devices202, 0),
      herdOkSec: results.flatMap((r) => r.herdOkSec).sort((a, b) => a - b),
      serverStatus: 'error' in status ? status : { devices: status['devices'], diffs: status['diffs'] },
    };
  } finally {
    for (const ch of clients) if (ch.child.exitCode === null) ch.child.kill('SIGKILL');
    if (server) await stopChild(server);
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
