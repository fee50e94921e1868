// Maintenance window and switch decisions on a fixed clock (UTC, so DST is out of scope here).
import { describe, it, expect } from 'vitest';
import { decideSwitch, switchDeadline, windowAt, type SwitchDecision, type SwitchInput, type WindowSchedule } from '../../src/core/window.js';

const at = (s: string): Date => new Date(s);
const NIGHTLY: WindowSchedule = { cron: '0 2 * * *', durationMin: 120 }; // 02:00-04:00 UTC
const MIDNIGHT: WindowSchedule = { cron: '30 23 * * *', durationMin: 90, timezone: 'UTC' }; // 23:30-01:00

describe('windowAt', () => {
  // [schedule, now, open, opensAt, closesAt]
  const cases: [string, WindowSchedule, string, boolean, string, string][] = [
    ['before the window', NIGHTLY, '2024-03-10T01:59:59Z', false, '2024-03-10T02:00:00.000Z', '2024-03-10T04:00:00.000Z'],
    ['at its start', NIGHTLY, '2024-03-10T02:00:00Z', true, '2024-03-10T02:00:00.000Z', '2024-03-10T04:00:00.000Z'],
    ['inside', NIGHTLY, '2024-03-10T03:59:59Z', true, '2024-03-10T02:00:00.000Z', '2024-03-10T04:00:00.000Z'],
    ['at its end (half-open)', NIGHTLY, '2024-03-10T04:00:00Z', false, '2024-03-11T02:00:00.000Z', '2024-03-11T04:00:00.000Z'],
    ['crossing midnight: before', MIDNIGHT, '2024-03-10T23:29:00Z', false, '2024-03-10T23:30:00.000Z', '2024-03-11T01:00:00.000Z'],
    ['crossing midnight: late evening', MIDNIGHT, '2024-03-10T23:45:00Z', true, '2024-03-10T23:30:00.000Z', '2024-03-11T01:00:00.000Z'],
    ['crossing midnight: after midnight', MIDNIGHT, '2024-03-11T00:30:00Z', true, '2024-03-10T23:30:00.000Z', '2024-03-11T01:00:00.000Z'],
    ['crossing midnight: closed', MIDNIGHT, '2024-03-11T01:00:00Z', false, '2024-03-11T23:30:00.000Z', '2024-03-12T01:00:00.000Z'],
    ['longer than the period: latest start wins', { cron: '0 * * * *', durationMin: 90 }, '2024-03-10T10:45:00Z', true, '2024-03-10T10:00:00.000Z', '2024-03-10T11:30:00.000Z'],
    ['weekly, mid-week', { cron: '0 1 * * sun', durationMin: 240 }, '2024-03-13T12:00:00Z', false, '2024-03-17T01:00:00.000Z', '2024-03-17T05:00:00.000Z'],
  ];
  it.each(cases)('%s', (_name, schedule, now, open, opensAt, closesAt) => {
    const w = windowAt(schedule, at(now));
    expect({ open: w.open, opensAt: w.opensAt.toISOString(), closesAt: w.closesAt.toISOString() }).toEqual({ open, opensAt, closesAt });
  });

  it('refuses a bad cron with the config code', () => {
    expect(() => windowAt({ cron: '0 25 * * *', durationMin: 60 }, at('2024-03-10T00:00:00Z'))).toThrow(
      expect.objectContaining({ code: 'E_CONFIG_INVALID' }),
    );
  });
});

describe('switchDeadline', () => {
  it('is ready-since plus the delay, or none', () => {
    expect(switchDeadline(at('2024-03-10T00:00:00Z'), 72)?.toISOString()).toBe('2024-03-13T00:00:00.000Z');
    expect(switchDeadline(at('2024-03-10T00:00:00Z'), 0)).toBeNull();
    expect(switchDeadline(null, 72)).toBeNull();
  });
});

describe('decideSwitch', () => {
  const idle = { busy: false, reasons: [] };
  const busy = { busy: true, reasons: ['load: load 7.00 > 4'] };
  const base: SwitchInput = { now: at('2024-03-10T12:00:00Z'), window: NIGHTLY, idle, postponements: 0, maxPostponements: 3, deadline: null, force: false };
  type Expect = Pick<SwitchDecision, 'action' | 'forced' | 'postponements'> & { nextCheckAt: string; reason: RegExp };
  const cases: [string, Partial<SwitchInput>, Expect][] = [
    ['outside the window: wait until it opens', {}, { action: 'wait', forced: false, postponements: 0, nextCheckAt: '2024-03-11T02:00:00.000Z', reason: /outside the maintenance window/ }],
    ['outside and busy: still wait', { idle: busy }, { action: 'wait', forced: false, postponements: 0, nextCheckAt: '2024-03-11T02:00:00.000Z', reason: /outside/ }],
    ['outside, deadline before the window: wake at the deadline', { deadline: at('2024-03-10T20:00:00Z') }, { action: 'wait', forced: false, postponements: 0, nextCheckAt: '2024-03-10T20:00:00.000Z', reason: /outside/ }],
    ['outside, deadline passed: forced switch', { deadline: at('2024-03-10T11:00:00Z') }, { action: 'switch', forced: true, postponements: 0, nextCheckAt: '2024-03-10T12:00:00.000Z', reason: /deadline .* passed outside the window/ }],
    ['inside and idle: switch', { now: at('2024-03-10T02:30:00Z') }, { action: 'switch', forced: false, postponements: 0, nextCheckAt: '2024-03-10T02:30:00.000Z', reason: /idle/ }],
    ['inside and busy: postpone by the retry interval', { now: at('2024-03-10T02:30:00Z'), idle: busy }, { action: 'postpone', forced: false, postponements: 1, nextCheckAt: '2024-03-10T02:35:00.000Z', reason: /busy \(load: load 7.00 > 4\); postponement 1 of 3/ }],
    ['custom retry interval', { now: at('2024-03-10T02:30:00Z'), idle: busy, retryMin: 15 }, { action: 'postpone', forced: false, postponements: 1, nextCheckAt: '2024-03-10T02:45:00.000Z', reason: /busy/ }],
    ['busy near the close: next window', { now: at('2024-03-10T03:58:00Z'), idle: busy, postponements: 2 }, { action: 'postpone', forced: false, postponements: 3, nextCheckAt: '2024-03-11T02:00:00.000Z', reason: /postponement 3 of 3/ }],
    ['busy near the close, deadline before the next window', { now: at('2024-03-10T03:58:00Z'), idle: busy, deadline: at('2024-03-10T09:00:00Z') }, { action: 'postpone', forced: false, postponements: 1, nextCheckAt: '2024-03-10T09:00:00.000Z', reason: /busy/ }],
    ['N postponements used: forced switch', { now: at('2024-03-10T02:30:00Z'), idle: busy, postponements: 3 }, { action: 'switch', forced: true, postponements: 3, nextCheckAt: '2024-03-10T02:30:00.000Z', reason: /postponed 3 times \(max 3\); busy/ }],
    ['max 0 postponements: first busy check forces', { now: at('2024-03-10T02:30:00Z'), idle: busy, maxPostponements: 0 }, { action: 'switch', forced: true, postponements: 0, nextCheckAt: '2024-03-10T02:30:00.000Z', reason: /postponed 0 times/ }],
    ['inside, busy, deadline passed: forced switch', { now: at('2024-03-10T02:30:00Z'), idle: busy, deadline: at('2024-03-10T02:00:00Z') }, { action: 'switch', forced: true, postponements: 0, nextCheckAt: '2024-03-10T02:30:00.000Z', reason: /deadline .* passed; busy/ }],
    ['inside, idle, deadline passed: plain switch', { now: at('2024-03-10T02:30:00Z'), deadline: at('2024-03-10T02:00:00Z') }, { action: 'switch', forced: false, postponements: 0, nextCheckAt: '2024-03-10T02:30:00.000Z', reason: /idle/ }],
    ['apply --now outside the window while busy', { force: true, idle: busy }, { action: 'switch', forced: true, postponements: 0, nextCheckAt: '2024-03-10T12:00:00.000Z', reason: /operator/ }],
    ['window across midnight, busy after midnight', { window: MIDNIGHT, now: at('2024-03-11T00:30:00Z'), idle: busy }, { action: 'postpone', forced: false, postponements: 1, nextCheckAt: '2024-03-11T00:35:00.000Z', reason: /busy/ }],
    ['window across midnight, busy at 00:57: tomorrow 23:30', { window: MIDNIGHT, now: at('2024-03-11T00:57:00Z'), idle: busy }, { action: 'postpone', forced: false, postponements: 1, nextCheckAt: '2024-03-11T23:30:00.000Z', reason: /busy/ }],
    ['window across midnight, idle just before midnight', { window: MIDNIGHT, now: at('2024-03-10T23:59:00Z') }, { action: 'switch', forced: false, postponements: 0, nextCheckAt: '2024-03-10T23:59:00.000Z', reason: /until 2024-03-11T01:00:00.000Z/ }],
    // Back-to-back windows: the retry lands in the next one, which has already opened by closesAt.
    ['back-to-back windows: retry crosses into the next', { window: { cron: '*/10 * * * *', durationMin: 10 }, now: at('2024-03-10T12:08:00Z'), idle: busy }, { action: 'postpone', forced: false, postponements: 1, nextCheckAt: '2024-03-10T12:13:00.000Z', reason: /busy/ }],
    ['busy with no reasons given', { now: at('2024-03-10T02:30:00Z'), idle: { busy: true, reasons: [] } }, { action: 'postpone', forced: false, postponements: 1, nextCheckAt: '2024-03-10T02:35:00.000Z', reason: /^busy \(busy\)/ }],
  ];
  it.each(cases)('%s', (_name, change, want) => {
    const d = decideSwitch({ ...base, ...change });
    expect({ action: d.action, forced: d.forced, postponements: d.postponements, nextCheckAt: d.nextCheckAt.toISOString() }).toEqual({
      action: want.action,
      forced: want.forced,
      postponements: want.postponements,
      nextCheckAt: want.nextCheckAt,
    });
    expect(d.reason).toMatch(want.reason);
  });

  it('a busy device is postponed N times, then switched forced (a night of checks)', () => {
    let postponements = 0;
    let now = at('2024-03-10T02:00:00Z');
    const log: string[] = [];
    for (;;) {
      const d = decideSwitch({ ...base, now, idle: busy, postponements });
      log.push(`${d.action}@${now.toISOString().slice(11, 16)}`);
      if (d.action === 'switch') {
        expect(d.forced).toBe(true);
        break;
      }
      postponements = d.postponements;
      now = d.nextCheckAt;
    }
    expect(log).toEqual(['postpone@02:00', 'postpone@02:05', 'postpone@02:10', 'switch@02:15']);
  });
});
