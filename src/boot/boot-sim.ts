// A model of Grub 2.06's entry selection for a grub.cfg made by generateGrubCfg: for unit tests, not a boot.
//
// What it models (grub-core/normal/menu.c, commands/loadenv.c, and the header generateGrubCfg writes):
// - load_env reads next_entry; a missing or garbled grubenv loads nothing (pass env = null);
// - a non-empty next_entry becomes `default` and is cleared on disk first (save_env assumed to succeed);
// - `default` is a number, an id or a title; anything that names no entry selects entry 0;
// - an entry whose image file is missing loads nothing, so Grub tries the `fallback` NUMBERS in order.
// What it does not: a kernel or initramfs that fails after Grub handed over (panic=N reboots; simulate the
// next boot with envAfter), timeouts and keyboard input, `boot_once` from grub-mkconfig's 00_header.
import { GRUBENV_NAME, TRIAL_VAR } from './grubenv.js';
import { versionOfEntryId } from './grub-cfg.js';

export interface BootSelection {
  /** The image version Grub hands to the kernel, or null when every candidate failed (Grub stays in its menu). */
  version: number | null;
  via: 'trial' | 'default' | 'fallback' | 'none';
  /** grubenv after this boot's header ran (next_entry cleared when it was set), null if there was none. */
  envAfter: Map<string, string> | null;
}

interface Entry {
  title: string;
  id: string;
  version: number | null;
}

function parseEntries(cfg: string): Entry[] {
  const entries: Entry[] = [];
  for (const m of cfg.matchAll(/^menuentry '((?:[^']|'\\'')*)' --id (\S+) \{$/gm)) {
    const id = m[2] ?? '';
    entries.push({ title: (m[1] ?? '').replace(/'\\''/g, "'"), id, version: versionOfEntryId(id) });
  }
  return entries;
}

/** Grub's get_entry_number: a leading decimal number is an index, else an id or title; -1 when nothing matches. */
function entryNumber(entries: Entry[], value: string): number {
  const num = /^\s*([0-9]+)/.exec(value);
  if (num) return Number(num[1]);
  return entries.findIndex((e) => e.id === value || e.title === value);
}

function headerValue(cfg: string, name: string): string | undefined {
  return new RegExp(`^\\s*set ${name}="([^"$]*)"$`, 'm').exec(cfg)?.[1];
}

export function simulateBootSelection(
  cfgText: string,
  env: ReadonlyMap<string, string> | null,
  presentImages: ReadonlySet<number>,
): BootSelection {
  const entries = parseEntries(cfgText);
  if (!cfgText.includes(`load_env ${TRIAL_VAR}`) || !cfgText.includes(`$prefix/${GRUBENV_NAME}`))
    throw new Error('simulateBootSelection only models grub.cfg text made by generateGrubCfg');
  let selected = headerValue(cfgText, 'default') ?? '0';
  let via: BootSelection['via'] = 'default';
  let envAfter = env === null ? null : new Map(env);
  const trial = env?.get(TRIAL_VAR) ?? '';
  if (trial !== '') {
    selected = trial;
    via = 'trial';
    envAfter = new Map(env);
    envAfter.set(TRIAL_VAR, '');
  }
  let index = entryNumber(entries, selected);
  if (index < 0 || index >= entries.length) index = 0;

  const boots = (i: number): number | null => {
    const v = entries[i]?.version ?? null;
    return v !== null && presentImages.has(v) ? v : null;
  };
  const first = boots(index);
  if (first !== null) return { version: first, via, envAfter };
  // Grub's fallback list: space-separated numbers; parsing stops at the first thing that is not a number.
  for (const word of (headerValue(cfgText, 'fallback') ?? '').split(/\s+/)) {
    if (!/^[0-9]+$/.test(word)) break;
    const v = boots(Number(word));
    if (v !== null) return { version: v, via: 'fallback', envAfter };
  }
  return { version: null, via: 'none', envAfter };
}
