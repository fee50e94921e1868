// writeDelegation: signs delegations/N.json bound to the published manifest N, and refuses what devices would refuse.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeDelegation, type DelegateOptions } from '../../src/publish/delegate.js';
import { generateKeyPair } from '../../src/trust/keys.js';
import { signPayload } from '../../src/trust/sign.js';
import { verifyEnvelope } from '../../src/trust/envelope.js';
import { parseDelegation } from '../../src/trust/delegation.js';
import { manifestPayloadSha256 } from '../../src/trust/delegation-sign.js';
import type { Envelope } from '../../src/trust/manifest-types.js';

const dir = mkdtempSync(join(tmpdir(), 'ua-delegate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const offline = generateKeyPair();
const online = generateKeyPair();
const now = new Date('2026-12-02T12:00:00Z');
mkdirSync(join(dir, 'manifests'));
const manifest = signPayload(Buffer.from(JSON.stringify({ schema: 1, version: 5, note: 'only its bytes matter here' })), [offline]);
writeFileSync(join(dir, 'manifests', '5.json'), JSON.stringify(manifest));

const opts = (o: Partial<DelegateOptions> = {}): DelegateOptions => ({
  publishDir: dir, version: 5, keys: [offline], online: { keyid: online.keyid, publicKey: online.publicKey },
  bases: { min: 2, max: 4 }, notAfter: new Date('2026-12-09T12:00:00Z'), maxSize: 1 << 30, compression: 'xz', ...o,
});

describe('writeDelegation', () => {
  it('writes delegations/5.json: signed by the offline key, naming the online key, bound to manifest 5 and its terms', () => {
    const path = writeDelegation(opts(), now);
    expect(path).toBe(join(dir, 'delegations', '5.json'));
    const bytes = readFileSync(path);
    const payload = verifyEnvelope(bytes, [{ keyid: offline.keyid, publicKey: offline.publicKey }], 1);
    const d = parseDelegation(payload);
    expect(d).toMatchObject({
      kind: 'diff-delegation', version: 5, manifestSha256: manifestPayloadSha256(manifest as Envelope), key: { keyid: online.keyid },
      bases: { min: 2, max: 4 }, notAfter: '2026-12-09T12:00:00.000Z', maxSize: 1 << 30, compression: 'xz',
    });
  });

  it('refuses a manifest the given keys did not sign (devices would refuse the delegation)', () => {
    const other = generateKeyPair();
    expect(() => writeDelegation(opts({ keys: [other] }), now)).toThrow(expect.objectContaining({ code: expect.stringMatching(/^E_MANIFEST_/) }));
  });

  it('refuses bases that are not below the version, a past deadline, a size of 0, a version not published', () => {
    expect(() => writeDelegation(opts({ bases: { min: 2, max: 5 } }), now)).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    expect(() => writeDelegation(opts({ bases: { min: 4, max: 2 } }), now)).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    expect(() => writeDelegation(opts({ notAfter: new Date('2026-12-01T00:00:00Z') }), now)).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    expect(() => writeDelegation(opts({ maxSize: 0 }), now)).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    expect(() => writeDelegation(opts({ version: 6 }), now)).toThrow(expect.objectContaining({ code: 'E_USAGE', message: expect.stringContaining('publish it first') }));
  });
});
