// The revocation set's proofs (mcledger-revocation-proof/1), read as strictly as
// anchoring/revocation_proof.py reads them and verified with WebCrypto's SHA-256: a leaf is
// SHA-256(0x02 ‖ digest ‖ reason ‖ revokedAt), a node SHA-256(0x03 ‖ left ‖ right), an
// empty subtree 32 zero bytes (docs/formats.md "The revocation set").

import {concatBytes, equalBytes, hexOf, pyRepr, sha256} from './util.js';

export const PROOF_VERSION = 'mcledger-revocation-proof/1';
export const EMPTY = new Uint8Array(32);
const MAX_TIME = (1n << 64n) - 1n;

/** A malformed proof (RevocationSetError); the message names the field. */
export class RevocationSetError extends Error {}

/** A well-formed proof that does not lead to the root (InvalidRevocationProofError). */
export class InvalidRevocationProofError extends RevocationSetError {}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function exact(data, names, what) {
  if(!isObject(data)) {
    throw new RevocationSetError(`${what} must be a JSON object`);
  }
  const missing = names.filter(n => !Object.hasOwn(data, n));
  const unknown = Object.keys(data).filter(k => !names.includes(k)).sort();
  if(missing.length || unknown.length) {
    throw new RevocationSetError(
      `${what}: missing fields ${pyRepr(missing)}, unknown fields ${pyRepr(unknown)}`);
  }
  return data;
}

function checkInt(value, what, low, high) {
  if(typeof value !== 'number' || !Number.isInteger(value) ||
    BigInt(value) < low || BigInt(value) > high) {
    throw new RevocationSetError(
      `${what} must be an integer in [${low}, ${high}], got ${pyRepr(value)}`);
  }
  return value;
}

function hex(value, what, size) {
  if(typeof value !== 'string' || value.length !== 2 * size || value !== value.toLowerCase()) {
    throw new RevocationSetError(`${what} must be ${2 * size} lower-case hex characters`);
  }
  if(/[^0-9a-f]/.test(value)) {
    throw new RevocationSetError(`${what} is not hex: ${pyRepr(value)}`);
  }
  return Uint8Array.from(value.match(/../g) || [], b => parseInt(b, 16));
}

function bitsOf(bytes) {
  return bytes.length ? BigInt('0x' + hexOf(bytes)) : 0n;
}

/** The proof as {depth, bitmap, siblings, leaf: {digest, reason, revokedAt} | null}. */
export function parseRevocationProof(data) {
  const d = exact(data, ['version', 'depth', 'bitmap', 'siblings', 'leaf'], 'revocation proof');
  if(d.version !== PROOF_VERSION) {
    throw new RevocationSetError(`revocation proof version must be ${pyRepr(PROOF_VERSION)}`);
  }
  if(!Array.isArray(d.siblings)) {
    throw new RevocationSetError('siblings must be a list of 64-hex hashes');
  }
  let leaf = null;
  if(d.leaf !== null) {
    const body = exact(d.leaf, ['digest', 'reason', 'revokedAt'], 'revocation proof leaf');
    const digest = hex(body.digest, 'leaf.digest', 32);
    leaf = {
      digest,
      reason: checkInt(body.reason, 'reason', 0n, 5n),
      revokedAt: checkInt(body.revokedAt, 'revokedAt', 1n, MAX_TIME),
    };
  }
  const depth = checkInt(d.depth, 'depth', 0n, 256n);
  const bitmap = hex(d.bitmap, 'bitmap', Math.ceil(depth / 8));
  const siblings = d.siblings.map((s, i) => hex(s, `siblings[${i}]`, 32));
  const bits = bitsOf(bitmap);
  const spare = BigInt(8 * bitmap.length - depth);
  if(bits & ((1n << spare) - 1n)) {
    throw new RevocationSetError('bitmap has bits set beyond the proof\'s depth');
  }
  const named = [...bits.toString(2)].filter(b => b === '1').length;
  if(siblings.length !== named) {
    throw new RevocationSetError(
      `the bitmap names ${named} siblings, the proof has ${siblings.length}`);
  }
  siblings.forEach((sibling, i) => {
    if(equalBytes(sibling, EMPTY)) {
      throw new RevocationSetError(`siblings[${i}] must be a non-zero 32-byte hash`);
    }
  });
  if(depth && !(bits & (1n << spare))) {
    throw new RevocationSetError('the sibling at the proof\'s depth must be non-empty');
  }
  if(leaf !== null && equalBytes(leaf.digest, EMPTY)) {
    throw new RevocationSetError('leaf.digest is zero: no credential has that digest');
  }
  return {depth, bitmap, siblings, leaf};
}

function bitOf(key, depth) {
  return (key[depth >> 3] >> (7 - (depth & 7))) & 1;
}

function onPath(a, b, depth) {
  for(let i = 0; i < depth; ++i) {
    if(bitOf(a, i) !== bitOf(b, i)) {
      return false;
    }
  }
  return true;
}

function packedRecord(leaf) {
  const out = new Uint8Array(9);
  out[0] = leaf.reason;
  let at = BigInt(leaf.revokedAt);
  for(let i = 8; i >= 1; --i) {
    out[i] = Number(at & 0xffn);
    at >>= 8n;
  }
  return out;
}

/** {member, record} when `proof` leads from `digest` to `root`; throws saying why not. */
export async function verifyRevocationProof(root, digest, proof) {
  if(equalBytes(digest, EMPTY)) {
    throw new RevocationSetError('digest is zero: no credential has that digest');
  }
  const {depth, leaf} = proof;
  let node = EMPTY;
  if(leaf !== null) {
    if(!onPath(leaf.digest, digest, depth)) {
      throw new InvalidRevocationProofError(`the proof ends at entry ${hexOf(leaf.digest)},` +
        ` which is not on the path of ${hexOf(digest)} at depth ${depth}`);
    }
    node = await sha256(concatBytes(Uint8Array.of(2), leaf.digest, packedRecord(leaf)));
  }
  const bits = bitsOf(proof.bitmap);
  const top = 8 * proof.bitmap.length - 1;
  const siblings = [];
  let next = 0;
  for(let i = 0; i < depth; ++i) {
    siblings.push((bits >> BigInt(top - i)) & 1n ? proof.siblings[next++] : EMPTY);
  }
  for(let level = depth; level > 0; --level) {
    const sibling = siblings[level - 1];
    node = await sha256(bitOf(digest, level - 1) ?
      concatBytes(Uint8Array.of(3), sibling, node) : concatBytes(Uint8Array.of(3), node, sibling));
  }
  if(!equalBytes(node, root)) {
    throw new InvalidRevocationProofError(`the revocation proof for ${hexOf(digest)} leads to` +
      ` root ${hexOf(node)}, not to the committed root ${hexOf(root)}`);
  }
  if(leaf !== null && equalBytes(leaf.digest, digest)) {
    return {member: true, record: {reason: leaf.reason, revokedAt: leaf.revokedAt}};
  }
  return {member: false, record: null};
}
