// Throwaway TLS for the sandbox (tests, demo): a fresh CA and a 127.0.0.1/localhost server cert via the real openssl CLI.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

export interface ThrowawayCa {
  /** PEM file of the CA (what the agent's fleet.caFile points at). */
  caFile: string;
  caPem: string;
  /** Server key and certificate (PEM) for startFleetServer. */
  key: string;
  cert: string;
}

/** Creates CA + server cert under `dir` (EC P-256: fast). Nothing is cached: each caller gets its own CA. */
export async function makeThrowawayCa(dir: string): Promise<ThrowawayCa> {
  const p = (name: string): string => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await execa('openssl', [
    'req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2',
    '-subj', '/CN=upgrade-agent throwaway test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await execa('openssl', ['req', ...ec, '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=localhost']);
  await writeFile(
    p('server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n',
  );
  await execa('openssl', [
    'x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial',
    '-out', p('server.pem'), '-days', '2', '-extfile', p('server.ext'),
  ]);
  const [caPem, key, cert] = await Promise.all([readFile(p('ca.pem'), 'utf8'), readFile(p('server.key'), 'utf8'), readFile(p('server.pem'), 'utf8')]);
  return { caFile: p('ca.pem'), caPem, key, cert };
}
