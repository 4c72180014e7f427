// Ed25519 keys as Multikey and did:key (did:key method v0.7), as
// node/credentials/multikey.py reads them: base58-btc with the multibase prefix `z`, the
// multicodec prefix 0xed 0x01 before the 32 key bytes.

import {pyRepr} from './util.js';

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const DID_KEY_PREFIX = 'did:key:';

export function base58Decode(text) {
  let number = 0n;
  for(const char of text) {
    const digit = ALPHABET.indexOf(char);
    if(digit < 0) {
      throw new Error(`${pyRepr(char)} is not a base58-btc character`);
    }
    number = number * 58n + BigInt(digit);
  }
  const bytes = [];
  while(number > 0n) {
    bytes.unshift(Number(number & 0xffn));
    number >>= 8n;
  }
  const zeros = text.length - text.replace(/^1+/, '').length;
  return Uint8Array.from([...new Array(zeros).fill(0), ...bytes]);
}

/** The raw 32-byte key of an Ed25519 publicKeyMultibase (z6Mk…). */
export function publicKeyFromMultibase(text) {
  if(typeof text !== 'string' || !text.startsWith('z')) {
    throw new Error('expected a multibase base58-btc string starting with \'z\'');
  }
  const data = base58Decode(text.slice(1));
  if(data.length !== 34 || data[0] !== 0xed || data[1] !== 0x01) {
    throw new Error(`${pyRepr(text)} is not an Ed25519 Multikey (z6Mk…, 34 bytes decoded)`);
  }
  return data.slice(2);
}

/** The raw Ed25519 public key a did:key DID (or its verification method URL) names. */
export function resolveDidKey(didUrl) {
  if(typeof didUrl !== 'string' || !didUrl.startsWith(DID_KEY_PREFIX)) {
    throw new Error(`${pyRepr(didUrl)} is not a did:key identifier`);
  }
  const [did, ...rest] = didUrl.split('#');
  const fragment = rest.join('#');
  const encoded = did.slice(DID_KEY_PREFIX.length);
  if(fragment && fragment !== encoded) {
    throw new Error(`${pyRepr(didUrl)}: the fragment must repeat the key (${encoded})`);
  }
  return publicKeyFromMultibase(encoded);
}
