// Fleet simulation client (a child process): light devices that check in with the agent's own request and schedule.
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { NodeDispatcher } from '../src/adapters/http-dispatcher.js';
import { comeBackLater, fetchCapped } from '../src/adapters/http.js';
import { parseConfig, smallFetchLimits } from '../src/config.js';
import { checkIn, type CheckinReport } from '../src/steps/checkin.js';
import { diffOfferUrl } from '../src/steps/diff-offer.js';
import { afterCheckin, initialCheckinState, type CheckinState } from '../src/daemon/schedule.js';
import { UpgradeError, asUpgradeError } from '../src/errors.js';
import { TimerHeap } from './fleet-sim-stats.js';

export interface ClientArgs {
  url: string;
  caFile: string;
  /** Device ids first..first+count-1. */
  first: number;
  count: number;
  speedup: number;
  connections: number;
  hardware: string;
  channel: string;
  /** The release the rollout offers. */
  release: number;
  /** [base version, share] pairs: what the devices run before the release. */
  bases: [number, number][];
}

export interface PhaseStats {
  checkins: number;
  checkinOk: number;
  manifestGets: number;
  diffGets: number;
  /** Responses 202 (diff being built), and distinct devices served one in this phase. */
  got202: number;
  devices202: number;
  /** status or error code → count, over all requests. */
  outcomes: Record<string, number>;
  /** Latency (ms) of every check-in that got an HTTP answer. */
  checkinMs: number[];
  /** Latency (ms) of every manifest and diff request that got an HTTP answer. */
  otherMs: number[];
  /** Successful check-ins per wall second since the phase began. */
  okPerSec: number[];
  cpuMs: number;
}

export interface ClientResult {
  phases: PhaseStats[];
  devices202: number;
  /** Wall seconds after the herd phase began until this many devices had checked in successfully (sorted). */
  herdOkSec: number[];
}

const args = JSON.parse(process.argv[2] ?? '{}') as ClientArgs;
const cfg = parseConfig({ deviceId: 'fleet-sim', hardware: args.hardware, channel: args.channel, zfs: { pool: 'sim' }, fleet: { url: args.url } });
const limits = smallFetchLimits(cfg);
const dispatcher = new NodeDispatcher({
  maxSockets: args.connections, headersTimeoutMs: limits.deadlineMs, bodyTimeoutMs: limits.deadlineMs, connectTimeoutMs: cfg.http.connectTimeoutSec * 1000,
  ca: readFileSync(args.caFile, 'utf8'),
});
const net = { dispatcher, limits, now: Date.now };

const n = args.count;
const committed = new Int32Array(n);
const state: CheckinState[] = [];
const served202 = new Uint8Array(n);
const phase202 = new Uint8Array(n);
const herdOk = new Float64Array(n).fill(Number.NaN);
for (let i = 0; i < n; i++) {
  let r = ((args.first + i) * 2654435761) % 4294967296 / 4294967296;
  let base = args.bases[0]?.[0] ?? 1;
  for (const [v, share] of args.bases) {
    base = v;
    if ((r -= share) < 0) break;
  }
  committed[i] = base;
}

const newPhase = (): PhaseStats => ({ checkins: 0, checkinOk: 0, manifestGets: 0, diffGets: 0, got202: 0, devices202: 0, outcomes: {}, checkinMs: [], otherMs: [], okPerSec: [], cpuMs: 0 });
const phases: PhaseStats[] = [newPhase()];
let current = 0;
let phaseWall0 = performance.now();
let cpu0 = process.cpuUsage();
let herdIndex = -1;

// The simulated clock: `speedup` simulated ms per wall ms, from the `go` message on.
let wall0 = 0;
const simNow = (): number => (performance.now() - wall0) * args.speedup;
const heap = new TimerHeap(n);
let timer: NodeJS.Timeout | null = null;
let stopped = false;

function count(p: PhaseStats, key: string): void {
  p.outcomes[key] = (p.outcomes[key] ?? 0) + 1;
}

function report(i: number): CheckinReport {
  const v = committed[i] as number;
  const done = v === args.release;
  return {
    deviceId: `sim-${args.first + i}`, hardware: args.hardware, channel: args.channel, agentVersion: '0.1.0',
    bootedVersion: v, committedVersion: v, deployment: done ? { version: v, phase: 'committed' } : null, lastError: null,
    freeBytes: { images: 8e9, state: 1e9 },
  };
}

/** A timed request in the current phase: the latency when an HTTP answer came, the outcome either way. */
async function timed<T extends { status: number }>(into: 'checkinMs' | 'otherMs', kind: string, run: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    const res = await run();
    const p = phases[current] as PhaseStats;
    p[into].push(performance.now() - t0);
    count(p, `${kind} ${res.status}`);
    return res;
  } catch (err) {
    count(phases[current] as PhaseStats, `${kind} ${errorKey(err)}`);
    throw err;
  }
}

const seen = new Set<string>();

function errorKey(err: unknown): string {
  const e = asUpgradeError(err);
  if (process.env['BENCH_FLEET_DEBUG'] && !seen.has(e.code + String(current))) {
    seen.add(e.code + String(current));
    process.stderr.write(`client phase ${current}: ${e.code} ${e.message} ${JSON.stringify(e.context)} cause ${String((e.cause as Error | undefined)?.message)}\n`);
  }
  const ctx = e.context as { netCode?: string | null; status?: number } | undefined;
  const cause = ctx?.netCode ?? (ctx?.status === undefined ? null : `HTTP ${ctx.status}`);
  return cause ? `${e.code}/${cause}` : e.code;
}

/** One cycle as the daemon runs it: check in; with a target, the manifest and the diff from its base (202: later). */
async function cycle(i: number): Promise<void> {
  let error: UpgradeError | null = null;
  let serverIntervalSec: number | null = null;
  const p = phases[current] as PhaseStats;
  p.checkins++;
  try {
    // checkIn resolves on 200 only: any other answer throws (RetryLaterError for 429/503), counted by its code.
    const { a: answer } = await timed('checkinMs', 'checkin', async () => ({ status: 200, a: await checkIn(args.url, report(i), net) }));
    serverIntervalSec = answer.checkinIntervalSec;
    const q = phases[current] as PhaseStats;
    q.checkinOk++;
    const sec = Math.floor((performance.now() - phaseWall0) / 1000);
    q.okPerSec[sec] = (q.okPerSec[sec] ?? 0) + 1;
    if (current === herdIndex && Number.isNaN(herdOk[i])) herdOk[i] = (performance.now() - phaseWall0) / 1000;
    if (answer.target && answer.target.version !== committed[i]) await fetchRelease(i, answer.target.version, answer.target.manifestUrl);
  } catch (err) {
    error = asUpgradeError(err);
  }
  if (stopped) return;
  state[i] = afterCheckin(state[i] as CheckinState, cfg, { ok: error === null, error, serverIntervalSec }, simNow(), Math.random());
  schedule(i, (state[i] as CheckinState).nextAt);
}

/** The manifest, then the on-demand diff: 200 or 404 (full stream) count as installed, 202/503/429 throw RetryLaterError. */
async function fetchRelease(i: number, version: number, manifestUrl: string): Promise<void> {
  const p = phases[current] as PhaseStats;
  p.manifestGets++;
  await timed('otherMs', 'manifest', () => fetchCapped(manifestUrl, { ...net, maxBytes: cfg.trust.maxManifestBytes, method: 'GET' }));
  const url = diffOfferUrl(args.url, version, committed[i] as number);
  (phases[current] as PhaseStats).diffGets++;
  const res = await timed('otherMs', 'diff', () => fetchCapped(url, { ...net, maxBytes: 1 << 20, method: 'GET' }));
  if (res.status === 202 || res.status === 503 || res.status === 429) {
    if (res.status === 202) {
      const q = phases[current] as PhaseStats;
      q.got202++;
      served202[i] = 1;
      if (!phase202[i]) q.devices202++;
      phase202[i] = 1;
    }
    throw comeBackLater(res.headers, url, Date.now());
  }
  if (res.status === 200 || res.status === 404) committed[i] = version;
}

function schedule(i: number, atSim: number): void {
  heap.push(atSim, i);
  if (heap.peekAt() === atSim) arm();
}

function arm(): void {
  if (timer) clearTimeout(timer);
  if (stopped || heap.size === 0) return;
  timer = setTimeout(fire, Math.max(0, (heap.peekAt() - simNow()) / args.speedup));
}

function fire(): void {
  timer = null;
  const now = simNow();
  while (heap.size > 0 && heap.peekAt() <= now) void cycle(heap.pop());
  arm();
}

function endPhase(): void {
  const used = process.cpuUsage(cpu0);
  (phases[current] as PhaseStats).cpuMs = (used.user + used.system) / 1000;
}

process.on('message', (m: { type: string; index?: number; herd?: boolean }) => {
  if (m.type === 'go') {
    wall0 = performance.now();
    phaseWall0 = wall0;
    cpu0 = process.cpuUsage();
    // A fleet that has been running: each device's next check-in somewhere in its first interval.
    for (let i = 0; i < n; i++) {
      state[i] = initialCheckinState(0);
      heap.push(Math.random() * cfg.fleet.checkinIntervalSec * 1000, i);
    }
    arm();
  } else if (m.type === 'phase') {
    endPhase();
    current = m.index as number;
    phases[current] = newPhase();
    phase202.fill(0);
    phaseWall0 = performance.now();
    cpu0 = process.cpuUsage();
    if (m.herd) herdIndex = current;
  } else if (m.type === 'finish') {
    endPhase();
    stopped = true;
    if (timer) clearTimeout(timer);
    const herdOkSec = Array.from(herdOk).filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
    const result: ClientResult = { phases, devices202: served202.reduce((a, b) => a + b, 0), herdOkSec };
    process.send?.({ type: 'result', result }, () => {
      void dispatcher.close().finally(() => process.exit(0));
    });
  }
});
process.send?.({ type: 'ready', devices: n });
