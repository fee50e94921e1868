// The folder layering of src/ (docs/ARCHITECTURE.md, "Layers"): a layer imports only from itself and the layers below.
// eslint.config.js turns this table into no-restricted-imports rules; test/layers.test.ts proves each rule bites.

/** Top to bottom. An entry is a folder of src/ or a file at src/'s root. */
export const LAYERS = [
  ['cli'],
  ['daemon'],
  ['wiring.ts'],
  ['metrics'],
  ['core'],
  ['steps'],
  ['trust', 'adapters', 'boot'],
  ['state', 'util', 'systemd', 'config.ts', 'errors.ts', 'log.ts'],
];

/**
 * What ships apart from the device agent: the agent's layers never import these (but `cli` may import `publish`).
 * Each may use the agent's modules; the value lists the apart folders it may not import (the demo runs the sandbox).
 */
export const APART = { publish: ['fleet', 'sandbox', 'demo'], fleet: ['sandbox', 'demo'], sandbox: ['demo'], demo: [] };

/** Allowed upward imports, each with its reason: `[from, to]` as layer entries. */
export const EXCEPTIONS = [
  // The publisher's verbs (keygen, sign, publish) are upgradectl verbs, loaded only when asked for.
  ['cli', 'publish/*'],
  // `upgradectl serve` runs the fleet server; `upgradectl fleet` talks to its admin API (loaded only when asked for).
  ['cli', 'fleet/*'],
  // The phase names and transitions are the persisted vocabulary the store enforces on every write.
  ['state', 'core/phases.js'],
  // The journal's typed event table names the step and window-decision events.
  ['state', 'core/window.js'],
];

const spec = (entry) => (entry.endsWith('.ts') ? `**/${entry.replace(/\.ts$/, '.js')}` : `**/${entry}/*`);

/** The import patterns an entry of src/ may not use: every layer above it, and what ships apart (gitignore-style). */
export function bannedFor(entry) {
  const at = LAYERS.findIndex((l) => l.includes(entry));
  const above = at === -1 ? [] : LAYERS.slice(0, at).flat();
  const apart = at === -1 ? APART[entry] : Object.keys(APART);
  const allowed = EXCEPTIONS.filter(([from]) => from === entry).map(([, to]) => `!**/${to}`);
  return [...above.map(spec), ...apart.map(spec), ...allowed];
}

/** Every entry (the layers' and the apart folders'), with its file glob. */
export function entries() {
  return [...LAYERS.flat(), ...Object.keys(APART)].filter((e) => bannedFor(e).length > 0).map((e) => ({ entry: e, files: e.endsWith('.ts') ? [`src/${e}`] : [`src/${e}/**/*.ts`] }));
}
