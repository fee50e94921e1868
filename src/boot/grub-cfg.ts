// Pure grub.cfg generator: one loopback menuentry per image, default = committed, one-shot trial via grubenv.
import { BootError } from '../errors.js';

export interface GrubImage {
  version: number;
  label?: string;
}

export interface GrubCfgOptions {
  images: GrubImage[];
  committed: number;
  /** How Grub finds the outer partition: by filesystem UUID (preferred) or a fixed Grub device like '(hd0,msdos1)'. */
  root: { uuid?: string; device?: string };
  /** The kernel's root= value (the outer partition as Linux sees it), e.g. 'UUID=…' or '/dev/vda1'. */
  kernelRoot: string;
  imageParam?: string;
  imagesPath?: string;
  panicSec?: number;
  extraArgs?: string;
  timeoutSec?: number;
}

export const DEFAULT_IMAGE_PARAM = 'ua.image';
export const DEFAULT_IMAGES_PATH = '/images';
export const DEFAULT_PANIC_SEC = 10;
/** Unattended device: boot at once. An operator who wants a menu sets timeoutSec. */
export const DEFAULT_TIMEOUT_SEC = 0;

export function entryId(version: number): string {
  return `img-${version}`;
}

/** Parses an id made by entryId; null for anything else. */
export function versionOfEntryId(id: string): number | null {
  const m = /^img-([1-9][0-9]*)$/.exec(id);
  if (!m) return null;
  const v = Number(m[1]);
  return Number.isSafeInteger(v) ? v : null;
}

/**
 * Menu order: the committed image first, then the others newest first.
 * Committed at index 0 covers both of Grub's ways of not finding what it was asked for: a `default`
 * (e.g. a stale next_entry) that names no entry selects entry 0 (grub-core/normal/menu.c run_menu), and
 * `fallback` (numbers only in 2.06) is then always "0".
 */
export function entryOrder(images: readonly GrubImage[], committed: number): number[] {
  const others = images.map((i) => i.version).filter((v) => v !== committed).sort((a, b) => b - a);
  return [committed, ...others];
}

export function committedEntryNumber(images: readonly GrubImage[], committed: number): number {
  return entryOrder(images, committed).indexOf(committed);
}

function invalid(what: string, context: Record<string, unknown>): BootError {
  return new BootError('E_GRUB_CFG_INVALID', `grub.cfg: ${what}`, { context });
}

// Values land unquoted in Grub script and on the kernel command line: allow only plain characters, so no
// quote, `$`, `;`, brace, backslash or newline can change what the script does.
const SAFE_WORD = /^[A-Za-z0-9_.:,+=/@%-]+$/;
const SAFE_ARGS = /^[A-Za-z0-9_.:,+=/@% -]*$/;

function hasControlChar(s: string): boolean {
  return [...s].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f);
}

function checkOptions(o: GrubCfgOptions) {
  const imageParam = o.imageParam ?? DEFAULT_IMAGE_PARAM;
  const imagesPath = (o.imagesPath ?? DEFAULT_IMAGES_PATH).replace(/\/+$/, '');
  const panicSec = o.panicSec ?? DEFAULT_PANIC_SEC;
  const timeoutSec = o.timeoutSec ?? DEFAULT_TIMEOUT_SEC;
  const extraArgs = (o.extraArgs ?? '').trim();

  if (o.images.length === 0) throw invalid('no images', {});
  const seen = new Set<number>();
  for (const img of o.images) {
    if (!Number.isSafeInteger(img.version) || img.version <= 0)
      throw invalid(`image version must be a positive integer: ${String(img.version)}`, { version: img.version });
    if (seen.has(img.version)) throw invalid(`image version listed twice: ${img.version}`, { version: img.version });
    seen.add(img.version);
    // A control character would end the quoted title mid-line; quotes themselves are escaped.
    if (img.label !== undefined && (img.label === '' || hasControlChar(img.label)))
      throw invalid(`label of image ${img.version} is empty or has a control character`, { version: img.version });
  }
  if (!seen.has(o.committed))
    throw new BootError('E_GRUB_COMMITTED_MISSING', `committed image ${o.committed} is not among the images`, {
      context: { committed: o.committed, images: [...seen] },
    });
  if (o.root.uuid !== undefined && !/^[0-9A-Fa-f][0-9A-Fa-f-]*$/.test(o.root.uuid))
    throw invalid(`root.uuid is not a filesystem UUID: ${JSON.stringify(o.root.uuid)}`, { uuid: o.root.uuid });
  if (o.root.uuid === undefined) {
    if (o.root.device === undefined) throw invalid('root needs a uuid or a device', {});
    if (!/^\([A-Za-z0-9_,.-]+\)$/.test(o.root.device))
      throw invalid(`root.device is not a Grub device like (hd0,msdos1): ${JSON.stringify(o.root.device)}`, {
        device: o.root.device,
      });
  }
  if (!SAFE_WORD.test(o.kernelRoot)) throw invalid(`kernelRoot has unsafe characters: ${JSON.stringify(o.kernelRoot)}`, {});
  if (!/^[A-Za-z0-9_.-]+$/.test(imageParam)) throw invalid(`imageParam is not a plain kernel parameter name`, { imageParam });
  if (!imagesPath.startsWith('/') || !SAFE_WORD.test(imagesPath) || imagesPath.split('/').includes('..'))
    throw invalid(`imagesPath must be an absolute plain path: ${JSON.stringify(o.imagesPath)}`, {});
  // panic=0 would make the kernel wait forever instead of rebooting into the default.
  if (!Number.isSafeInteger(panicSec) || panicSec <= 0) throw invalid('panicSec must be a positive integer', { panicSec });
  if (!Number.isSafeInteger(timeoutSec) || timeoutSec < 0)
    throw invalid('timeoutSec must be a non-negative integer', { timeoutSec });
  if (!SAFE_ARGS.test(extraArgs)) throw invalid(`extraArgs has unsafe characters: ${JSON.stringify(extraArgs)}`, {});
  // The kernel takes the last of a repeated parameter: extraArgs must not override the ones the boot flow relies on.
  for (const word of extraArgs.split(/ +/)) {
    const name = word.split('=')[0];
    if (name === 'root' || name === 'panic' || name === imageParam)
      throw invalid(`extraArgs must not set ${name}=`, { extraArgs });
  }
  return { imageParam, imagesPath, panicSec, timeoutSec, extraArgs };
}

/** Single-quoted Grub word: nothing is special inside, a quote is closed, escaped and reopened. */
function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function generateGrubCfg(o: GrubCfgOptions): string {
  const c = checkOptions(o);
  const order = entryOrder(o.images, o.committed);
  const labels = new Map(o.images.map((i) => [i.version, i.label ?? `Image ${i.version}`]));
  const fallback = committedEntryNumber(o.images, o.committed);
  const uuid = o.root.uuid;
  const device = o.root.device ?? '';
  const partMods = uuid !== undefined ? ['part_msdos', 'part_gpt'] : ['msdos', 'gpt'].filter((p) => device.includes(p)).map((p) => `part_${p}`);
  const findRoot = uuid !== undefined ? `search --no-floppy --fs-uuid --set=root ${uuid}` : `set root=${quote(device)}`;

  const out: string[] = [
    '# Generated by upgrade-agent; rewritten whole (atomic rename) on every change. Do not edit.',
    `# Entries: ${order.map((v, i) => `${i}=${entryId(v)}`).join(' ')}; committed: ${entryId(o.committed)}`,
    `set timeout=${c.timeoutSec}`,
    // The committed image, so a missing or garbled grubenv still boots the known-good one. Skipped only when
    // grub-mkconfig's 00_header already consumed a one-shot above this text (it sets boot_once=true).
    'if [ "${boot_once}" != "true" ]; then',
    `  set default="${entryId(o.committed)}"`,
    'fi',
    // Grub 2.06 parses fallback as numbers only (an id is silently dropped): the committed entry's index.
    `set fallback="${fallback}"`,
    // One-shot trial. Only next_entry is loaded: nothing else in grubenv can steer the boot. If next_entry
    // names no entry, Grub selects entry 0 (= committed, see entryOrder).
    'if [ -s $prefix/grubenv ]; then',
    '  load_env next_entry',
    'fi',
    'if [ "${next_entry}" ]; then',
    '  set ua_trial="${next_entry}"',
    '  set next_entry=',
    // Cleared on disk BEFORE it is booted: if the trial hangs, panics or is never confirmed, the next boot
    // takes the default. If the clear cannot be saved, the trial is not booted at all (it would never end).
    '  if save_env next_entry; then',
    '    set default="${ua_trial}"',
    '    set boot_once=true',
    '  fi',
    'fi',
    '',
  ];
  for (const v of order) {
    const img = `${c.imagesPath}/${v}.img`;
    const cmdline = [`root=${o.kernelRoot}`, `${c.imageParam}=${img}`, `panic=${c.panicSec}`, 'ro', c.extraArgs]
      .filter((w) => w !== '')
      .join(' ');
    out.push(
      `menuentry ${quote(labels.get(v) ?? '')} --id ${entryId(v)} {`,
      ...partMods.map((m) => `\tinsmod ${m}`),
      '\tinsmod ext2',
      '\tinsmod loopback',
      `\t${findRoot}`,
      // Guarded: if the image file is missing, nothing loads (so Grub falls back) and a `loop` device left
      // over from an earlier failed entry is never booted under this entry's name.
      `\tif loopback loop ${img}; then`,
      `\t\tlinux (loop)/vmlinuz ${cmdline}`,
      '\t\tinitrd (loop)/initrd.img',
      '\tfi',
      '}',
      '',
    );
  }
  return out.join('\n');
}
