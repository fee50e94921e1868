// Test access to the sandbox pools and images (they live in src/sandbox so the demo and benchmarks use them too).
export * from '../../src/sandbox/pools.js';
