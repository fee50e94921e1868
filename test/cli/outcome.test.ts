// A check-in's or prepare's exit code and stderr line: failures and deferrals name their code, a deferral its next attempt.
import { describe, it, expect } from 'vitest';
import { outcomeExit } from '../../src/cli/outcome.js';

const at = Date.parse('2026-03-01T03:00:30Z');

describe('outcomeExit', () => {
  it('a failed deployment is exit 1 with its code and reason', () => {
    const d = { version: 2, reasonCode: 'E_DOWNLOAD_TOO_LARGE', reason: 'server sent more than 1000 bytes' };
    expect(outcomeExit({ outcome: { kind: 'failed', deployment: d } })).toEqual({ exit: 1, line: 'upgradectl: E_DOWNLOAD_TOO_LARGE: image 2: server sent more than 1000 bytes' });
  });

  it('a deferral is exit 3 with the deferral code, its reason and the next attempt (check-in: under prepared)', () => {
    const d = { version: 2, reasonCode: 'E_RETRY_LATER', reason: 'server is preparing x; retry in 30s' };
    expect(outcomeExit({ prepared: { outcome: { kind: 'retry', at, code: 'E_RETRY_LATER', deployment: d } } })).toEqual({
      exit: 3, line: 'upgradectl: E_RETRY_LATER: image 2: server is preparing x; retry in 30s; deferred, next attempt at 2026-03-01T03:00:30.000Z',
    });
  });

  it('ready, idle or nothing to do is exit 0 with no line', () => {
    expect(outcomeExit({ outcome: { kind: 'ready', deployment: { version: 2 } } })).toEqual({ exit: 0, line: null });
    expect(outcomeExit({ answer: {}, prepared: null })).toEqual({ exit: 0, line: null });
    expect(outcomeExit(null)).toEqual({ exit: 0, line: null });
  });
});
