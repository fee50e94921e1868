// The crash × outcome matrix, in-process: a kill at every named crash point × restart or power cycle × the next boot's
// health × first or later upgrade, then boots until terminal; the invariants are checked after every step.
import { describe, it, expect, afterEach } from 'vitest';
import { existsSync } from 'node:fs';
import { drive, type DriveIntent } from '../../src/core/drive.js';
import { SWITCH_CRASH_POINTS, stepOfCrashPoint, type SwitchCrashPoint } from '../../src/core/switch-policy.js';
import { SWITCH_PHASES, TERMINAL } from '../../src/core/phases.js';
import { applyRetention } from '../../src/core/cleanup.js';
import { simulateBootSelection } from '../../src/boot/boot-sim.js';
import { FakeDevice, Halt, type HealthMode } from '../support/switch-fakes.js';

/** Boots a deployment may take from the first reboot until it is terminal. */
const MAX_BOOTS = 6;
const PHASES_TO_READY = ['downloading', 'downloaded', 'importing', 'imported', 'exporting', 'ready'] as const;

const UPGRADES = {
  first: { images: [1, 2], committed: 1, target: 2, recorded: false },
  later: { images: [1, 2, 3], committed: 2, target: 3, recorded: true },
} as const;
type Upgrade = keyof typeof UPGRADES;
type After = 'restart' | 'power cycle';

/** Committed when health passes and the trial survived: a power cut in the confirm before the default moved consumed it. */
function expected(p: SwitchCrashPoint, after: After, health: HealthMode): 'committed' | 'rolled_back' {
  if (health !== 'passes') return 'rolled_back';
  return after === 'power cycle' && stepOfCrashPoint(p) === 'confirm' && p !== 'default-moved' ? 'rolled_back' : 'committed';
}

let dev: FakeDevice | null = null;
afterEach(() => {
  dev?.remove();
  dev = null;
});

const cases = SWITCH_CRASH_POINTS.flatMap((point) =>
  (['restart', 'power cycle'] as const).flatMap((after) =>
    (['passes', 'fails', 'never'] as const).flatMap((health) => (['first', 'later'] as const).map((upgrade) => [point, after, health, upgrade] as const)),
  ),
);

describe('the switch, killed at every crash point', () => {
  it('covers every crash point of the table', () => {
    expect(new Set(cases.map((c) => c[0]))).toEqual(new Set(SWITCH_CRASH_POINTS));
    expect(cases.length).toBe(SWITCH_CRASH_POINTS.length * 2 * 3 * 2);
  });

  it.each(cases)('%s, then %s, health %s, %s upgrade', async (point, after, health, upgrade) => {
    const u = UPGRADES[upgrade as Upgrade];
    const d = (dev = new FakeDevice([...u.images], u.committed));
    // Healthy until the kill (so every crash point is reached); from the next start on, the case's health.
    d.health = 'passes';
    const setup = d.process();
    if (u.recorded) setup.deps.store.recordCommittedVersion(u.committed);
    const dep = setup.deps.store.create({
      version: u.target, label: 'm', manifestUrl: null, envelope: Buffer.from('{}'), payloadSha256: 'x', imageSize: `image ${u.target}\n`.length,
      imageSha256: d.sha256(u.target),
    });
    for (const p of PHASES_TO_READY) setup.deps.store.transition(dep.id, p);
    setup.close();

    let killed = false;
    d.crashPoint = (p) => {
      if (p === point && !killed) {
        killed = true;
        d.health = health;
        throw new Halt('crash');
      }
    };

    /** One start of the agent: drive, until it returns or the process ends. Checks the invariants after it. */
    const start = async (intent: DriveIntent): Promise<{ ended: Halt['why'] | 'returned'; phase: string }> => {
      d.clock += 60_000;
      const { deps, close } = d.process();
      try {
        let ended: Halt['why'] | 'returned' = 'returned';
        try {
          await drive(deps, intent);
        } catch (err) {
          if (!(err instanceof Halt)) throw err;
          ended = err.why;
        }
        const row = deps.store.get(dep.id);
        const committed = Number(deps.store.committedVersion());
        // (a) The committed image is recorded once the switch began, exists, keeps its snapshot; it is the target only once committed.
        expect(committed).toBe(row.phase === 'committed' ? u.target : u.committed);
        expect(existsSync(d.imagePath(committed))).toBe(true);
        expect(d.zfs.versions.has(committed)).toBe(true);
        // (b) Grub boots the committed image next, or the target once (a trial; or a moved default awaiting its commit).
        const dflt = d.grub.defaultVersion();
        expect(dflt === committed || (dflt === u.target && row.phase === 'confirming')).toBe(true);
        const first = d.grub.nextBoot();
        expect([dflt, u.target]).toContain(first.version);
        expect(simulateBootSelection(d.grub.cfg!, first.envAfter, d.present()).version).toBe(dflt);
        // (b) Every reboot the agent asks for leaves grub.cfg's default on the recorded committed image.
        if (ended === 'reboot') expect(dflt).toBe(committed);
        // (d) Retention refuses during a switch, and never plans to remove the committed, booted or target image or snapshot.
        const plan = await applyRetention(deps, true).then((p) => [...p.deleteImages, ...p.destroySnapshots], (e: unknown) => e);
        if (SWITCH_PHASES.has(row.phase)) expect(plan).toMatchObject({ code: 'E_SWITCH_ACTIVE' });
        else for (const v of [committed, deps.boot.bootedVersion(), ...(TERMINAL.has(row.phase) ? [] : [u.target])]) expect(plan).not.toContain(v);
        return { ended, phase: row.phase };
      } finally {
        close();
      }
    };

    let r = await start('apply-now');
    let restartedOnce = false;
    while (!(TERMINAL.has(r.phase as never) && r.ended === 'returned')) {
      // (c) Terminal within a bounded number of boots.
      expect(d.boots).toBeLessThanOrEqual(MAX_BOOTS);
      if (r.ended === 'crash' && after === 'restart' && !restartedOnce) restartedOnce = true;
      else if (r.ended === 'returned') throw new Error(`drive returned in ${r.phase} without ending the process`);
      else d.boot(); // a reboot, a hang (the watchdog's power cycle), or the crash followed by a power cut
      r = await start('reconcile');
    }

    expect(killed).toBe(true);
    expect(r.phase).toBe(expected(point, after, health));
    // Settled: nothing armed, Grub boots the recorded committed image, and the next start is quiet.
    const { deps, close } = d.process();
    try {
      const committed = Number(deps.store.committedVersion());
      expect(committed).toBe(r.phase === 'committed' ? u.target : u.committed);
      expect(d.grub.trialArmed()).toBeNull();
      expect(d.grub.nextBoot().version).toBe(committed);
      expect(deps.boot.bootedVersion()).toBe(committed);
    } finally {
      close();
    }
    expect(d.boots).toBeLessThanOrEqual(MAX_BOOTS);
  });
});
