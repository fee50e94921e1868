// What booted (kernel command line, boot id) and how to reboot: the real systemd way, behind a small interface.
import { readFileSync, existsSync } from 'node:fs';
import { loadExeca } from './exec.js';
import { bootedVersionFromCmdline } from '../boot/cmdline.js';
import { UpgradeError } from '../errors.js';

export interface BootInfo {
  bootedVersion(): number | null;
  /** Changes at every boot (the kernel's random boot id, or the sandbox's record). */
  bootId(): string;
}

export class KernelBootInfo implements BootInfo {
  constructor(
    private readonly cmdlineFile: string,
    private readonly imageParam: string,
    private readonly bootIdFile = '/proc/sys/kernel/random/boot_id',
  ) {}

  bootedVersion(): number | null {
    if (!existsSync(this.cmdlineFile)) return null;
    return bootedVersionFromCmdline(readFileSync(this.cmdlineFile, 'utf8'), this.imageParam);
  }

  bootId(): string {
    return existsSync(this.bootIdFile) ? readFileSync(this.bootIdFile, 'utf8').trim() : 'unknown';
  }
}

/** Reboots the machine. Implementations never return normally: the process is about to end. */
export interface Rebooter {
  reboot(reason: string): Promise<never>;
}

/** The real one: asks systemd for an orderly reboot, then waits to be killed. */
export class SystemdRebooter implements Rebooter {
  constructor(private readonly systemctl = 'systemctl') {}

  async reboot(reason: string): Promise<never> {
    const execa = await loadExeca();
    const r = await execa(this.systemctl, ['reboot', `--message=${reason}`], { reject: false });
    if (r.exitCode !== 0) {
      throw new UpgradeError('E_REBOOT', `systemctl reboot failed (${r.exitCode}): ${r.stderr}`, { context: { reason } });
    }
    // systemd stops us as part of the shutdown; until then there is nothing left to do.
    return new Promise<never>(() => undefined);
  }
}
