// `npm run demo` end to end (the built dist/, real zfs-fuse, `upgradectl serve`): its output shows the on-demand diff
// after a 202, the commit, the broken version's rollback reported and its rollout paused by itself.
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const DEMO = new URL('../../dist/src/demo/demo.js', import.meta.url).pathname;

/** The index of the first line matching `re` at or after `from`; -1 when none. */
function lineAt(lines: readonly string[], re: RegExp, from = 0): number {
  for (let i = from; i < lines.length; i++) if (re.test(lines[i] as string)) return i;
  return -1;
}

describe('the demo', () => {
  it('202 then the built diff 1→3, committed and reported; 4 rolled back, counted, and its rollout paused', async () => {
    const r = await execa('node', [DEMO], { reject: false, timeout: 280_000 });
    const out = r.stdout;
    expect(r.exitCode, `${out}\n${r.stderr}`).toBe(0);
    const lines = out.split('\n');

    // The first check-in: come back later while the server builds 1→3, then that diff downloaded and imported.
    const checkin = lineAt(lines, /^== upgradectl check-in: the fleet offers version 3/);
    expect(checkin).toBeGreaterThan(lineAt(lines, /^ {3}\[server\] fleet server listening {2}url=https:\/\/127\.0\.0\.1:\d+ /));
    const deferred = lineAt(lines, /^ {3}\[agent\] step deferred .*code=E_RETRY_LATER .*\/v1\/diffs\/3\/1/, checkin);
    expect(deferred).toBeGreaterThan(checkin);
    const download = lineAt(lines, /^ {3}\[agent\] downloading {2}url=https:\/\/127\.0\.0\.1:\d+\/streams\/1-3\.zfs\.xz status=200/, checkin);
    expect(download).toBeGreaterThan(deferred);
    expect(lineAt(lines, /^ {3}\[agent\] import: received .*fromVersion=1 toVersion=3/, download)).toBeGreaterThan(download);
    expect(out).toMatch(/^ {3}\[server\] diff build started; .*pair=1-3/m);
    expect(out).toMatch(/^ {3}\[server\] diff built {2}pair=1-3 size=\d+/m);
    expect(out).toMatch(/^ {3}\[journal\] download:deferred {2}code=E_RETRY_LATER /m);
    expect(out).toMatch(/^ {3}\[journal\] stream-selected {2}from=1 size=\d+ base=1 onDemand=true$/m);
    expect(out).toMatch(/^committed: image 3$/m);

    // The check-in after the commit reports it: fleet status counts the commit and the 202 the server answered.
    const status1 = lineAt(lines, /^== upgradectl fleet status$/);
    expect(status1).toBeGreaterThan(lineAt(lines, /^== upgradectl check-in: reports image 3 committed/));
    const firstStatus = lines.slice(status1, lineAt(lines, /^== /, status1 + 1)).join('\n');
    expect(firstStatus).toMatch(/#1 stable\/demo-board v3: active, 100% \(1 in cohort\), 1 reporting, 1 committed, 0 failed/);
    expect(firstStatus).toMatch(/#2 stable\/demo-board v4: active, 25% \(0 in cohort\)/);
    expect(firstStatus).toMatch(/diffs: 1 built \(\d+ bytes\), 0 queued, [1-9]\d* answered 202, 0 builds failed/);

    // Version 4: widened, its trial fails, the fallback reported, the rollout pauses itself.
    expect(out).toMatch(/^ {3}rollout #2 stable\/demo-board v4: active, 100%$/m);
    expect(out).toMatch(/^rolled_back: image 4$/m);
    const report = lineAt(lines, /^== upgradectl check-in: reports the rollback of 4/);
    expect(lineAt(lines, /^ {3}\[server\] rollout paused {2}rollout=2 reason=automatic: 1 of 1 devices failed or rolled back/, report)).toBeGreaterThan(report);
    const status2 = lineAt(lines, /^== upgradectl fleet status$/, report);
    expect(status2).toBeGreaterThan(report);
    const lastStatus = lines.slice(status2, lineAt(lines, /^== /, status2 + 1)).join('\n');
    expect(lastStatus).toMatch(/#2 stable\/demo-board v4: paused \(automatic: 1 of 1 devices failed or rolled back \(over 50\.0%\)\), 100% \(1 in cohort\), 1 reporting, 0 committed, 1 failed/);
    expect(lastStatus).toMatch(/failing \(1\):\n {5}demo-device-1 {2}v4 rolled_back {2}E_HEALTH {2}last seen /);
    expect(lastStatus).toMatch(/^ +3 {2}rolled_back 1$/m);
    expect(out).toMatch(/^ {3}\[server\] fleet server stopped$/m);
  }, 300_000);
});
