// 5-field cron expressions: parse, match, and find next/previous occurrences from a given instant (pure).
// node-cron 4 can only look forward from the wall clock (task.getNextRuns), never from a given instant nor
// backwards, so the window arithmetic needs its own matcher. Semantics follow node-cron 4 (an expression means
// here what it means there, and node-cron must accept it too): day-of-month AND day-of-week must both match (not Vixie's
// OR), an inverted range wraps (`22-2` = 22,23,0,1,2), 0 and 7 are Sunday, names and @nicknames accepted.
import { createRequire } from 'node:module';
import { ConfigError } from '../errors.js';

/** Which wall clock the fields are read in. DST in 'local' is out of scope: use UTC on devices. */
export type CronZone = 'UTC' | 'local';

export interface CronExpr {
  readonly source: string;
  /** Index = value; true when the field allows it. dow is 0..6 (7 folded into 0). */
  readonly minute: readonly boolean[];
  readonly hour: readonly boolean[];
  readonly dom: readonly boolean[];
  readonly month: readonly boolean[];
  readonly dow: readonly boolean[];
}

interface FieldSpec {
  name: 'minute' | 'hour' | 'day-of-month' | 'month' | 'day-of-week';
  min: number;
  max: number;
  /** Range bounds used for `*` and for wrapping inverted ranges (dow wraps in 0..6, as node-cron does). */
  wrapMax: number;
  names?: readonly string[];
}

/** node-cron's validate, required at first use (its CommonJS build): a device without a cron window never loads it. */
function nodeCronValidate(expression: string): boolean {
  const cron = createRequire(import.meta.url)('node-cron') as typeof import('node-cron');
  return cron.validate(expression);
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59, wrapMax: 59 },
  { name: 'hour', min: 0, max: 23, wrapMax: 23 },
  { name: 'day-of-month', min: 1, max: 31, wrapMax: 31 },
  { name: 'month', min: 1, max: 12, wrapMax: 12, names: MONTHS },
  { name: 'day-of-week', min: 0, max: 7, wrapMax: 6, names: DAYS },
];
const NICKNAMES: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};
/** Longest month length per month (Feb 29 in leap years): used to refuse expressions that never fire. */
const MAX_DAYS = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function invalid(expression: string, message: string, field?: string): never {
  throw new ConfigError('E_CONFIG_INVALID', `config window.cron: ${JSON.stringify(expression)}: ${message}`, {
    context: { key: 'window.cron', expression, ...(field === undefined ? {} : { field }) },
  });
}

const FULL_SUFFIX: Record<string, string> = {
  jan: 'uary', feb: 'ruary', mar: 'ch', apr: 'il', may: '', jun: 'e', jul: 'y', aug: 'ust', sep: 'tember',
  oct: 'ober', nov: 'ember', dec: 'ember', sun: 'day', mon: 'day', tue: 'sday', wed: 'nesday', thu: 'rsday',
  fri: 'day', sat: 'urday',
};

function parseValue(text: string, spec: FieldSpec, expression: string): number {
  let n: number;
  if (/^\d{1,2}$/.test(text)) n = Number(text);
  else {
    // Full names too: node-cron accepts "sunday" and "january" as well as "sun" and "jan".
    const i = spec.names?.findIndex((name) => text === name || text === name + (FULL_SUFFIX[name] ?? '')) ?? -1;
    const quartz = spec.name.startsWith('day') ? ' (L and W are not supported)' : '';
    if (i < 0) invalid(expression, `${spec.name} value "${text}" is not a number or a known name${quartz}`, spec.name);
    n = spec.name === 'month' ? i + 1 : i;
  }
  if (n < spec.min || n > spec.max) invalid(expression, `${spec.name} value ${n} is outside ${spec.min}..${spec.max}`, spec.name);
  return n;
}
function parseField(text: string, spec: FieldSpec, expression: string): boolean[] {
  const allowed = new Array<boolean>(spec.max + 1).fill(false);
  for (const item of text.toLowerCase().split(',')) {
    const m = /^(\*|\?|[a-z0-9]+(?:-[a-z0-9]+)?)(?:\/(\d+))?$/.exec(item);
    if (!m?.[1]) invalid(expression, `${spec.name} item "${item}" is not *, a value, a range or a step (L, W, # are not supported)`, spec.name);
    const base = m[1];
    const step = m[2] === undefined ? 1 : Number(m[2]);
    if (step < 1) invalid(expression, `${spec.name} step must be at least 1`, spec.name);
    if (base === '?' && spec.name !== 'day-of-month' && spec.name !== 'day-of-week') invalid(expression, `? is only allowed in the day fields`, spec.name);
    let first: number;
    let last: number;
    if (base === '*' || base === '?') [first, last] = [spec.min, spec.wrapMax];
    else if (base.includes('-')) {
      const [a = '', b = ''] = base.split('-');
      [first, last] = [parseValue(a, spec, expression), parseValue(b, spec, expression)];
    } else {
      // node-cron refuses `5/15`: a step needs a range or *, so refuse it here too.
      if (m[2] !== undefined) invalid(expression, `${spec.name} step needs * or a range before it`, spec.name);
      first = last = parseValue(base, spec, expression);
    }
    // Inverted range wraps around the field, stepping across the wrap like node-cron does.
    const size = spec.wrapMax - spec.min + 1;
    const span = first <= last ? last - first : (((last - first) % size) + size) % size;
    for (let offset = 0; offset <= span; offset += step) {
      let v = first + offset;
      if (first > last && v > spec.wrapMax) v -= size;
      allowed[v] = true;
    }
  }
  if (spec.name === 'day-of-week' && allowed[7]) allowed[0] = true;
  return spec.name === 'day-of-week' ? allowed.slice(0, 7) : allowed;
}

/** Parses and validates; refuses (E_CONFIG_INVALID, context.key 'window.cron') anything node-cron also refuses. */
export function parseCron(expression: string): CronExpr {
  const trimmed = expression.trim();
  const expanded = NICKNAMES[trimmed.toLowerCase()] ?? trimmed;
  const parts = expanded.split(/\s+/);
  if (parts.length === 6) invalid(expression, 'a seconds field is not supported: use 5 fields (minute hour day-of-month month day-of-week)');
  if (parts.length !== 5) invalid(expression, `needs 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`);
  const [minute, hour, dom, month, dow] = FIELDS.map((spec, i) => parseField(parts[i] ?? '', spec, expression)) as [boolean[], boolean[], boolean[], boolean[], boolean[]];
  const fires = month.some((ok, m) => ok && dom.some((d, day) => d && day <= (MAX_DAYS[m] ?? 0)));
  if (!fires) invalid(expression, 'no month has any of the listed days: it never fires', 'day-of-month');
  // Belt and braces: whatever is accepted here must also be schedulable by node-cron in the daemon.
  if (!nodeCronValidate(expanded)) invalid(expression, 'node-cron refuses it');
  return { source: expression, minute, hour, dom, month, dow };
}

interface Parts { year: number; month: number; day: number; hour: number; minute: number; dow: number }

function partsOf(ms: number, zone: CronZone): Parts {
  const d = new Date(ms);
  return zone === 'UTC'
    ? { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), dow: d.getUTCDay() }
    : { year: d.getFullYear(), month: d.getMonth() + 1, day: d.getDate(), hour: d.getHours(), minute: d.getMinutes(), dow: d.getDay() };
}

/** Instant of a wall-clock time; month/day/hour may overflow (Date normalises them). */
function make(zone: CronZone, year: number, month: number, day: number, hour = 0, minute = 0): number {
  return zone === 'UTC' ? Date.UTC(year, month - 1, day, hour, minute) : new Date(year, month - 1, day, hour, minute).getTime();
}

const MINUTE = 60_000;
/** Feb 29 on a given weekday can be 28+ years away (40 covers a skipped century leap year). */
const HORIZON_MS = 40 * 366 * 24 * 60 * MINUTE;

export function cronMatches(expr: CronExpr, at: Date, zone: CronZone = 'UTC'): boolean {
  const p = partsOf(at.getTime(), zone);
  return expr.month[p.month] === true && expr.dom[p.day] === true && expr.dow[p.dow] === true && expr.hour[p.hour] === true && expr.minute[p.minute] === true;
}

/** First occurrence strictly after `after` (occurrences are whole minutes). */
export function nextOccurrence(expr: CronExpr, after: Date, zone: CronZone = 'UTC'): Date {
  const start = Math.floor(after.getTime() / MINUTE) * MINUTE + MINUTE;
  let t = start;
  // Skip a whole month/day/hour when that field cannot match: a few thousand steps at most.
  while (t - start < HORIZON_MS) {
    const p = partsOf(t, zone);
    let next: number;
    if (expr.month[p.month] !== true) next = make(zone, p.year, p.month + 1, 1);
    else if (expr.dom[p.day] !== true || expr.dow[p.dow] !== true) next = make(zone, p.year, p.month, p.day + 1);
    else if (expr.hour[p.hour] !== true) next = make(zone, p.year, p.month, p.day, p.hour + 1);
    else if (expr.minute[p.minute] !== true) next = t + MINUTE;
    else return new Date(t);
    t = Math.max(next, t + MINUTE); // a local DST jump must never stall the walk
  }
  throw new Error(`cron ${expr.source}: no occurrence within 40 years`);
}

/** Latest occurrence at or before `atOrBefore`, or null when there is none since `notBefore`. */
export function previousOccurrence(expr: CronExpr, atOrBefore: Date, zone: CronZone = 'UTC', notBefore?: Date): Date | null {
  const floor = notBefore ? notBefore.getTime() : atOrBefore.getTime() - HORIZON_MS;
  let t = Math.floor(atOrBefore.getTime() / MINUTE) * MINUTE;
  while (t >= floor) {
    const p = partsOf(t, zone);
    // Jump to the last minute of the previous month/day/hour when that field cannot match.
    let prev: number;
    if (expr.month[p.month] !== true) prev = make(zone, p.year, p.month, 1) - MINUTE;
    else if (expr.dom[p.day] !== true || expr.dow[p.dow] !== true) prev = make(zone, p.year, p.month, p.day) - MINUTE;
    else if (expr.hour[p.hour] !== true) prev = make(zone, p.year, p.month, p.day, p.hour) - MINUTE;
    else if (expr.minute[p.minute] !== true) prev = t - MINUTE;
    else return new Date(t);
    t = Math.min(prev, t - MINUTE); // always move backwards, whatever a local DST shift does
  }
  return null;
}
