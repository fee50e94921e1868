// tweetnacl, required at first use: an idle daemon verifies and signs nothing, and loading it costs it RSS.
import { createRequire } from 'node:module';

type Nacl = typeof import('tweetnacl');

/** ed25519 sizes in bytes (tweetnacl's nacl.sign.*Length), known without loading it: config checks need only these. */
export const ED25519 = { publicKeyLength: 32, secretKeyLength: 64, signatureLength: 64, seedLength: 32 } as const;

let loaded: Nacl | null = null;

/** tweetnacl itself (its CommonJS build, loaded synchronously the first time). */
export function nacl(): Nacl {
  loaded ??= createRequire(import.meta.url)('tweetnacl') as Nacl;
  return loaded;
}
