// Key generation, keyids and key files: round trips, 0600 secret files, malformed files refused with E_KEY_INVALID.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UpgradeError } from '../../src/errors.js';
import {
  decodeBase64Strict,
  generateKeyPair,
  keyidOf,
  loadPublicKey,
  loadSecretKey,
  publicKeyOf,
  writePublicKeyFile,
  writeSecretKeyFile,
} from '../../src/trust/keys.js';

const dir = mkdtempSync(join(tmpdir(), 'trust-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UpgradeError);
    return (err as UpgradeError).code;
  }
  throw new Error('expected a throw');
}

function writeJson(name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
  return path;
}

describe('generateKeyPair / keyidOf', () => {
  it('derives keyid as the first 16 hex chars of sha256(public key)', () => {
    const kp = generateKeyPair();
    const pub = Buffer.from(kp.publicKey, 'base64');
    expect(pub.length).toBe(32);
    expect(Buffer.from(kp.secretKey, 'base64').length).toBe(64);
    expect(kp.keyid).toBe(createHash('sha256').update(pub).digest('hex').slice(0, 16));
    expect(keyidOf(pub)).toBe(kp.keyid);
    expect(publicKeyOf(kp)).toEqual({ keyid: kp.keyid, publicKey: kp.publicKey });
  });

  it('generates distinct keys', () => {
    expect(generateKeyPair().keyid).not.toBe(generateKeyPair().keyid);
  });
});

describe('decodeBase64Strict', () => {
  it('accepts canonical base64 and refuses junk, url-safe letters and missing padding', () => {
    expect(decodeBase64Strict('aGk=')?.toString()).toBe('hi');
    expect(decodeBase64Strict('aGk')).toBeNull();
    expect(decodeBase64Strict('aGl=')).toBeNull(); // non-zero trailing bits
    expect(decodeBase64Strict('a Gk=')).toBeNull();
    expect(decodeBase64Strict('-_-_')).toBeNull();
  });
});

describe('key files', () => {
  it('round-trips a secret key file written with mode 0600', () => {
    const kp = generateKeyPair();
    const path = join(dir, 'signer.key');
    writeSecretKeyFile(path, kp);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ keyid: kp.keyid, secretKey: kp.secretKey });
    expect(loadSecretKey(path)).toEqual({ keyid: kp.keyid, secretKey: kp.secretKey });
  });

  it('round-trips a public key file', () => {
    const kp = generateKeyPair();
    const path = join(dir, 'signer.pub');
    writePublicKeyFile(path, kp);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ keyid: kp.keyid, publicKey: kp.publicKey });
    expect(loadPublicKey(path)).toEqual({ keyid: kp.keyid, publicKey: kp.publicKey });
  });

  it('refuses a missing file, garbage JSON and a non-object', () => {
    expect(codeOf(() => loadSecretKey(join(dir, 'nope.key')))).toBe('E_KEY_INVALID');
    expect(codeOf(() => loadSecretKey(writeJson('garbage.key', '{not json')))).toBe('E_KEY_INVALID');
    expect(codeOf(() => loadPublicKey(writeJson('array.pub', '[1,2]')))).toBe('E_KEY_INVALID');
  });

  it('refuses a public key of the wrong length', () => {
    const kp = generateKeyPair();
    const short = Buffer.from(kp.publicKey, 'base64').subarray(0, 31);
    const path = writeJson('short.pub', { keyid: keyidOf(short), publicKey: short.toString('base64') });
    expect(codeOf(() => loadPublicKey(path))).toBe('E_KEY_INVALID');
  });

  it('refuses a secret key of the wrong length', () => {
    const kp = generateKeyPair();
    const path = writeJson('short.key', { keyid: kp.keyid, secretKey: Buffer.from(kp.secretKey, 'base64').subarray(0, 32).toString('base64') });
    expect(codeOf(() => loadSecretKey(path))).toBe('E_KEY_INVALID');
  });

  it('refuses bad base64', () => {
    const kp = generateKeyPair();
    const path = writeJson('bad64.pub', { keyid: kp.keyid, publicKey: kp.publicKey.replace(/=$/, '') + '!' });
    expect(codeOf(() => loadPublicKey(path))).toBe('E_KEY_INVALID');
  });

  it('refuses a keyid that does not match the key', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    expect(codeOf(() => loadPublicKey(writeJson('mismatch.pub', { keyid: b.keyid, publicKey: a.publicKey })))).toBe('E_KEY_INVALID');
    expect(codeOf(() => loadSecretKey(writeJson('mismatch.key', { keyid: b.keyid, secretKey: a.secretKey })))).toBe('E_KEY_INVALID');
  });

  it('refuses a secret key whose public half does not match its seed', () => {
    const kp = generateKeyPair();
    const sk = Buffer.from(kp.secretKey, 'base64');
    sk[40] = (sk[40] ?? 0) ^ 1;
    expect(codeOf(() => loadSecretKey(writeJson('corrupt.key', { keyid: kp.keyid, secretKey: sk.toString('base64') })))).toBe('E_KEY_INVALID');
  });

  it('refuses extra or missing fields (e.g. a public key file given as a secret key)', () => {
    const kp = generateKeyPair();
    expect(codeOf(() => loadSecretKey(writeJson('pub-as-secret.key', { keyid: kp.keyid, publicKey: kp.publicKey })))).toBe('E_KEY_INVALID');
    expect(codeOf(() => loadPublicKey(writeJson('extra.pub', { keyid: kp.keyid, publicKey: kp.publicKey, note: 'x' })))).toBe('E_KEY_INVALID');
  });

  it('refuses to write an inconsistent key', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    expect(codeOf(() => writeSecretKeyFile(join(dir, 'never.key'), { keyid: b.keyid, secretKey: a.secretKey }))).toBe('E_KEY_INVALID');
  });
});
