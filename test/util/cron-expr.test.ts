// Cron matcher: next/previous occurrences from fixed instants, agreement with node-cron, refusals with a stable code.
import { describe, it, expect } from 'vitest';
import { createTask } from 'node-cron';
import { cronMatches, nextOccurrence, parseCron, previousOccurrence } from '../../src/util/cron-expr.js';
import { ConfigError } from '../../src/errors.js';

const at = (s: string): Date => new Date(s);
const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

describe('next and previous occurrence (UTC)', () => {
  // [expression, from, next strictly after, previous at or before]
  const cases: [string, string, string, string][] = [
    ['30 23 * * *', '2024-03-10T12:00:00Z', '2024-03-10T23:30:00.000Z', '2024-03-09T23:30:00.000Z'],
    ['*/15 * * * *', '2024-03-10T12:07:30Z', '2024-03-10T12:15:00.000Z', '2024-03-10T12:00:00.000Z'],
    // An occurrence exactly at `from`: next is the one after, previous is this one.
    ['*/15 * * * *', '2024-03-10T12:15:00Z', '2024-03-10T12:30:00.000Z', '2024-03-10T12:15:00.000Z'],
    ['*/15 * * * *', '2024-03-10T12:14:59.999Z', '2024-03-10T12:15:00.000Z', '2024-03-10T12:00:00.000Z'],
    // 2024-03-09 is a Saturday.
    ['0 3 * * mon-fri', '2024-03-09T10:00:00Z', '2024-03-11T03:00:00.000Z', '2024-03-08T03:00:00.000Z'],
    ['0 0 29 2 *', '2024-03-01T00:00:00Z', '2028-02-29T00:00:00.000Z', '2024-02-29T00:00:00.000Z'],
    // Inverted range wraps: 22,23,0,1,2.
    ['0 22-2 * * *', '2024-03-10T03:00:00Z', '2024-03-10T22:00:00.000Z', '2024-03-10T02:00:00.000Z'],
    // Day-of-month AND day-of-week (node-cron 4): the 1st that is a Monday (2024-01-01, 2024-04-01).
    ['0 4 1 * 1', '2024-01-02T00:00:00Z', '2024-04-01T04:00:00.000Z', '2024-01-01T04:00:00.000Z'],
    ['@daily', '2024-03-10T12:00:00Z', '2024-03-11T00:00:00.000Z', '2024-03-10T00:00:00.000Z'],
    ['0 0 1 1 *', '2024-12-31T23:59:00Z', '2025-01-01T00:00:00.000Z', '2024-01-01T00:00:00.000Z'],
    // 7 is Sunday; 2024-03-10 is a Sunday.
    ['0 5 * * 7', '2024-03-10T06:00:00Z', '2024-03-17T05:00:00.000Z', '2024-03-10T05:00:00.000Z'],
    ['0 5 * * SUN', '2024-03-10T04:00:00Z', '2024-03-10T05:00:00.000Z', '2024-03-03T05:00:00.000Z'],
    ['15 2 * jan,jul *', '2024-03-10T00:00:00Z', '2024-07-01T02:15:00.000Z', '2024-01-31T02:15:00.000Z'],
    ['0 12 1-10/3 */2 *', '2024-02-15T00:00:00Z', '2024-03-01T12:00:00.000Z', '2024-01-10T12:00:00.000Z'],
    ['0 3 * * sat-sun', '2024-03-11T00:00:00Z', '2024-03-16T03:00:00.000Z', '2024-03-10T03:00:00.000Z'],
  ];
  it.each(cases)('%s from %s', (expression, from, next, prev) => {
    const expr = parseCron(expression);
    expect(iso(nextOccurrence(expr, at(from)))).toBe(next);
    expect(iso(previousOccurrence(expr, at(from)))).toBe(prev);
  });

  it('previous is null when nothing happened since notBefore', () => {
    const expr = parseCron('0 3 * * *');
    expect(previousOccurrence(expr, at('2024-03-10T02:59:00Z'), 'UTC', at('2024-03-10T00:00:00Z'))).toBeNull();
    expect(iso(previousOccurrence(expr, at('2024-03-10T03:00:00Z'), 'UTC', at('2024-03-10T03:00:00Z')))).toBe('2024-03-10T03:00:00.000Z');
  });

  it('walks many occurrences forward and back consistently', () => {
    const expr = parseCron('*/20 9-17 * * mon-fri');
    let prev = nextOccurrence(expr, at('2024-01-01T00:00:00Z'));
    for (let i = 0; i < 500; i++) {
      const n = nextOccurrence(expr, prev);
      expect(cronMatches(expr, n)).toBe(true);
      expect(iso(previousOccurrence(expr, new Date(n.getTime() - 1)))).toBe(iso(prev));
      prev = n;
    }
  });
});

describe('agrees with node-cron', () => {
  const expressions = ['30 23 * * *', '*/7 */5 * * *', '0 22-2 * * *', '0 4 1,15 * mon', '5 0 * 11-2 *', '0 3 * * 7-2', '*/30 * 1-31 * *', '0 12 * * */2'];
  it.each(expressions)('%s matches the same minutes', (expression) => {
    const expr = parseCron(expression);
    const task = createTask(expression, () => undefined, { timezone: 'UTC' });
    try {
      const disagree = (d: Date): void => {
        if (cronMatches(expr, d) !== task.match(d)) throw new Error(`${expression} disagrees at ${d.toISOString()}`);
      };
      // Every minute across a month end and a weekend.
      for (let t = Date.UTC(2024, 1, 27); t < Date.UTC(2024, 2, 4); t += 60_000) disagree(new Date(t));
      // Every occurrence found over ~5 months (year boundary, sparse day rules), and the minutes around it.
      let found = 0;
      for (let d = nextOccurrence(expr, new Date(Date.UTC(2023, 10, 20))); d.getTime() < Date.UTC(2024, 3, 20); d = nextOccurrence(expr, d)) {
        found++;
        disagree(d);
        disagree(new Date(d.getTime() - 60_000));
        disagree(new Date(d.getTime() + 60_000));
      }
      expect(found).toBeGreaterThan(0);
    } finally {
      void task.destroy();
    }
  });
});

describe('local time', () => {
  it('reads fields on the local clock (a zone without DST)', () => {
    const saved = process.env.TZ;
    process.env.TZ = 'Asia/Kolkata'; // +05:30 all year
    try {
      const expr = parseCron('0 3 * * *');
      expect(iso(nextOccurrence(expr, at('2024-03-10T00:00:00Z'), 'local'))).toBe('2024-03-10T21:30:00.000Z');
      expect(iso(previousOccurrence(expr, at('2024-03-10T00:00:00Z'), 'local'))).toBe('2024-03-09T21:30:00.000Z');
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
});

describe('refusals', () => {
  const bad: [string, RegExp][] = [
    ['', /5 fields/],
    ['* * * *', /5 fields/],
    ['0 * * * * *', /seconds field/],
    ['60 * * * *', /minute value 60/],
    ['0 24 * * *', /hour value 24/],
    ['0 3 * 13 *', /month value 13/],
    ['0 3 * * 8', /day-of-week value 8/],
    ['0 0 0 * *', /day-of-month value 0/],
    ['5/15 * * * *', /step needs/],
    ['*/0 * * * *', /step must be/],
    ['1,,2 * * * *', /minute item ""/],
    ['0 3 L * *', /not supported/],
    ['0 3 * * 5#2', /not supported/],
    ['? 3 * * *', /only allowed in the day fields/],
    ['0 3 * * funday', /not a number or a known name/],
    ['0 0 30 2 *', /never fires/],
    ['0 0 31 4,6,9,11 *', /never fires/],
    ['a b c d e', /minute value "a"/],
  ];
  it.each(bad)('%j is refused', (expression, message) => {
    let caught: unknown;
    try {
      parseCron(expression);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const err = caught as ConfigError;
    expect(err.code).toBe('E_CONFIG_INVALID');
    expect(err.context).toMatchObject({ key: 'window.cron', expression });
    expect(err.message).toMatch(message);
  });

  it('accepts the forms node-cron documents for 5 fields', () => {
    for (const e of ['0 3 ? * *', '0 3 * * ?', ' 0  3 * * * ', '0 3 * JAN-mar *', '0 3 * * sunday', '@hourly', '0 3 * * 0-7']) {
      expect(() => parseCron(e)).not.toThrow();
    }
  });
});
