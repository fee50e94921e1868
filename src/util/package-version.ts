// The agent's own version (package.json), reported at each check-in.
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  try {
    // dist/src/util/ → the package root, in the checkout and in the installed package alike.
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return 'unknown';
  }
}
