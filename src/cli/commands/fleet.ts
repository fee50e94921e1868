// `upgradectl fleet status|start|widen|pause|resume|pin|hold`: the operator's verbs against the fleet server's admin API.
import { flagString, requireFlag, type ParsedArgs } from '../args.js';
import { UsageError } from '../../errors.js';
import { adminRequest, type AdminTarget } from '../../fleet/admin-client.js';
import { renderFleetStatus, type FleetStatus } from '../../fleet/fleet-status.js';
import type { RolloutRow } from '../../fleet/fleet-store.js';
import { withSchema } from '../status-view.js';

const DEFAULT_TIMEOUT_SEC = 30;

function fromEnv(args: ParsedArgs, flag: string, env: string): string | undefined {
  return flagString(args, flag) ?? (process.env[env] || undefined);
}

/** The server, token and CA from the flags, else the environment. */
export function adminTarget(args: ParsedArgs): AdminTarget {
  const server = fromEnv(args, 'server', 'UPGRADE_FLEET_SERVER');
  const tokenFile = fromEnv(args, 'token-file', 'UPGRADE_FLEET_TOKEN_FILE');
  if (server === undefined) throw new UsageError('E_USAGE', '--server URL is required (or $UPGRADE_FLEET_SERVER)');
  if (tokenFile === undefined) throw new UsageError('E_USAGE', '--token-file FILE is required (or $UPGRADE_FLEET_TOKEN_FILE)');
  const timeout = flagString(args, 'timeout');
  if (timeout !== undefined && !/^[1-9]\d{0,5}$/.test(timeout)) throw new UsageError('E_USAGE', '--timeout takes whole seconds, 1..999999');
  return { server, tokenFile, caFile: fromEnv(args, 'ca-file', 'UPGRADE_FLEET_CA_FILE') ?? null, timeoutMs: Number(timeout ?? DEFAULT_TIMEOUT_SEC) * 1000 };
}

function num(args: ParsedArgs, name: string, o: { min: number; max: number; required: boolean; decimals?: boolean }): number | undefined {
  const v = o.required ? requireFlag(args, name) : flagString(args, name);
  if (v === undefined) return undefined;
  const ok = o.decimals ? /^\d+(\.\d{1,2})?$/.test(v) : /^\d+$/.test(v);
  if (!ok || Number(v) < o.min || Number(v) > o.max) {
    throw new UsageError('E_USAGE', `--${name} must be a ${o.decimals ? 'number (up to two decimals)' : 'whole number'} within ${o.min}..${o.max}`);
  }
  return Number(v);
}

const UNIT: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** `30m`, `6h`, `1d` or plain seconds. */
export function parseDuration(v: string, flag: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(v);
  const sec = m ? Number(m[1]) * (UNIT[m[2] || 's'] as number) : 0;
  if (!m || sec < 1) throw new UsageError('E_USAGE', `--${flag} takes a duration: 90s, 30m, 6h, 1d or whole seconds`);
  return sec;
}

/** The admin request body of each verb, from its flags. Pure (exported for tests). */
export function adminBody(sub: string, args: ParsedArgs): Record<string, unknown> {
  const id = (): number => num(args, 'id', { min: 1, max: Number.MAX_SAFE_INTEGER, required: true }) as number;
  switch (sub) {
    case 'start': {
      const step = num(args, 'step', { min: 0, max: 100, required: false, decimals: true });
      const every = flagString(args, 'every');
      if ((step === undefined) !== (every === undefined)) throw new UsageError('E_USAGE', '--step and --every go together (widen by --step every --every)');
      return {
        channel: requireFlag(args, 'channel'), hardware: requireFlag(args, 'hardware'),
        version: num(args, 'version', { min: 1, max: Number.MAX_SAFE_INTEGER, required: true }),
        percent: num(args, 'percent', { min: 0, max: 100, required: true, decimals: true }),
        ...(step === undefined || every === undefined ? {} : { stepPercent: step, everySec: parseDuration(every, 'every') }),
      };
    }
    case 'widen':
      return { id: id(), percent: num(args, 'percent', { min: 0, max: 100, required: true, decimals: true }) };
    case 'pause':
    case 'resume':
      return { id: id() };
    case 'pin': {
      const version = num(args, 'version', { min: 1, max: Number.MAX_SAFE_INTEGER, required: false });
      const chosen = [version !== undefined, args.flags['stay'] === true, args.flags['remove'] === true].filter(Boolean).length;
      if (chosen !== 1) throw new UsageError('E_USAGE', 'pin takes exactly one of --version N, --stay, --remove');
      const deviceId = requireFlag(args, 'device');
      if (args.flags['remove'] === true) return { deviceId };
      return { deviceId, version: version ?? null };
    }
    case 'hold':
      return { version: num(args, 'version', { min: 1, max: Number.MAX_SAFE_INTEGER, required: true }), held: args.flags['release'] !== true };
  }
  throw new UsageError('E_USAGE', `unknown fleet verb ${sub}`);
}

function rolloutLine(r: RolloutRow): string {
  return `rollout #${r.id} ${r.channel}/${r.hardware} v${r.version}: ${r.state}${r.pausedReason ? ` (${r.pausedReason})` : ''}, ${r.percent}%` +
    `${r.stepPercent > 0 ? `, +${r.stepPercent}% every ${r.everySec}s` : ''}`;
}

function render(sub: string, answer: Record<string, unknown>): string {
  if (sub === 'pin') return `pins: ${Object.entries(answer['pins'] as Record<string, number | null>).map(([d, v]) => `${d}=${v ?? 'stay'}`).join(', ') || '-'}`;
  if (sub === 'hold') return `held versions: ${(answer['holds'] as number[]).join(', ') || '-'}`;
  return rolloutLine(answer as unknown as RolloutRow);
}

export async function fleetVerb(sub: string, args: ParsedArgs, json: boolean): Promise<string> {
  const target = adminTarget(args);
  if (sub === 'status') {
    const s = (await adminRequest(target, 'status')) as FleetStatus;
    return json ? JSON.stringify(s, null, 2) : renderFleetStatus(s);
  }
  const answer = (await adminRequest(target, sub, adminBody(sub, args))) as Record<string, unknown>;
  return json ? JSON.stringify(withSchema(answer), null, 2) : render(sub, answer);
}
