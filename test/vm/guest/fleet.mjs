// In-guest fleet server for the e2e appliance: the project's reference server over /srv/fleet on 127.0.0.1:8443.
// POST /v1/checkin answers with the target named in /srv/fleet/target.json ({"version": N} or {"version": null}), or in
// /run/e2e/target.json once the e2e reporter has written it (a boot that offers the next version after settling).
import { existsSync, readFileSync } from 'node:fs';
import { startFleetServer } from '/usr/lib/upgrade-agent/dist/src/fleet/server.js';

const root = '/srv/fleet';
const server = await startFleetServer({
  root: `${root}/www`,
  tls: { key: readFileSync(`${root}/tls/server.key`, 'utf8'), cert: readFileSync(`${root}/tls/server.pem`, 'utf8') },
  port: 8443,
  checkin: () => {
    const override = '/run/e2e/target.json';
    const { version } = JSON.parse(readFileSync(existsSync(override) ? override : `${root}/target.json`, 'utf8'));
    return { target: version === null ? null : { version, manifest: `manifests/${version}.json` } };
  },
});
console.log(`fleet server on ${server.url}`);
