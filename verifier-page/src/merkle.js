// RFC 6962 / RFC 9162 inclusion proofs with WebCrypto's SHA-256, as anchoring/merkle.py
// checks them: the path's length is checked against (index, size) before any hashing.

import {concatBytes, equalBytes, hexOf, sha256} from './util.js';

const LEAF_PREFIX = Uint8Array.of(0);
const NODE_PREFIX = Uint8Array.of(1);

function bitLength(n) {
  return n === 0n ? 0 : n.toString(2).length;
}

function bitCount(n) {
  return [...n.toString(2)].filter(bit => bit === '1').length;
}

/** (inner, border): how many path hashes lie below and on the tree's right border. */
export function inclusionPathLength(index, size) {
  const inner = bitLength(index ^ (size - 1n));
  return [inner, bitCount(index >> BigInt(inner))];
}

/** The root a path implies for one leaf's data (RFC 9162 2.1.3.2); throws saying why not. */
export async function rootFromInclusionPath(leafData, index, size, path) {
  if(!(index >= 0n && index < size)) {
    throw new Error(`leaf index ${index} is not below tree size ${size}`);
  }
  const [inner, border] = inclusionPathLength(index, size);
  if(path.length !== inner + border) {
    throw new Error(`audit path for leaf ${index} of ${size} must have ${inner + border}` +
      ` hashes, got ${path.length}`);
  }
  let root = await sha256(concatBytes(LEAF_PREFIX, leafData));
  for(let k = 0; k < path.length; ++k) {
    // Below `inner` the side is bit k of the index; on the right border, always left.
    const left = k < inner ? ((index >> BigInt(k)) & 1n) === 1n : true;
    root = await sha256(left ?
      concatBytes(NODE_PREFIX, path[k], root) : concatBytes(NODE_PREFIX, root, path[k]));
  }
  return root;
}

/** Throws unless `digest` is leaf `proof.leafIndex` of the tree with `proof.root`. */
export async function verifyInclusion(digest, proof) {
  const computed = await rootFromInclusionPath(
    digest, proof.leafIndex, proof.treeSize, proof.auditPath);
  if(!equalBytes(computed, proof.root)) {
    throw new Error(`inclusion proof for leaf ${proof.leafIndex} of ${proof.treeSize} does` +
      ` not verify: expected root ${hexOf(proof.root)}, computed ${hexOf(computed)}`);
  }
}
