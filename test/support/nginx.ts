// Test access to the sandbox's throwaway nginx.
export * from '../../src/sandbox/nginx.js';
