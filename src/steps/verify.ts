// Opens a downloaded stream once and proves it is the signed one; the same fd is what gets fed to zfs recv.
import { close, fstat, open } from 'node:fs';
import { promisify } from 'node:util';
import { VerifyError } from '../errors.js';
import { sha256OfFd } from '../util/sha256.js';

const openAsync = promisify(open);
const fstatAsync = promisify(fstat);
const closeAsync = promisify(close);

export interface VerifiedFile {
  /** Read-only descriptor positioned at offset 0; its bytes hashed to the signed sha256. */
  fd: number;
  size: number;
  sha256: string;
  close(): Promise<void>;
}

/** Opens `path` read-only and checks it is a regular file of exactly the signed size (cheap; nothing hashed yet). */
export async function openSized(path: string, size: number): Promise<{ fd: number; close(): Promise<void> }> {
  const fd = await openAsync(path, 'r');
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await closeAsync(fd);
  };
  try {
    const st = await fstatAsync(fd);
    if (!st.isFile()) {
      throw new VerifyError('E_VERIFY_SIZE', `${path} is not a regular file`, { context: { path } });
    }
    if (st.size !== size) {
      throw new VerifyError('E_VERIFY_SIZE', `${path} has ${st.size} bytes, signed size is ${size}`, {
        context: { path, size: st.size, expected: size },
      });
    }
    return { fd, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Verifies `path` against the signed size and sha256 through one descriptor, with positional reads so the
 * offset stays 0. Whoever renames another file over `path` afterwards changes nothing for the holder of `fd`.
 */
export async function openVerified(path: string, expected: { size: number; sha256: string }): Promise<VerifiedFile> {
  // Size first: cheap, and it caps what we hash at the signed length.
  const file = await openSized(path, expected.size);
  try {
    // Hash one byte past the signed size so a file that grew after fstat is caught too.
    const digest = await sha256OfFd(file.fd, expected.size + 1);
    if (digest.size !== expected.size) {
      throw new VerifyError('E_VERIFY_SIZE', `${path} changed size while being verified`, {
        context: { path, size: digest.size, expected: expected.size },
      });
    }
    if (digest.sha256 !== expected.sha256.toLowerCase()) {
      throw new VerifyError('E_VERIFY_HASH', `${path} does not match the signed sha256`, {
        context: { path, sha256: digest.sha256, expected: expected.sha256 },
      });
    }
    return { fd: file.fd, size: digest.size, sha256: digest.sha256, close: file.close };
  } catch (err) {
    await file.close();
    throw err;
  }
}
