// A micro-credential (the learner's copy: the signed credential with its proof bundle as
// `anchorProof`) checked as node/verifier/credential.py checks it: signature, issuer,
// digest, id, the bundle's chain checks, issuer.did, one status check per entry, and the
// stack's components as a tree.

import {verifyBundle} from './bundle.js';
import {didResolver} from './didweb.js';
import {EBSI_TIMESTAMP_TARGET, parseBundle} from './bundleformat.js';
import {canonicalize, checkContexts} from './jsonld.js';
import {
  CHECK_NAMES, COMPONENT_DIGEST, COMPONENT_PROVIDED, CREDENTIAL_DIGEST, CREDENTIAL_ID,
  CREDENTIAL_ISSUER, CREDENTIAL_SIGNATURE, ISSUER_DID, STATUS_COMMITTED,
} from './names.js';
import {cannotCheck, failed, passed, unparsableBundleReport} from './report.js';
import {RpcError} from './rpc.js';
import {ANCHOR_PROPERTY, verifyProof} from './signature.js';
import {statusChecks} from './status.js';
import {committedChecks, listedUrls} from './statuscommit.js';
import {timestampDid} from './timestamped.js';
import {checksumAddress, errorText, hexOf, pyRepr, sha256, utf8} from './util.js';

const COMMITMENT_VERSION = 2;

export const NOT_ANCHORED = `not anchored yet: no ${ANCHOR_PROPERTY}`;

/** The report tree of `document` and the component copies in `pool` it lists. */
export async function verifyCredentialFile(document, chainFor, pool, fetchJson) {
  const once = fetchingOnce(fetchJson);  // a list fetched for its bits is the one hashed
  const net = {fetchJson: once, resolver: didResolver(once)};
  return (await verify(document, chainFor, pool, [], net)).report;
}

function fetchingOnce(fetchJson) {
  const seen = new Map();
  return url => {
    if(!seen.has(url)) {
      seen.set(url, fetchJson(url));
    }
    return seen.get(url);
  };
}

/** status.committed for each list the credential names, where the ledger beside its
 * anchor takes commitments (node/verifier/credential.py `_committed_lists`). */
async function committedLists(document, chainFor, anchored, fetchJson) {
  const urls = listedUrls(document);
  if(!urls.length) {
    return [];
  }
  if(typeof anchored === 'string') {
    const make = anchored === NOT_ANCHORED ? cannotCheck : failed;
    return urls.map(() => make(STATUS_COMMITTED, anchored));
  }
  const {anchor} = anchored;
  const ledger = anchor.target === EBSI_TIMESTAMP_TARGET ? anchor.ledger : anchor.contract;
  if(ledger === null) {
    return [];
  }
  const contract = checksumAddress(ledger);
  const chain = chainFor(anchor.chainId);
  let version = COMMITMENT_VERSION;
  if(anchored.revocation === null) {
    try {
      version = await chain.version(contract);
    } catch(error) {
      const make = error instanceof RpcError ? cannotCheck : failed;
      return urls.map(() => make(STATUS_COMMITTED,
        `cannot read version(): ${errorText(error)}`));
    }
  }
  if(version < COMMITMENT_VERSION) {
    return [];
  }
  return committedChecks(urls, fetchJson, chain, contract, checksumAddress(anchor.issuer));
}

/** The credential's digest (SHA-256 of its RDFC-1.0 N-Quads without anchorProof), or why
 * it cannot be taken (a string). */
export async function credentialDigest(document) {
  try {
    if(!Object.hasOwn(document, 'proof')) {
      throw new Error('proof: the digest is taken over a signed credential');
    }
    checkContexts(document);
    const unanchored = {...document};
    delete unanchored[ANCHOR_PROPERTY];
    return await sha256(utf8(await canonicalize(unanchored)));
  } catch(error) {
    return errorText(error);
  }
}

function issuerDid(document) {
  let issuer = document.issuer;
  if(issuer && typeof issuer === 'object' && !Array.isArray(issuer)) {
    issuer = issuer.id;
  }
  return typeof issuer === 'string' ? issuer : null;
}

async function verify(document, chainFor, pool, path, net) {
  const credentialId = typeof document.id === 'string' ? document.id : null;
  const issuer = issuerDid(document);
  const [digest, signature] = await Promise.all([
    credentialDigest(document), checkSignature(document, net.resolver),
  ]);
  const checks = [signature, checkIssuer(document, issuer)];
  let anchorChecks, anchored = NOT_ANCHORED;
  if(!Object.hasOwn(document, ANCHOR_PROPERTY)) {
    const shown = digest instanceof Uint8Array ?
      ` (its digest is ${hexOf(digest)})` : ` (and no digest: ${digest})`;
    anchorChecks = Promise.resolve([
      cannotCheck(CREDENTIAL_DIGEST, NOT_ANCHORED + shown),
      cannotCheck(CREDENTIAL_ID, NOT_ANCHORED),
      ...[...CHECK_NAMES, ISSUER_DID].map(name => cannotCheck(name, NOT_ANCHORED)),
    ]);
  } else {
    let bundle = null, parseError = null;
    try {
      bundle = parseBundle(document[ANCHOR_PROPERTY]);
    } catch(error) {
      parseError = error;
    }
    if(bundle === null) {
      const skipped = `skipped: the ${ANCHOR_PROPERTY} did not parse`;
      anchored = skipped;
      anchorChecks = Promise.resolve([
        failed(CREDENTIAL_DIGEST, skipped),
        failed(CREDENTIAL_ID, skipped),
        ...unparsableBundleReport(`${ANCHOR_PROPERTY}: ${errorText(parseError)}`).checks,
        failed(ISSUER_DID, skipped),
      ]);
    } else {
      anchored = bundle;
      const chain = chainFor(bundle.anchor.chainId);
      anchorChecks = Promise.all([
        verifyBundle(bundle, chain), checkIssuerDid(chain, bundle, issuer),
      ]).then(([bundleChecks, did]) => [
        checkDigest(digest, bundle), checkId(credentialId, bundle), ...bundleChecks, did,
      ]);
    }
  }
  const [anchorResults, status, committed] = await Promise.all([
    anchorChecks, statusChecks(document, issuer, net.fetchJson, digest, net.resolver),
    committedLists(document, chainFor, anchored, net.fetchJson),
  ]);
  checks.push(...anchorResults, ...status, ...committed);
  const here = [...path, credentialId ?? ''];
  const components = await Promise.all(listedComponents(document)
    .map(entry => component(entry, chainFor, pool, here, net)));
  return {
    report: {kind: 'credential', id: credentialId, checks, components, document},
    digest,
  };
}

async function checkSignature(document, resolver) {
  let result;
  try {
    result = await verifyProof(document, resolver);
  } catch(error) {
    return failed(CREDENTIAL_SIGNATURE, `cannot verify: ${errorText(error)}`);
  }
  if(!result.ok) {
    return (result.unreachable ? cannotCheck : failed)(CREDENTIAL_SIGNATURE, result.detail);
  }
  return passed(CREDENTIAL_SIGNATURE, `${result.detail} by ${result.method}`);
}

function checkIssuer(document, issuer) {
  const proof = document.proof;
  const method = proof && typeof proof === 'object' && !Array.isArray(proof) ?
    proof.verificationMethod : undefined;
  if(typeof method !== 'string') {
    return failed(CREDENTIAL_ISSUER, 'the proof names no verificationMethod');
  }
  if(issuer === null) {
    return failed(CREDENTIAL_ISSUER, 'the credential names no issuer id');
  }
  const signer = method.split('#')[0];
  if(signer !== issuer) {
    return failed(CREDENTIAL_ISSUER,
      `signed by ${signer}, but the credential's issuer is ${issuer}`);
  }
  return passed(CREDENTIAL_ISSUER, `signed by the issuer, ${issuer}`);
}

function checkDigest(digest, bundle) {
  if(!(digest instanceof Uint8Array)) {
    return failed(CREDENTIAL_DIGEST, `cannot take the digest: ${digest}`);
  }
  if(hexOf(digest) !== hexOf(bundle.digest)) {
    return failed(CREDENTIAL_DIGEST, `the credential's digest is ${hexOf(digest)}, the ` +
      `${ANCHOR_PROPERTY} proves ${hexOf(bundle.digest)}`);
  }
  return passed(CREDENTIAL_DIGEST, `${hexOf(digest)}, as the ${ANCHOR_PROPERTY} proves`);
}

function checkId(credentialId, bundle) {
  if(bundle.credentialId === null) {
    return failed(CREDENTIAL_ID, `the ${ANCHOR_PROPERTY} names no credentialId`);
  }
  if(credentialId !== bundle.credentialId) {
    return failed(CREDENTIAL_ID, `the credential's id is ${credentialId ?? 'None'}, the ` +
      `${ANCHOR_PROPERTY} is for ${bundle.credentialId}`);
  }
  return passed(CREDENTIAL_ID, credentialId);
}

async function checkIssuerDid(chain, bundle, issuer) {
  const {anchor} = bundle;
  const address = anchor.issuer;
  if(issuer === null) {
    return failed(ISSUER_DID, 'the credential names no issuer id');
  }
  const declaredOnly = anchor.target === EBSI_TIMESTAMP_TARGET && anchor.ledger === null;
  let registered;
  try {
    registered = declaredOnly ? await declaredDid(chain, bundle) : await chain.registeredDid(
      anchor.ledger ?? anchor.contract, address, anchor.blockNumber);
  } catch(error) {
    const detail = `cannot read IssuerRegistered: ${errorText(error)}`;
    return error instanceof RpcError ?
      cannotCheck(ISSUER_DID, detail) : failed(ISSUER_DID, detail);
  }
  if(declaredOnly) {
    // No registry to read: the sender's own declaration, said as such.
    if(registered === null) {
      return failed(ISSUER_DID, `no timestamp of the root by ${address} names an issuer DID`);
    }
    if(registered !== issuer) {
      return failed(ISSUER_DID, `${address} declared ${registered} in the timestamp's data, ` +
        `the credential's issuer is ${issuer}`);
    }
    return passed(ISSUER_DID, `${address} declared ${issuer} in the timestamp's data (its ` +
      'own declaration; EBSI\'s Trusted Issuers Registry is not consulted)');
  }
  if(registered === null) {
    return failed(ISSUER_DID, `${address} was never registered on the contract`);
  }
  if(registered !== issuer) {
    return failed(ISSUER_DID,
      `${address} is registered as ${registered}, the credential's issuer is ${issuer}`);
  }
  return passed(ISSUER_DID, `${address} is registered as ${issuer}`);
}

/** The DID the root's timestamp declares, when its sender is the bundle's issuer. */
async function declaredDid(chain, bundle) {
  const record = await chain.getTimestamp(bundle.anchor.contract, bundle.proof.root);
  if(!record.exists || record.timestampedBy.toLowerCase() !== bundle.anchor.issuer.toLowerCase()) {
    return null;
  }
  return timestampDid(record);
}

function listedComponents(document) {
  let subjects = document.credentialSubject;
  if(!Array.isArray(subjects)) {
    subjects = [subjects];
  }
  return subjects.flatMap(subject => subject && typeof subject === 'object' &&
    Array.isArray(subject.components) ? subject.components : []);
}

async function component(entry, chainFor, pool, path, net) {
  const isEntry = entry && typeof entry === 'object' && !Array.isArray(entry);
  const componentId = isEntry ? entry.id : undefined;
  const listed = isEntry ? entry.digest : undefined;
  if(typeof componentId !== 'string' || typeof listed !== 'string') {
    return missing(null, `a malformed components entry: ${pyRepr(entry)}`);
  }
  if(path.includes(componentId)) {
    return missing(componentId, 'a cycle: the component lists a credential above it');
  }
  const copy = pool.find(doc => doc.id === componentId);
  if(copy === undefined) {
    return missing(componentId, 'component not provided (give its learner\'s copy)');
  }
  const {report, digest} = await verify(copy, chainFor, pool, path, net);
  let matches;
  if(!(digest instanceof Uint8Array)) {
    matches = failed(COMPONENT_DIGEST, `cannot take the digest: ${digest}`);
  } else if(hexOf(digest) !== listed) {
    matches = failed(COMPONENT_DIGEST,
      `the copy's digest is ${hexOf(digest)}, the stack lists ${listed}`);
  } else {
    matches = passed(COMPONENT_DIGEST, `${listed}, as the stack lists`);
  }
  const provided = passed(COMPONENT_PROVIDED, 'its learner\'s copy is given');
  return {...report, checks: [provided, matches, ...report.checks]};
}

function missing(componentId, why) {
  return {
    kind: 'credential',
    id: componentId,
    checks: [
      failed(COMPONENT_PROVIDED, why),
      failed(COMPONENT_DIGEST, 'skipped: no learner\'s copy to compare'),
    ],
    components: [],
    document: null,
  };
}
