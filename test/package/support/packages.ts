// The project's .deb files for the tests: built by scripts/package.sh, rebuilt only when what goes into them changed.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';

/** What the packages are made of: a change to any of these files builds them again. */
const INPUTS = ['dist/src', 'package.json', 'package-lock.json', 'packaging', 'scripts/package.sh', 'scripts/package-doc.sh',
  'systemd', 'initramfs-hooks', 'grub.d', 'README.md', 'docs'];

export interface Packages {
  agent: string;
  /** upgrade-agent-node (the build machine's Node.js, for Debian 12). */
  node: string;
  /** Seconds the build took (0: cached). */
  buildSec: number;
}

function files(projectDir: string, rel: string): string[] {
  const p = join(projectDir, rel);
  if (!statSync(p).isDirectory()) return [rel];
  return readdirSync(p).sort().flatMap((f) => files(projectDir, join(rel, f)));
}

function inputsKey(projectDir: string): string {
  const h = createHash('sha256').update(process.versions.node);
  for (const f of INPUTS.flatMap((i) => files(projectDir, i))) h.update(f).update('\0').update(readFileSync(join(projectDir, f))).update('\0');
  return h.digest('hex').slice(0, 16);
}

export async function ensurePackages(projectDir: string, log: (s: string) => void = () => undefined): Promise<Packages> {
  const out = join(projectDir, '.cache/package');
  const stamp = join(out, '.inputs');
  const key = inputsKey(projectDir);
  const find = (): Packages | null => {
    if (!existsSync(out)) return null;
    const debs = readdirSync(out);
    const agent = debs.find((f) => /^upgrade-agent_.*_amd64\.deb$/.test(f));
    const node = debs.find((f) => /^upgrade-agent-node_.*_amd64\.deb$/.test(f));
    return agent && node ? { agent: join(out, agent), node: join(out, node), buildSec: 0 } : null;
  };
  const cached = find();
  if (cached && existsSync(stamp) && readFileSync(stamp, 'utf8') === key) {
    log(`packages: cached ${cached.agent}`);
    return cached;
  }
  const t0 = Date.now();
  log('packages: building (scripts/package.sh)');
  const r = await execa('bash', [join(projectDir, 'scripts/package.sh'), out], { cwd: projectDir, all: true, reject: false });
  if (r.exitCode !== 0) throw new Error(`scripts/package.sh exited ${r.exitCode}:\n${r.all?.slice(-4000)}`);
  writeFileSync(stamp, key);
  const built = find();
  if (!built) throw new Error(`scripts/package.sh left no .deb files in ${out}`);
  return { ...built, buildSec: (Date.now() - t0) / 1000 };
}
