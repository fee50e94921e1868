// What a root tree must hold to become an image (kernel, initrd, the agent) and what it says it holds (dpkg status).
import { lstatSync, readFileSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { BuildError } from '../../errors.js';

/** The files an image that can upgrade itself again needs: Grub's loopback entry boots /vmlinuz and /initrd.img. */
export const REQUIRED = {
  kernel: ['/vmlinuz', '/initrd.img'],
  agent: ['/usr/bin/upgradectl', '/usr/lib/systemd/system/upgrade-agent.service', '/usr/lib/systemd/system/upgrade-agent-confirm.service'],
} as const;

/**
 * lstat of `path` inside `root` as the image would see it: symlinks are followed, absolute ones from the tree's own
 * root (never the build machine's), `..` never above the root. null when it does not resolve.
 */
export function statInTree(root: string, path: string): Stats | null {
  let rest = path.split('/').filter(Boolean);
  const at: string[] = [];
  for (let hops = 0; rest.length > 0; ) {
    const name = rest.shift() as string;
    if (name === '.') continue;
    if (name === '..') {
      at.pop();
      continue;
    }
    const st = lstatOrNull(join(root, ...at, name));
    if (st === null) return null;
    if (st.isSymbolicLink()) {
      if (++hops > 40) return null;
      const target = readlinkSync(join(root, ...at, name));
      if (target.startsWith('/')) at.length = 0;
      rest = [...target.split('/').filter(Boolean), ...rest];
      continue;
    }
    at.push(name);
    if (rest.length > 0 && !st.isDirectory()) return null;
  }
  return lstatOrNull(join(root, ...at));
}

function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

/** Refuses a tree that is no directory, has no bootable kernel and initrd, or lacks the agent. */
export function checkTree(root: string): void {
  let st: Stats;
  try {
    st = statSync(root);
  } catch (err) {
    throw new BuildError('E_BUILD_TREE', `${root} cannot be read: ${(err as Error).message}`, { context: { tree: root }, cause: err });
  }
  if (!st.isDirectory()) throw new BuildError('E_BUILD_TREE', `${root} is not a directory`, { context: { tree: root } });
  const missing = (paths: readonly string[]): string[] => paths.filter((p) => !(statInTree(root, p)?.isFile() ?? false));
  const noKernel = missing(REQUIRED.kernel);
  if (noKernel.length > 0) {
    throw new BuildError('E_BUILD_NO_KERNEL', `${root} has no ${noKernel.join(' or ')} (a file, or a symlink to one inside the tree)`, { context: { tree: root, missing: noKernel } });
  }
  const noAgent = missing(REQUIRED.agent);
  if (noAgent.length > 0) {
    throw new BuildError('E_BUILD_NO_AGENT', `${root} lacks ${noAgent.join(', ')}: install the upgrade-agent package into the tree`, { context: { tree: root, missing: noAgent } });
  }
}

export interface InstalledPackage {
  name: string;
  version: string;
  architecture: string;
}

/** The installed packages of a dpkg status file's text, sorted by name. Pure. */
export function parseDpkgStatus(text: string): InstalledPackage[] {
  const out: InstalledPackage[] = [];
  for (const para of text.split(/\n\s*\n/)) {
    const field = (name: string): string | undefined => new RegExp(`^${name}:\\s*(.*)$`, 'mi').exec(para)?.[1]?.trim();
    const name = field('Package');
    const status = field('Status');
    if (name === undefined || status === undefined || !/\binstalled$/.test(status)) continue;
    out.push({ name, version: field('Version') ?? '', architecture: field('Architecture') ?? '' });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.architecture < b.architecture ? -1 : 1));
}

/** The installed packages of the tree (empty when it has no dpkg status). */
export function treePackages(root: string): InstalledPackage[] {
  const path = '/var/lib/dpkg/status';
  // Only a real file at the literal path: a symlink there could point at the build machine's own status.
  if (!(lstatOrNull(join(root, path))?.isFile() ?? false)) return [];
  return parseDpkgStatus(readFileSync(join(root, path), 'utf8'));
}
