// The proof bundle, public format mcledger-proof/1, read as strictly as
// anchoring/bundle.py reads it (same refusals, same words): a verifier never acts on a
// bundle it half understood.

import {EMPTY, RevocationSetError, parseRevocationProof} from './revocationproof.js';
import {bytesOfHex, checksumAddress, equalBytes, pyRepr} from './util.js';

export const BUNDLE_VERSION = 'mcledger-proof/1';
const PROOF_FIELDS = ['leafIndex', 'treeSize', 'auditPath', 'root'];
const HEX64 = /^[0-9a-f]{64}$/;
const TX32 = /^0x[0-9a-f]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$/;
const MAX_SIZE = 1n << 64n;
const FIRST_RECORDED_VERSION = 2;  // anchor.contractVersion: absent for version 1
const MAX_CONTRACT_VERSION = 65535;  // version() returns a uint16

export class BundleError extends Error {}

function require(condition, field, expected) {
  if(!condition) {
    throw new BundleError(`proof bundle field ${pyRepr(field)}: expected ${expected}`);
  }
}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isInt(value) {
  return typeof value === 'number' && Number.isInteger(value);
}

function int(value, field, minimum = 0) {
  require(isInt(value) && value >= minimum, field, `an integer >= ${minimum}`);
  return value;
}

function address(value, field) {
  require(typeof value === 'string' && ADDRESS.test(value), field, '0x + 40 hex');
  if(value !== value.toLowerCase() && checksumAddress(value) !== value) {
    throw new BundleError(`proof bundle field ${pyRepr(field)}: bad EIP-55 checksum`);
  }
  return value.toLowerCase();
}

function parseTime(value, field) {
  require(typeof value === 'string' && TIME.test(value), field, 'YYYY-MM-DDTHH:MM:SSZ (UTC)');
  const moment = Date.parse(value);
  const back = Number.isFinite(moment) ?
    new Date(moment).toISOString().replace(/\.\d{3}Z$/, 'Z') : null;
  if(back !== value) {
    throw new BundleError(`proof bundle field ${pyRepr(field)}: not a time: ${pyRepr(value)}`);
  }
  return Math.floor(moment / 1000);
}

function exactKeys(data, names, where, optional = []) {
  const missing = names.filter(n => !Object.hasOwn(data, n));
  const unknown = Object.keys(data)
    .filter(k => !names.includes(k) && !optional.includes(k)).sort();
  if(missing.length) {
    throw new BundleError(`${where} is missing ${missing.join(', ')}`);
  }
  if(unknown.length) {
    throw new BundleError(`${where} has unknown fields: ${unknown.join(', ')}`);
  }
}

// anchoring/merkle.py's proof checks, whose messages the bundle reader prefixes.
function size(value, what) {
  if(!isInt(value) || value < 0 || BigInt(value) >= MAX_SIZE) {
    throw new BundleError(
      `proof bundle: ${what} must be an integer in [0, 2**64), got ${pyRepr(value)}`);
  }
  return BigInt(value);
}

function hashFromHex(text, what) {
  const fail = message => {
    throw new BundleError(`proof bundle: ${message}`);
  };
  if(typeof text !== 'string') {
    const kind = text === null ? 'NoneType' : Array.isArray(text) ? 'list' :
      {number: isInt(text) ? 'int' : 'float', boolean: 'bool', object: 'dict'}[typeof text];
    fail(`${what} must be a string of 64 hex characters, got ${kind}`);
  }
  if(text.length !== 64) {
    fail(`${what} must be 64 hex characters, got ${text.length}`);
  }
  if(text !== text.toLowerCase()) {
    fail(`${what} must be lowercase hex`);
  }
  if(!HEX64.test(text)) {
    fail(`${what} is not hex: ${pyRepr(text)}`);
  }
  return bytesOfHex(text);
}

function inclusionProof(data) {
  const leafIndex = size(data.leafIndex, 'leafIndex');
  const treeSize = size(data.treeSize, 'treeSize');
  if(!Array.isArray(data.auditPath)) {
    throw new BundleError('proof bundle: auditPath must be a list of hex hashes');
  }
  const auditPath = data.auditPath.map((item, i) => hashFromHex(item, `auditPath[${i}]`));
  const root = hashFromHex(data.root, 'root');
  if(leafIndex >= treeSize) {
    throw new BundleError(
      `proof bundle: leafIndex ${leafIndex} must be below treeSize ${treeSize}`);
  }
  return {leafIndex, treeSize, auditPath, root};
}

export const LEDGER_TARGET = 'ledger';
export const EBSI_TIMESTAMP_TARGET = 'ebsi-timestamp';

function anchorInfo(data) {
  require(isObject(data), 'anchor', 'an object');
  const names = ['chainId', 'contract', 'transactionHash', 'blockNumber', 'blockHash',
    'anchoredAt', 'issuer'];
  const hasTarget = Object.hasOwn(data, 'target');
  require(!hasTarget || data.target === EBSI_TIMESTAMP_TARGET, 'anchor.target',
    `${pyRepr(EBSI_TIMESTAMP_TARGET)}, or no target (the MicroCredentialLedger)`);
  const hasVersion = Object.hasOwn(data, 'contractVersion');
  if(hasTarget) {
    exactKeys(data, [...names, 'target', 'hashAlgorithmId'], 'anchor',
      ['ledger', 'contractVersion']);
    require(!hasVersion || (data.ledger ?? null) !== null, 'anchor.contractVersion',
      'no contractVersion without anchor.ledger (the version is the ledger\'s)');
  } else {
    exactKeys(data, names, 'anchor', ['contractVersion']);
  }
  for(const key of ['transactionHash', 'blockHash']) {
    require(TX32.test(String(data[key])), `anchor.${key}`, '0x + 64 lower-case hex');
  }
  let contractVersion = null;
  if(hasVersion) {
    contractVersion = int(data.contractVersion, 'anchor.contractVersion',
      FIRST_RECORDED_VERSION);
    require(contractVersion <= MAX_CONTRACT_VERSION, 'anchor.contractVersion', 'at most 65535');
  }
  return {
    chainId: int(data.chainId, 'anchor.chainId', 1),
    contract: address(data.contract, 'anchor.contract'),
    transactionHash: data.transactionHash,
    blockNumber: int(data.blockNumber, 'anchor.blockNumber'),
    blockHash: data.blockHash,
    anchoredAt: parseTime(data.anchoredAt, 'anchor.anchoredAt'),
    anchoredAtText: data.anchoredAt,
    issuer: address(data.issuer, 'anchor.issuer'),
    target: hasTarget ? EBSI_TIMESTAMP_TARGET : LEDGER_TARGET,
    hashAlgorithmId: hasTarget ? int(data.hashAlgorithmId, 'anchor.hashAlgorithmId') : null,
    ledger: hasTarget && Object.hasOwn(data, 'ledger') && data.ledger !== null ?
      address(data.ledger, 'anchor.ledger') : null,
    contractVersion,  // version() of the ledger, as the node read it; null: 1 or unrecorded
  };
}

/** The optional `revocation` member: the digest's proof in its issuer's committed set. */
function revocationMember(data) {
  require(isObject(data), 'revocation', 'an object');
  exactKeys(data, ['root', 'size', 'transactionHash', 'blockNumber', 'proof'], 'revocation');
  require(typeof data.root === 'string' && HEX64.test(data.root), 'revocation.root',
    '64 lower-case hex');
  const size = int(data.size, 'revocation.size');
  require(BigInt(size) < MAX_SIZE, 'revocation.size', 'an integer below 2**64');
  const tx = data.transactionHash;
  require(tx === null || (typeof tx === 'string' && TX32.test(tx)),
    'revocation.transactionHash', '0x + 64 lower-case hex, or null');
  const block = data.blockNumber === null ? null : int(data.blockNumber, 'revocation.blockNumber');
  let proof;
  try {
    proof = parseRevocationProof(data.proof);
  } catch(error) {
    if(error instanceof RevocationSetError) {
      throw new BundleError(`revocation.proof: ${error.message}`);
    }
    throw error;
  }
  const root = bytesOfHex(data.root);
  const empty = equalBytes(root, EMPTY);
  if((size === 0) !== empty || (tx === null) !== empty) {
    throw new BundleError(
      'revocation: root zero, size 0 and no transaction go together (the empty set)');
  }
  if((block === null) !== (tx === null)) {
    throw new BundleError('revocation: transactionHash and blockNumber go together');
  }
  return {root, size: BigInt(size), transactionHash: tx, blockNumber: block, proof};
}

/** The bundle as {digest, proof, anchor, credentialId, revocation}; BundleError naming the
 * field. */
export function parseBundle(data) {
  require(isObject(data), '(bundle)', 'a JSON object');
  exactKeys(data, ['version', 'digest', ...PROOF_FIELDS, 'anchor'], 'proof bundle',
    ['credentialId', 'revocation']);
  require(data.version === BUNDLE_VERSION, 'version', pyRepr(BUNDLE_VERSION));
  require(typeof data.digest === 'string' && HEX64.test(data.digest), 'digest',
    '64 lower-case hex');
  const credentialId = data.credentialId ?? null;
  require(credentialId === null || typeof credentialId === 'string', 'credentialId',
    'a string');
  const proof = inclusionProof(data);
  const anchor = anchorInfo(data.anchor);
  return {
    digest: bytesOfHex(data.digest),
    proof,
    anchor,
    credentialId,
    revocation: Object.hasOwn(data, 'revocation') ? revocationMember(data.revocation) : null,
  };
}
