// Checks and reports, shaped as `mcledger verify --json` writes them ({name, passed,
// detail}), with one more field the page needs: the outcome. A check that did not pass
// either failed (the evidence says no) or could not be checked (an RPC, a status list or
// a DID document did not answer; the credential is not anchored yet): the page says
// "cannot check" for those, never "verified".

import {BUNDLE_FORMAT, CHECK_NAMES} from './names.js';

export const PASSED = 'passed';
export const FAILED = 'failed';
export const CANNOT_CHECK = 'cannot-check';

export function passed(name, detail) {
  return {name, passed: true, detail, outcome: PASSED};
}

export function failed(name, detail) {
  return {name, passed: false, detail, outcome: FAILED};
}

export function cannotCheck(name, detail) {
  return {name, passed: false, detail, outcome: CANNOT_CHECK};
}

/** A report's verdict: every check passed, or any failed, or the rest could not run. */
export function verdict(report) {
  const checks = [...walk(report)].flatMap(node => node.checks);
  if(checks.length && checks.every(c => c.passed)) {
    return PASSED;
  }
  return checks.some(c => c.outcome === FAILED) ? FAILED : CANNOT_CHECK;
}

export function isOk(report) {
  return report.checks.length > 0 && report.checks.every(c => c.passed) &&
    (report.components || []).every(isOk);
}

export function* walk(report) {
  yield report;
  for(const component of report.components || []) {
    yield* walk(component);
  }
}

/** The report of input that is not a bundle at all (node/verifier/report.py). */
export function unparsableBundleReport(why) {
  const skipped = 'skipped: the bundle did not parse';
  return {
    kind: 'bundle',
    checks: [
      failed(BUNDLE_FORMAT, why),
      ...CHECK_NAMES.slice(1).map(name => failed(name, skipped)),
    ],
  };
}
