// Test access to the sandbox's throwaway PostgreSQL cluster.
export * from '../../src/sandbox/postgres.js';
