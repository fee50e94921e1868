// The deployment row as the agent reads and writes it, and the shapes of its writes (the store's types).
import type { Phase } from '../core/phases.js';
import type { ErrorCode } from '../errors.js';
import type { JournalRetention } from './journal.js';

export interface Deployment {
  id: number;
  version: number;
  label: string;
  manifestUrl: string | null;
  envelope: Buffer;
  payloadSha256: string;
  phase: Phase;
  reasonCode: string | null;
  reason: string | null;
  streamFrom: number | null;
  streamSize: number | null;
  streamSha256: string | null;
  compression: string | null;
  /** JSON list of absolute URLs of an on-demand diff (verified through its delegation); null: the manifest's stream. */
  streamUrls: string | null;
  imageSize: number;
  imageSha256: string;
  downloadUrl: string | null;
  downloadValidator: string | null;
  downloadedBytes: number;
  resumes: number;
  failures: number;
  /** Consecutive "come back later" answers since the last step done or failure (retry.maxDeferrals caps them). */
  deferrals: number;
  nextAttemptAt: number | null;
  bootId: string | null;
  postponements: number;
  readyAt: number | null;
  confirmAttempts: number;
  createdAt: number;
  updatedAt: number;
}

/** A row of `deployments` as SQLite returns it (snake_case columns). */
export type Row = Record<string, unknown>;
const camel = (s: string): string => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** A row read → a Deployment (its columns camelCased). */
export function toDeployment(row: Row): Deployment {
  const out: Row = {};
  for (const [k, v] of Object.entries(row)) out[camel(k)] = v;
  return out as unknown as Deployment;
}

export type NewDeployment = Pick<
  Deployment,
  'version' | 'label' | 'manifestUrl' | 'envelope' | 'payloadSha256' | 'imageSize' | 'imageSha256'
>;

/** Columns the runner may update besides the phase; a reason code written is one of ERROR_CODES (rows read may hold older agents'). */
export type DeploymentPatch = Partial<
  Pick<
    Deployment,
    | 'streamFrom' | 'streamSize' | 'streamSha256' | 'compression' | 'streamUrls' | 'downloadUrl' | 'downloadValidator'
    | 'downloadedBytes' | 'resumes' | 'failures' | 'deferrals' | 'nextAttemptAt' | 'reason' | 'bootId' | 'postponements' | 'readyAt'
    | 'confirmAttempts'
  > & { reasonCode: ErrorCode | null }
>;

/** Meta written with a transition, in its transaction. */
export interface TransitionMeta {
  committedVersion?: number;
}

/** Options of a Store; the journal's retention defaults to `JOURNAL_RETENTION_DEFAULTS`. */
export type StoreOptions = Partial<JournalRetention>;
