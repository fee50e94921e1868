// The image files present in the images directory (`<version>.img`), oldest first.
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export interface ImageFile {
  version: number;
  path: string;
  size: number;
}

export function listImages(imagesDir: string): ImageFile[] {
  if (!existsSync(imagesDir)) return [];
  return readdirSync(imagesDir)
    .map((name) => /^(\d+)\.img$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ version: Number(m[1]), path: join(imagesDir, m[0]), size: statSync(join(imagesDir, m[0])).size }))
    .sort((a, b) => a.version - b.version);
}
