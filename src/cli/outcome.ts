// The exit code and the stderr line of a check-in or prepare, from its outcome (in process or from the daemon, as JSON).

/** An outcome as it reaches the CLI: a RunOutcome, or its JSON from the daemon (times as epoch ms either way). */
interface OutcomeLike {
  kind?: string;
  at?: number;
  code?: string;
  deployment?: { version?: number; reasonCode?: string | null; reason?: string | null } | null;
}

type Result = { outcome?: OutcomeLike | null; prepared?: { outcome?: OutcomeLike | null } | null } | null;

/**
 * `failed` is exit 1 and `retry` exit 3 (deferred), each with `upgradectl: E_CODE: message` for stderr (the README's
 * contract for failures); a deferral says when the next attempt is. Anything else is exit 0 with no line. Pure.
 */
export function outcomeExit(result: unknown): { exit: 0 | 1 | 3; line: string | null } {
  const r = result as Result;
  const o = r?.outcome ?? r?.prepared?.outcome ?? null;
  const d = o?.deployment ?? null;
  const target = d?.version === undefined ? '' : `image ${d.version}: `;
  if (o?.kind === 'failed') {
    return { exit: 1, line: `upgradectl: ${d?.reasonCode ?? 'E_INTERNAL'}: ${target}${d?.reason ?? 'the deployment failed'}` };
  }
  if (o?.kind === 'retry') {
    const code = o.code ?? d?.reasonCode ?? 'E_RETRY_LATER';
    const reason = d?.reasonCode === code && d.reason ? d.reason : 'deferred';
    const when = typeof o.at === 'number' ? new Date(o.at).toISOString() : 'unknown';
    return { exit: 3, line: `upgradectl: ${code}: ${target}${reason}; deferred, next attempt at ${when}` };
  }
  return { exit: 0, line: null };
}
