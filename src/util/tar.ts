// A streaming POSIX tar (ustar, with a pax `size` record past 8 GiB): write entries from streams, index one by offset.
import type { FileHandle } from 'node:fs/promises';

const BLOCK = 512;
/** Largest size the 11 octal digits of a ustar header hold (8 GiB - 1); beyond it a pax header carries the size. */
export const USTAR_MAX_SIZE = 0o77777777777;
/** pax extended headers we read are small; a bigger one is not ours. */
const MAX_PAX_BYTES = 64 * 1024;

/** Why an archive could not be indexed: not a tar at all, cut short, or a damaged header further in. */
export class TarError extends Error {
  constructor(readonly kind: 'not-tar' | 'truncated' | 'corrupt', message: string, readonly offset: number) {
    super(message);
  }
}

export interface TarEntry {
  name: string;
  /** Offset of the entry's first data byte in the archive. */
  offset: number;
  size: number;
}

const padding = (size: number): number => (BLOCK - (size % BLOCK)) % BLOCK;

function octal(buf: Buffer, at: number, len: number, value: number): void {
  buf.write(`${value.toString(8).padStart(len - 1, '0')}\0`, at, len, 'ascii');
}

/** One 512-byte ustar header; typeflag '0' (file) or 'x' (pax extended header for the next entry). Pure. */
export function ustarHeader(name: string, size: number, typeflag: '0' | 'x', mtimeSec = 0): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar entry name longer than 100 bytes: ${name}`);
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  octal(h, 100, 8, 0o644);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size > USTAR_MAX_SIZE ? 0 : size);
  octal(h, 136, 12, mtimeSec);
  h.write('        ', 148, 8, 'ascii');
  h.write(typeflag, 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** A pax record `LEN key=value\n`, LEN counting itself. Pure. */
export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

/** The header blocks of one file entry: a pax header first when the size does not fit ustar. Pure. */
export function entryHeaders(name: string, size: number): Buffer {
  if (size <= USTAR_MAX_SIZE) return ustarHeader(name, size, '0');
  const pax = Buffer.from(paxRecord('size', String(size)));
  return Buffer.concat([ustarHeader(`PaxHeaders/${name}`.slice(0, 100), pax.length, 'x'), pax, Buffer.alloc(padding(pax.length)), ustarHeader(name, size, '0')]);
}

/** Appends entries to a file handle at increasing offsets; the caller fsyncs and renames. */
export class TarWriter {
  private pos = 0;
  constructor(private readonly fh: FileHandle) {}

  private async write(buf: Buffer): Promise<void> {
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await this.fh.write(buf, off, buf.length - off, this.pos);
      off += bytesWritten;
      this.pos += bytesWritten;
    }
  }

  async addBuffer(name: string, data: Buffer): Promise<void> {
    await this.write(entryHeaders(name, data.length));
    await this.write(data);
    await this.write(Buffer.alloc(padding(data.length)));
  }

  /** Copies `size` bytes from `source` chunk by chunk (never all in memory); `onChunk` sees each (to hash it). */
  async addStream(name: string, size: number, source: AsyncIterable<Buffer>, onChunk?: (b: Buffer) => void): Promise<void> {
    await this.write(entryHeaders(name, size));
    let n = 0;
    for await (const chunk of source) {
      n += chunk.length;
      if (n > size) throw new Error(`${name}: source is longer than ${size} bytes`);
      onChunk?.(chunk);
      await this.write(chunk);
    }
    if (n !== size) throw new Error(`${name}: source has ${n} bytes, expected ${size}`);
    await this.write(Buffer.alloc(padding(size)));
  }

  /** The end-of-archive marker: two zero blocks. */
  async end(): Promise<void> {
    await this.write(Buffer.alloc(2 * BLOCK));
  }
}

export type ReadAt = (buf: Buffer, position: number) => Promise<number>;

async function readFully(read: ReadAt, buf: Buffer, pos: number): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const n = await read(buf.subarray(got), pos + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

function parseOctal(h: Buffer, at: number, len: number): number {
  const s = h.toString('ascii', at, at + len).replace(/[\0 ]+$/g, '').trim();
  return /^[0-7]+$/.test(s) ? parseInt(s, 8) : s === '' ? 0 : NaN;
}

function validHeader(h: Buffer): boolean {
  if (h.toString('ascii', 257, 262) !== 'ustar') return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] as number);
  return parseOctal(h, 148, 8) === sum;
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of data.toString('utf8').split('\n')) {
    const m = /^\d+ ([^=]+)=(.*)$/.exec(line);
    if (m) out[m[1] as string] = m[2] as string;
  }
  return out;
}

/**
 * Indexes the file entries of an archive of `fileSize` bytes by reading only its headers (positional reads):
 * names, data offsets and sizes. Other entry types are skipped. Throws TarError: 'not-tar' when the first header
 * is not ustar, 'truncated' when an entry or the end marker lies past the end, 'corrupt' for a bad later header.
 */
export async function indexTar(read: ReadAt, fileSize: number): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  const h = Buffer.alloc(BLOCK);
  let pos = 0;
  let pax: Record<string, string> = {};
  for (;;) {
    const got = await readFully(read, h, pos);
    if (got < BLOCK) {
      if (pos === 0) throw new TarError('not-tar', `not a tar archive: ${fileSize} bytes`, pos);
      throw new TarError('truncated', `archive ends at byte ${pos + got} before its end marker`, pos);
    }
    if (h.every((b) => b === 0)) return entries;
    if (!validHeader(h)) {
      if (pos === 0) throw new TarError('not-tar', 'not a tar archive: no ustar header at byte 0', pos);
      throw new TarError('corrupt', `bad tar header at byte ${pos}`, pos);
    }
    const type = h.toString('ascii', 156, 157);
    let size = parseOctal(h, 124, 12);
    if (pax['size'] !== undefined) size = Number(pax['size']);
    if (!Number.isSafeInteger(size) || size < 0) throw new TarError('corrupt', `bad entry size at byte ${pos}`, pos);
    const offset = pos + BLOCK;
    if (offset + size > fileSize) throw new TarError('truncated', `entry at byte ${pos} needs ${size} bytes; the archive has ${fileSize - offset}`, pos);
    if (type === 'x') {
      if (size > MAX_PAX_BYTES) throw new TarError('corrupt', `pax header of ${size} bytes at byte ${pos}`, pos);
      const data = Buffer.alloc(size);
      await readFully(read, data, offset);
      pax = parsePax(data);
    } else {
      if (type === '0' || type === '\0') {
        const base = h.toString('utf8', 0, 100).replace(/\0.*$/s, '');
        const prefix = h.toString('utf8', 345, 500).replace(/\0.*$/s, '');
        entries.push({ name: pax['path'] ?? (prefix ? `${prefix}/${base}` : base), offset, size });
      }
      pax = {};
    }
    pos = offset + size + padding(size);
  }
}
