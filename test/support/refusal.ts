// Test helper: runs `fn`, expects it to throw an UpgradeError, and returns that error for code assertions.
import { expect } from 'vitest';
import { UpgradeError } from '../../src/errors.js';

export function refusal(fn: () => unknown): UpgradeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UpgradeError);
    return err as UpgradeError;
  }
  throw new Error('expected a refusal');
}
