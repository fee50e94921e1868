// Inside the OpenZFS guest: the same Zfs adapter contract as on the host, on zfs-fuse's streams, against the kernel's ZFS.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ZfsCli } from '../../../../src/adapters/zfs.js';
import { createPool } from '../../../support/zfs-pool.js';
import { zfsContract, type ContractFixture } from '../../../adapters/zfs-contract.js';

/** Written by the host (openzfs.spec.ts): the streams zfs-fuse sent and what the published images hash to. */
const FIXTURE = process.env['UA_CONTRACT_FIXTURE'] ?? '/opt/ua/fixture/fixture.json';
const fx = JSON.parse(readFileSync(FIXTURE, 'utf8')) as ContractFixture;

const adapter = (): ZfsCli => new ZfsCli({ busyTimeoutSec: 30 });

describe('the guest runs OpenZFS in the kernel', () => {
  it('has /dev/zfs, and the adapter finds what OpenZFS supports', async () => {
    expect(existsSync('/dev/zfs')).toBe(true);
    expect(await adapter().capabilities()).toEqual({
      resumableReceive: true, receiveNoMount: true, receiveProps: true, parseableList: true, multiSet: true, zvols: true,
    });
  });
});

zfsContract('OpenZFS, inherited mountpoints', { adapter, fixture: () => fx, newPool: (dir) => createPool(dir, 'oz', 128) });
zfsContract('OpenZFS, pool created with -m none', { adapter, fixture: () => fx, newPool: (dir) => createPool(dir, 'oznone', 128, { mountpoint: 'none' }) });
