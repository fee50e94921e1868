// Small-fetch bounds for tests that are not about them: generous, so only the behaviour under test can trip.
import type { SmallFetchLimits } from '../../src/adapters/http.js';

export const TEST_FETCH_LIMITS: SmallFetchLimits = { deadlineMs: 20_000, minBytesPerSec: 0, slowWindowMs: 10_000, maxRedirects: 3 };
