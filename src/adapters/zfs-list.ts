// One parseable listing of a dataset's neighbourhood (`zfs get -Hp`, which every implementation has) into typed rows.
import { snapshotVersion } from './zfs-names.js';

/** A file system, volume or snapshot with the properties the agent decides on. */
export interface DatasetEntry {
  name: string;
  type: 'filesystem' | 'volume' | 'snapshot';
  guid: string;
  createtxg: number;
  /** File systems only; null for snapshots and volumes. */
  mounted: boolean | null;
  /** Raw values ('-' where the property does not apply). */
  canmount: string;
  readonly: string;
  atime: string;
  mountpoint: string;
}

/** The properties the listing asks for. */
export const LIST_PROPS = ['type', 'guid', 'createtxg', 'mounted', 'canmount', 'readonly', 'atime', 'mountpoint'] as const;
type Prop = (typeof LIST_PROPS)[number];

function entry(name: string, v: Partial<Record<Prop, string>>): DatasetEntry | null {
  const type = v.type;
  if (type !== 'filesystem' && type !== 'volume' && type !== 'snapshot') return null;
  return {
    name,
    type,
    guid: v.guid ?? '',
    createtxg: Number(v.createtxg ?? 0),
    mounted: v.mounted === 'yes' ? true : v.mounted === 'no' ? false : null,
    canmount: v.canmount ?? '-',
    readonly: v.readonly ?? '-',
    atime: v.atime ?? '-',
    mountpoint: v.mountpoint ?? '-',
  };
}

/** `zfs get -Hp -o name,property,value <LIST_PROPS>`: one row per dataset and property, grouped by name. */
export function parseGetRows(out: string): DatasetEntry[] {
  const byName = new Map<string, Partial<Record<Prop, string>>>();
  for (const line of out.split('\n')) {
    const [name, prop, value] = line.split('\t');
    if (!name || !prop || value === undefined || !(LIST_PROPS as readonly string[]).includes(prop)) continue;
    const props = byName.get(name) ?? {};
    props[prop as Prop] = value;
    byName.set(name, props);
  }
  return [...byName].map(([name, v]) => entry(name, v)).filter((e): e is DatasetEntry => e !== null);
}

/** The listing around one dataset: itself, its siblings (staging, retired, export clones) and their snapshots. */
export class DatasetView {
  private readonly byName: Map<string, DatasetEntry>;

  constructor(readonly entries: DatasetEntry[]) {
    this.byName = new Map(entries.map((e) => [e.name, e]));
  }

  get(name: string): DatasetEntry | undefined {
    return this.byName.get(name);
  }

  exists(name: string): boolean {
    return this.byName.has(name);
  }

  /** Integer-named snapshots of exactly `dataset`, oldest → newest by creation txg. */
  snapshots(dataset: string): { name: string; version: number; guid: string; createtxg: number }[] {
    return this.entries
      .filter((e) => e.type === 'snapshot' && e.name.startsWith(`${dataset}@`) && snapshotVersion(e.name) !== null)
      .map((e) => ({ name: e.name, version: snapshotVersion(e.name) as number, guid: e.guid, createtxg: e.createtxg }))
      .sort((a, b) => a.createtxg - b.createtxg);
  }

  /** Direct file systems and volumes named `<prefix>…` (e.g. export clones `<ds>.export-`). */
  named(prefix: string): string[] {
    return this.entries.filter((e) => e.type !== 'snapshot' && e.name.startsWith(prefix)).map((e) => e.name);
  }
}
