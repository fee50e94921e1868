// Lint rules: typescript-eslint recommended, over sources, tests and benchmarks.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { bannedFor, entries } from './layers.js';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // The folder layering (layers.js): an import from a layer above, or from what ships apart, is an error.
  ...entries().map(({ entry, files }) => ({
    files,
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: bannedFor(entry), message: `src/${entry} may not import this (layers.js: the folder layering)` }] }],
    },
  })),
);
