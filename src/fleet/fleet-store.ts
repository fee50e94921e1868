// The fleet server's database, as an interface: devices, rollouts, pins, holds and built diffs (SQLite today).

/** What the server keeps of a device: its last check-in report, as received. */
export interface DeviceRow {
  id: string;
  hardware: string;
  channel: string;
  agentVersion: string;
  bootedVersion: number | null;
  committedVersion: number | null;
  deploymentVersion: number | null;
  deploymentPhase: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  /** The trial outcome the agent reported last: committed, or fell back with a reason (null: none yet). */
  trial: { version: number; outcome: 'committed' | 'rolled_back' | 'failed'; reason: string | null } | null;
  firstSeen: number;
  lastSeen: number;
  checkins: number;
  /** The check-in interval the server last answered (ms since epoch are the times above). */
  intervalSec: number;
}

export type RolloutState = 'active' | 'paused';

export interface RolloutRow {
  id: number;
  channel: string;
  hardware: string;
  version: number;
  /** Share of devices offered the release, 0..100 (two decimals). */
  percent: number;
  state: RolloutState;
  /** Why it is paused: 'operator' or the automatic pause's text. */
  pausedReason: string | null;
  /** Widened by `stepPercent` every `everySec` while active; 0 = only by the operator. */
  stepPercent: number;
  everySec: number;
  createdAt: number;
  /** Last change of percent or state (the widening schedule counts from here). */
  changedAt: number;
}

export interface DiffRow {
  from: number;
  to: number;
  file: string;
  size: number;
  sha256: string;
  builtAt: number;
  buildMs: number;
  lastServedAt: number;
  served: number;
}

export interface FleetStore {
  upsertDevice(d: DeviceRow): Promise<void>;
  device(id: string): Promise<DeviceRow | null>;
  devices(): Promise<DeviceRow[]>;
  createRollout(r: Omit<RolloutRow, 'id'>): Promise<RolloutRow>;
  updateRollout(id: number, patch: Partial<Pick<RolloutRow, 'percent' | 'state' | 'pausedReason' | 'changedAt' | 'stepPercent' | 'everySec'>>): Promise<RolloutRow>;
  rollouts(): Promise<RolloutRow[]>;
  /** version null: pinned to what it runs (offered nothing). */
  setPin(deviceId: string, version: number | null): Promise<void>;
  removePin(deviceId: string): Promise<void>;
  pins(): Promise<Map<string, number | null>>;
  setHold(version: number, held: boolean): Promise<void>;
  holds(): Promise<Set<number>>;
  putDiff(d: DiffRow): Promise<void>;
  diff(from: number, to: number): Promise<DiffRow | null>;
  diffs(): Promise<DiffRow[]>;
  touchDiff(from: number, to: number, at: number): Promise<void>;
  removeDiff(from: number, to: number): Promise<void>;
  close(): Promise<void>;
}
