// The clock floor: how far the newest signed `issued` may move the device's notion of "now" past its own clock.
import { ConfigError, UpgradeError } from '../errors.js';
import { MAX_CLOCK_AHEAD_SEC } from '../config.js';

/** now + maxAheadSec in ms: the furthest the floor may ever put "now", whatever was stored or signed. */
function limitMs(nowMs: number, maxAheadSec: number): number {
  if (!Number.isSafeInteger(maxAheadSec) || maxAheadSec < 0 || maxAheadSec > MAX_CLOCK_AHEAD_SEC) {
    throw new ConfigError('E_CONFIG_INVALID', `clock-ahead bound must be an integer 0..${MAX_CLOCK_AHEAD_SEC} (got ${String(maxAheadSec)})`, {
      context: { maxClockAheadSec: maxAheadSec },
    });
  }
  if (Number.isNaN(nowMs)) throw new UpgradeError('E_INTERNAL', 'clock floor given an invalid current time');
  return nowMs + maxAheadSec * 1000;
}

export interface FloorInUse {
  /** The floor expiry is judged against; -Infinity when nothing was ever accepted. */
  floorMs: number;
  /** True when the stored floor lay beyond now + bound and was cut back to it. */
  capped: boolean;
}

/**
 * The stored floor as verification uses it: never more than `maxAheadSec` past the device clock, so a floor
 * poisoned by a far-future `issued` (signed with a wrong clock, or stored by an older agent) stops mattering.
 * The stored value itself is left alone. Pure.
 */
export function clockFloorInUse(stored: string | null, nowMs: number, maxAheadSec: number): FloorInUse {
  const limit = limitMs(nowMs, maxAheadSec);
  if (stored === null) return { floorMs: -Infinity, capped: false };
  const floorMs = Date.parse(stored);
  // Silently ignoring a garbled floor would let a stale manifest through on a device with a wrong clock.
  if (Number.isNaN(floorMs)) throw new UpgradeError('E_INTERNAL', `newest issued time is not a date: ${stored}`);
  return floorMs > limit ? { floorMs: limit, capped: true } : { floorMs, capped: false };
}

/**
 * What an accepted manifest's `issued` may raise the stored floor to: `issued` itself (unchanged, as signed)
 * unless it lies beyond now + `maxAheadSec`, then that limit. The store still only ever raises it. Pure.
 */
export function clockFloorToStore(issued: string, nowMs: number, maxAheadSec: number): string {
  const limit = limitMs(nowMs, maxAheadSec);
  const issuedMs = Date.parse(issued);
  if (Number.isNaN(issuedMs)) throw new UpgradeError('E_INTERNAL', `issued time is not a date: ${issued}`);
  return issuedMs > limit ? new Date(limit).toISOString() : issued;
}
