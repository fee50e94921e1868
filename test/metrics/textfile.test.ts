// The metrics textfile on a real store: written at attach and after each change, atomically, and never fatal.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { attachMetricsTextfile } from '../../src/metrics/textfile.js';
import { openStateDb } from '../../src/state/db.js';
import { Store } from '../../src/state/store.js';
import { parseProm } from '../support/prom-parse.js';

const newDep = { version: 2, label: 'v2', manifestUrl: 'https://x/m', envelope: Buffer.from('{}'), payloadSha256: 'a'.repeat(64), imageSize: 10, imageSha256: 'b'.repeat(64) };

function fresh(textfile: string | null) {
  const dir = mkdtempSync(join(tmpdir(), 'ua-metrics-'));
  writeFileSync(join(dir, 'cmdline'), 'root=/dev/vda1 ua.image=/images/1.img\n');
  const config = parseConfig({
    deviceId: 'd', hardware: 'h', zfs: { pool: 'p' }, paths: { hostRoot: dir }, boot: { cmdlineFile: join(dir, 'cmdline') },
    metrics: { textfile: textfile && join(dir, textfile) },
  });
  let t = 1_764_662_400_000;
  const store = new Store(openStateDb(join(dir, 'state')), () => (t += 1000));
  return { dir, config, store, read: () => parseProm(readFileSync(join(dir, textfile ?? ''), 'utf8')) };
}

const current = (m: ReturnType<typeof parseProm>): string[] =>
  (m.get('upgrade_agent_phase')?.samples ?? []).filter((s) => s.value === 1).map((s) => s.labels['phase'] as string);

describe('attachMetricsTextfile', () => {
  it('writes at once, then follows each phase, the bytes and the check-in', () => {
    const { store, config, read, dir } = fresh('upgrade_agent.prom');
    attachMetricsTextfile(store, config, silentLogger());
    expect(current(read())).toEqual([]);
    expect(read().get('upgrade_agent_booted_version')?.samples[0]?.value).toBe(1);

    const d = store.create(newDep);
    expect(current(read())).toEqual(['pending']);
    store.transition(d.id, 'downloading');
    store.update(d.id, { streamSize: 5000, downloadedBytes: 4096 });
    let m = read();
    expect(current(m)).toEqual(['downloading']);
    expect(m.get('upgrade_agent_download_bytes')?.samples[0]?.value).toBe(4096);
    expect(m.get('upgrade_agent_target_version')?.samples[0]?.value).toBe(2);

    store.journal('checked-in', null, { target: null });
    const at = store.lastEventAt('checked-in') as number;
    expect(read().get('upgrade_agent_last_checkin_timestamp_seconds')?.samples[0]?.value).toBe(at / 1000);

    store.transition(d.id, 'failed', { reasonCode: 'E_DOWNLOAD_HASH', reason: 'bad' });
    m = read();
    expect(current(m)).toEqual(['failed']);
    expect(m.get('upgrade_agent_last_error')?.samples[0]?.labels).toEqual({ code: 'E_DOWNLOAD_HASH' });
    // written by rename: no temporary sibling is left next to it
    expect(readdirSync(dir).filter((f) => f.includes('upgrade_agent'))).toEqual(['upgrade_agent.prom']);
  });

  it('stops when unsubscribed, and is off without metrics.textfile', () => {
    const { store, config, read } = fresh('m.prom');
    const stop = attachMetricsTextfile(store, config, silentLogger());
    stop();
    store.create(newDep);
    expect(current(read())).toEqual([]);
    const off = fresh(null);
    attachMetricsTextfile(off.store, off.config, silentLogger());
    off.store.create(newDep);
    expect(readdirSync(off.dir).filter((f) => f.endsWith('.prom'))).toEqual([]);
  });

  it('never fails a store write when the file cannot be written', () => {
    const { store, config } = fresh('missing-dir/m.prom');
    expect(() => attachMetricsTextfile(store, config, silentLogger())).not.toThrow();
    const d = store.create(newDep);
    expect(store.transition(d.id, 'downloading').phase).toBe('downloading');
  });
});
