// Prints the plain closing line CI reads ("N passed, N failed") from one or more vitest JSON reports, summed.
import { readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
let skipped = 0;
for (const path of process.argv.slice(2)) {
  let report;
  try {
    report = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    console.log(`tests: no report at ${path} (${err.message})`);
    failed += 1;
    continue;
  }
  passed += report.numPassedTests ?? 0;
  // A file that failed to load (no failed test inside, yet failed) counts as one failure.
  failed += (report.numFailedTests ?? 0) + countFilesFailedWithoutTests(report);
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);

function countFilesFailedWithoutTests(r) {
  return (r.testResults ?? []).filter((f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed')).length;
}
