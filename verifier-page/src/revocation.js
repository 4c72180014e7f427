// digest.notRevoked as node/verifier/revocation.py checks it: a bundle's recorded contract
// version (anchor.contractVersion) against version(), then the per-digest record every
// contract version keeps (revokedAt), then, on a contract with revocation commitments
// (version 2), the issuer's revocation set: the bundle's `revocation` proof against
// revocationRootOf(issuer), and when the root moved since (a stale proof, or none), the
// commitments made since, read back block by block down to the proof's root.

import {DIGEST_NOT_REVOKED} from './names.js';
import {cannotCheck, failed, passed} from './report.js';
import {
  EMPTY, InvalidRevocationProofError, RevocationSetError, verifyRevocationProof,
} from './revocationproof.js';
import {RpcError} from './rpc.js';
import {equalBytes, errorText, hexOf, isoTime} from './util.js';

export const MAX_WALK = 128;
const COMMITMENT_VERSION = 2;
const REASONS = ['unspecified', 'issued in error', 'fraud or misconduct', 'superseded',
  'withdrawn by learner', 'key compromise'];

/** `reason 2 (fraud or misconduct)`. */
export function reasonText(code) {
  return `reason ${code} (${REASONS[code] ?? 'unknown'})`;
}

class StaleProofError extends Error {}

async function attempt(fn) {
  try {
    return {value: await fn()};
  } catch(error) {
    return {error: errorText(error), unreachable: error instanceof RpcError};
  }
}

function unread(detail, outcome) {
  return outcome.unreachable ? cannotCheck(DIGEST_NOT_REVOKED, detail) :
    failed(DIGEST_NOT_REVOKED, detail);
}

function revoked(issuer, record, where) {
  return failed(DIGEST_NOT_REVOKED, `revoked by ${issuer} at ${isoTime(record.revokedAt)},` +
    ` ${reasonText(record.reason)} (${where})`);
}

/** The detail of a bundle whose anchor.contractVersion is not the contract's. */
export function versionMismatch(contract, claimed, version) {
  return `the bundle says its root was anchored in a version-${claimed} ` +
    `MicroCredentialLedger; version() of ${contract} returns ${version}: the bundle does not ` +
    'describe this contract';
}

/** digest.notRevoked of `bundle`'s digest, revoked by `issuer` on `contract`. */
export async function checkNotRevoked(bundle, chain, contract, issuer) {
  const digest = bundle.digest;
  const claimed = bundle.anchor.contractVersion;
  if(claimed !== null) {  // the bundle says which interface it was written for: check it
    const version = await attempt(() => chain.version(contract));
    if(version.error !== undefined) {
      return unread(`cannot read version(): ${version.error}`, version);
    }
    if(version.value !== claimed) {
      return failed(DIGEST_NOT_REVOKED, versionMismatch(contract, claimed, version.value));
    }
  }
  const revokedAt = await attempt(() => chain.revokedAt(contract, issuer, digest));
  if(revokedAt.error !== undefined) {
    return unread(`cannot read revokedAt: ${revokedAt.error}`, revokedAt);
  }
  if(revokedAt.value !== 0) {
    const why = await attempt(() => chain.revocationOf(contract, issuer, digest));
    const reason = why.error !== undefined ?
      `reason unreadable: ${why.error}` : reasonText(why.value[1]);
    return failed(DIGEST_NOT_REVOKED,
      `revoked by ${issuer} at ${isoTime(revokedAt.value)}, ${reason}`);
  }
  const member = bundle.revocation;
  if(member === null && claimed === null) {  // a claimed version is 2 or more: it has a set
    const version = await attempt(() => chain.version(contract));
    if(version.error !== undefined) {
      return unread(`cannot read version(): ${version.error}`, version);
    }
    if(version.value < COMMITMENT_VERSION) {
      return passed(DIGEST_NOT_REVOKED, `not revoked by ${issuer}`);
    }
  }
  const current = await attempt(() => chain.revocationRootOf(contract, issuer));
  if(current.error !== undefined) {
    return unread(`cannot read revocationRootOf: ${current.error}`, current);
  }
  return againstSet(digest, chain, contract, issuer, member, current.value);
}

async function againstSet(digest, chain, contract, issuer, member, current) {
  const now = `root ${hexOf(current.root)}, ${current.size} entries`;
  let base = EMPTY, baseRecord = null;
  if(member !== null) {
    let verdict;
    try {
      verdict = await verifyRevocationProof(member.root, digest, member.proof);
    } catch(error) {
      if(error instanceof InvalidRevocationProofError || error instanceof RevocationSetError) {
        return failed(DIGEST_NOT_REVOKED, `the bundle's revocation proof: ${error.message}`);
      }
      throw error;
    }
    [base, baseRecord] = [member.root, verdict.record];
    if(equalBytes(member.root, current.root)) {
      if(member.size !== current.size) {
        return failed(DIGEST_NOT_REVOKED, `the bundle says the set at root ` +
          `${hexOf(current.root)} has ${member.size} entries, the contract ${current.size}`);
      }
      if(verdict.record !== null) {
        return revoked(issuer, verdict.record, `in its revocation set, ${now}`);
      }
      return passed(DIGEST_NOT_REVOKED, `not revoked by ${issuer}: outside its revocation set` +
        ` (${now}, committed at ${isoTime(current.updatedAt)})`);
    }
  } else if(equalBytes(current.root, EMPTY)) {
    return passed(DIGEST_NOT_REVOKED, `not revoked by ${issuer}: it has committed no revocation`);
  }
  let since;
  try {
    since = await walkCommitments(chain, contract, issuer, current, base);
  } catch(error) {
    if(error instanceof StaleProofError) {
      const held = member !== null ?
        `the bundle's revocation proof is for root ${hexOf(base)}` :
        'the bundle has no revocation proof';
      return cannotCheck(DIGEST_NOT_REVOKED, `${held}; the contract holds ${now} and ` +
        `${error.message}: get a fresh proof bundle (GET /v1/proofs/{digest} on the ` +
        'issuer\'s node, or mcledger prove)');
    }
    return unread(`cannot read RevocationsCommitted: ${errorText(error)}`,
      {unreachable: error instanceof RpcError});
  }
  if(baseRecord !== null) {  // a set only grows: revoked then, revoked now
    return revoked(issuer, baseRecord, `in its revocation set at root ${hexOf(base)}`);
  }
  const wanted = hexOf(digest);
  for(const event of [...since].reverse()) {  // oldest first: a digest's first record stands
    if(event.digests.includes(wanted)) {
      return revoked(issuer, event, `committed in block ${event.blockNumber}, ` +
        `transaction ${event.transactionHash}`);
    }
  }
  const start = member !== null ?
    `outside its revocation set at root ${hexOf(base)} and in none of the ` +
      `${since.length} commitments since` :
    `in none of its ${since.length} revocation commitments`;
  return passed(DIGEST_NOT_REVOKED, `not revoked by ${issuer}: ${start} (${now})`);
}

/** The issuer's commitments from its current root back to `base`, newest first. */
async function walkCommitments(chain, contract, issuer, current, base) {
  const found = [];
  let [root, block] = [current.root, current.updatedBlock];
  while(!equalBytes(root, base)) {
    if(found.length === MAX_WALK) {
      throw new StaleProofError(`more than ${MAX_WALK} commitments were made since`);
    }
    if(equalBytes(root, EMPTY)) {
      throw new StaleProofError(`root ${hexOf(base)} is not one of its commitments`);
    }
    const matching = (await chain.revocationCommitments(contract, issuer, block))
      .filter(e => equalBytes(e.newRoot, root));
    if(matching.length !== 1) {
      throw new StaleProofError(`block ${block} holds ${matching.length} RevocationsCommitted` +
        ` events to root ${hexOf(root)}, not 1`);
    }
    found.push(matching[0]);
    [root, block] = [matching[0].previousRoot, matching[0].previousBlock];
  }
  return found;
}
