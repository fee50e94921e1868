// Test access to the synthetic root trees (they live in src/sandbox so the benchmarks use them too).
export * from '../../src/sandbox/root-tree.js';
