// The fleet server's database, as an interface: devices, rollouts, pins, holds, built diffs and build claims (SQLite or PostgreSQL).

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

/**
 * Who builds a missing diff, shared by every server instance on the database: a claim is valid until `expiresAt`
 * (a building claim is a lease its owner renews; a failed one holds the pair off for the retry time).
 */
export interface BuildClaim {
  from: number;
  to: number;
  owner: string;
  state: 'building' | 'failed';
  /** When it was claimed, started or failed. */
  at: number;
  expiresAt: number;
  code: string | null;
  message: string | null;
}

/**
 * Devices that report a deployment of one (channel, hardware, version): how many, how many of them failed or rolled
 * back, how many committed (what a rollout's automatic pause decides on; see rollout.ts deploymentCounts).
 */
export interface DeploymentCount {
  channel: string;
  hardware: string;
  version: number;
  reporting: number;
  failed: number;
  committed: number;
}

export type RolloutPatch = Partial<Pick<RolloutRow, 'percent' | 'state' | 'pausedReason' | 'changedAt' | 'stepPercent' | 'everySec'>>;

/**
 * Every method is atomic on its own, also with several server instances on one database: read-modify-writes
 * (`recordCheckin`, `updateRollout`) lock the row, claims and removals are conditional writes.
 */
export interface FleetStore {
  upsertDevice(d: DeviceRow): Promise<void>;
  /** Read-modify-write of one device under its row lock: `make` gets the stored row (or null) and returns the new one (null: nothing written). */
  recordCheckin(id: string, make: (prev: DeviceRow | null) => DeviceRow | null): Promise<DeviceRow | null>;
  device(id: string): Promise<DeviceRow | null>;
  devices(): Promise<DeviceRow[]>;
  /** Aggregate of the devices with a deployment, one entry per (channel, hardware, version), in no set order. */
  deploymentCounts(): Promise<DeploymentCount[]>;
  /** How many devices have each committed version (devices with none are not counted). */
  committedCounts(): Promise<Map<number, number>>;
  createRollout(r: Omit<RolloutRow, 'id'>): Promise<RolloutRow>;
  /**
   * Applies `patch` to the stored row (E_USAGE when there is none). With `ifChangedAt`, only when the row's
   * changedAt is still that (a schedule's step decided on a stale read is dropped); the stored row is returned either way.
   */
  updateRollout(id: number, patch: RolloutPatch, ifChangedAt?: number): Promise<RolloutRow>;
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
  /** Removes the row only when it is still the build of `builtAt` (true: removed; the caller then deletes the file). */
  removeDiff(from: number, to: number, builtAt: number): Promise<boolean>;
  /** Takes the pair's build when no valid claim exists (true), else leaves the claim as it is (false). */
  claimBuild(c: { from: number; to: number; owner: string; now: number; expiresAt: number }): Promise<boolean>;
  buildClaim(from: number, to: number): Promise<BuildClaim | null>;
  /** The owner renews its lease (when the build starts). False: the claim is no longer its own. */
  renewBuild(from: number, to: number, owner: string, now: number, expiresAt: number): Promise<boolean>;
  /** The owner ends its claim: removed after a success, kept as `failed` until `expiresAt` after a failure. */
  finishBuild(from: number, to: number, owner: string, failure: { code: string; message: string; at: number; expiresAt: number } | null): Promise<void>;
  close(): Promise<void>;
}
