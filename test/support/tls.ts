// Test access to the sandbox's throwaway CA.
export * from '../../src/sandbox/tls.js';
