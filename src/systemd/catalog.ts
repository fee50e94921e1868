// The journal catalog's events: fixed MESSAGE_IDs for the log lines that mark an upgrade's milestones.
/**
 * Each entry: the log message (the `msg` the agent logs, exactly) and its MESSAGE_ID. systemd/upgrade-agent.catalog
 * explains each id (`journalctl -x`); a test keeps the two in step and checks that every message is still logged.
 */
export const CATALOG = [
  { event: 'started', msg: 'daemon started', id: 'c8bbb830496d45008b0848f4730d8b39' },
  { event: 'ready', msg: 'daemon ready', id: '77c2560997ac42a098a5093d23bcd942' },
  { event: 'armed', msg: 'trial armed', id: '5127c234c35b49b390c6d1aac47d915c' },
  { event: 'committed', msg: 'image committed', id: 'ac087f7a0470421cbe52751c71b7f11a' },
  { event: 'rolled-back', msg: 'trial rolled back', id: 'a00e5f50ca514b87a4365816f7cca61f' },
  { event: 'failed', msg: 'step failed', id: '0527b498b7094952aa636e860a92e212' },
  { event: 'failed', msg: 'switch failed before the reboot', id: '0527b498b7094952aa636e860a92e212' },
  { event: 'failed', msg: 'loop breaker: failing deployment', id: '0527b498b7094952aa636e860a92e212' },
] as const;

const BY_MSG = new Map<string, string>(CATALOG.map((e) => [e.msg, e.id]));

/** The MESSAGE_ID of a catalog event's log message, or undefined. */
export function messageId(msg: string): string | undefined {
  return BY_MSG.get(msg);
}
