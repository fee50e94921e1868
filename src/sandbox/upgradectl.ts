// upgradectl for the sandbox (the demo, the subprocess tests): the same verbs, with the simulated power cycle as rebooter.
import { runCli } from '../cli/run.js';
import { SandboxRebooter } from './rebooter.js';

// The production binary (src/cli/upgradectl.ts) has no way to reach this: no config value selects a simulated reboot.
void runCli(process.argv.slice(2), {
  rebooter: ({ config, log, powerOff }) => {
    const b = config.boot;
    return new SandboxRebooter({
      grubDir: config.paths.grubDir, imagesDir: config.paths.imagesDir, cmdlineFile: b.cmdlineFile, bootIdFile: b.bootIdFile,
      kernelRoot: b.kernelRoot, imageParam: b.imageParam, imagesPath: b.imagesPath, panicSec: b.panicSec, log, powerOff,
    });
  },
});
