// The kernel command line's image parameter: which image file booted (the initramfs loop-mounts it).

/** Version named by `<param>=/…/<version>.img` on a kernel command line; null when absent. Pure. */
export function bootedVersionFromCmdline(cmdline: string, param: string): number | null {
  for (const word of cmdline.trim().split(/\s+/)) {
    if (!word.startsWith(`${param}=`)) continue;
    const m = /(?:^|\/)(\d+)\.img$/.exec(word.slice(param.length + 1));
    if (m) return Number(m[1]);
  }
  return null;
}
