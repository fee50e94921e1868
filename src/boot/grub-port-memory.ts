// An in-memory Grub port on boot-sim's model of Grub: for tests that ask "what would Grub boot next from these files".
import { simulateBootSelection, type BootSelection } from './boot-sim.js';
import { TRIAL_VAR } from './grubenv.js';
import { entryId, versionOfEntryId } from './grub-cfg.js';
import { UpgradeError } from '../errors.js';
import { defaultOfCfg, stagingCfg, type GrubJournal, type GrubPort, type GrubRender, type GrubWrite } from './grub-port.js';

export interface MemoryGrubPortOptions {
  render: GrubRender;
  /** The image files present (Grub's entries for missing ones load nothing). */
  present: () => ReadonlySet<number>;
  journal?: GrubJournal;
  /** false: the pre-flight finds the grub directory unusable. */
  writable?: boolean;
}

/** Grub's two files as values; each assignment is the atomic write (a crash sees the old value or the new one). */
export class MemoryGrubPort implements GrubPort {
  cfg: string | null = null;
  env: Map<string, string> | null = null;
  /** The `after` of every write, in order (the real port journals the same). */
  readonly writes: GrubWrite[] = [];

  constructor(private readonly o: MemoryGrubPortOptions) {}

  /** As an installer leaves the device: grub.cfg defaulting to `committed`, an empty grubenv. */
  install(committed: number): this {
    this.cfg = this.o.render(committed);
    this.env = new Map([[TRIAL_VAR, '']]);
    return this;
  }

  checkWritable(): void {
    if (this.o.writable === false) throw new UpgradeError('E_PREFLIGHT', 'the grub directory is not writable');
  }

  trialArmed(): number | null {
    return versionOfEntryId(this.env?.get(TRIAL_VAR) ?? '');
  }

  defaultVersion(): number | null {
    return defaultOfCfg(this.cfg);
  }

  async armTrial(version: number, committed: number, between?: () => void): Promise<void> {
    this.cfg = stagingCfg(this.o.render, version, committed);
    between?.();
    this.setTrial(entryId(version));
    this.wrote('trial-armed');
  }

  async disarm(why: GrubWrite): Promise<void> {
    this.setTrial('');
    this.wrote(why);
  }

  async setDefault(version: number, why: GrubWrite): Promise<void> {
    this.cfg = this.o.render(version);
    this.wrote(why);
  }

  async restoreCommitted(committed: number, why: GrubWrite): Promise<void> {
    this.setTrial('');
    this.cfg = this.o.render(committed);
    this.wrote(why);
  }

  /** What Grub would boot next from these files (nothing changes). */
  nextBoot(): BootSelection {
    if (this.cfg === null) return { version: null, via: 'none', envAfter: this.env };
    return simulateBootSelection(this.cfg, this.env, this.o.present());
  }

  /** One boot as Grub runs it: the selection, and the trial cleared by the header's save_env before it boots. */
  boot(): number | null {
    const sel = this.nextBoot();
    if (sel.envAfter && this.env) this.env = new Map(sel.envAfter);
    return sel.version;
  }

  private setTrial(value: string): void {
    const env = new Map(this.env ?? []);
    env.set(TRIAL_VAR, value);
    this.env = env;
  }

  private wrote(after: GrubWrite): void {
    this.writes.push(after);
    this.o.journal?.('boot-files-flushed', { after, kind: 'memory', ms: 0 });
  }
}
