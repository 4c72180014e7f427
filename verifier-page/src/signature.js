// credential.signature: the Data Integrity eddsa-rdfc-2022 proof (W3C Data Integrity EdDSA
// Cryptosuites v1.0, 3.3.2), checked by Digital Bazaar's data-integrity and
// eddsa-rdfc-2022 libraries with the key its did:key names. Before them, the refusals of
// node/credentials/dataintegrity.py, in its order and words, so the page names a bad
// proof as `mcledger verify` does.

import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import jsigs from 'jsonld-signatures';

import {DID_WEB_PREFIX, DidUnreachableError} from './didweb.js';
import {canonicalize, checkContexts, documentLoader} from './jsonld.js';
import {base58Decode} from './multikey.js';
import {errorText, pyRepr} from './util.js';

export const ANCHOR_PROPERTY = 'anchorProof';
const PROOF_TYPE = 'DataIntegrityProof';
const CRYPTOSUITE = 'eddsa-rdfc-2022';
const PROOF_PURPOSE = 'assertionMethod';
// XML Schema 1.1 dateTime, as Data Integrity requires for `created` and `expires`.
const DATETIME = new RegExp(
  '^-?\\d{4,}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])T([01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d' +
  '(\\.\\d+)?(Z|[+-]((0\\d|1[0-3]):[0-5]\\d|14:00))?$');

class Refusal extends Error {}

/** Whether an XML Schema dateTime lies in the past (no zone = UTC); unparsable = no. */
export function isPast(timestamp) {
  const zoned = /(Z|[+-]\d\d:\d\d)$/.test(timestamp) ? timestamp : `${timestamp}Z`;
  const moment = Date.parse(zoned);
  return Number.isFinite(moment) && moment < Date.now();
}

function proofConfiguration(unsecured, options) {
  if(options.type !== PROOF_TYPE || options.cryptosuite !== CRYPTOSUITE) {
    throw new Refusal(`proof: type must be ${PROOF_TYPE}, cryptosuite ${CRYPTOSUITE}`);
  }
  for(const name of ['created', 'expires']) {
    const value = options[name];
    if(value !== undefined && value !== null &&
      !(typeof value === 'string' && DATETIME.test(value))) {
      throw new Refusal(`proof.${name}: ${pyRepr(value)} is not an XML Schema dateTime`);
    }
  }
  return {...structuredClone(options), '@context': structuredClone(unsecured['@context'])};
}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** {ok, detail, method, unreachable}: the proof's verdict, as verify_credential gives it,
 * with the key `resolver` (didweb.js didResolver) finds; `unreachable` when the signer's
 * DID document could not be fetched. */
export async function verifyProof(credential, resolver) {
  const proof = credential.proof;
  if(Array.isArray(proof)) {
    return {ok: false, detail: 'proof: proof sets and chains are not supported'};
  }
  if(!isObject(proof)) {
    return {ok: false, detail: 'proof: missing or not an object'};
  }
  const method = proof.verificationMethod;
  if(typeof method !== 'string') {
    return {ok: false, detail: 'proof.verificationMethod: missing'};
  }
  const fail = detail => ({ok: false, detail, method});
  if(proof.proofPurpose !== PROOF_PURPOSE) {
    return fail(`proof.proofPurpose: must be ${PROOF_PURPOSE}`);
  }
  if(typeof proof.proofValue !== 'string') {
    return fail('proof.proofValue: missing');
  }
  const expires = proof.expires;
  if(typeof expires === 'string' && DATETIME.test(expires) && isPast(expires)) {
    return fail(`proof.expires: the proof expired at ${expires}`);
  }
  let unsecured, config;
  try {
    checkContexts(credential);
    unsecured = Object.fromEntries(Object.entries(credential)
      .filter(([k]) => k !== 'proof' && k !== ANCHOR_PROPERTY));
    const {proofValue: _, ...options} = proof;
    if('@context' in options) {
      // A proof that names its own contexts must name a prefix of the document's.
      const own = Array.isArray(options['@context']) ?
        options['@context'] : [options['@context']];
      const prefix = unsecured['@context'].slice(0, own.length);
      if(JSON.stringify(prefix) !== JSON.stringify(own)) {
        return fail('proof.@context: does not match the start of the document\'s');
      }
      unsecured['@context'] = own;
      delete options['@context'];
    }
    config = proofConfiguration(unsecured, options);
  } catch(error) {
    return fail(errorText(error));
  }
  let signature;
  try {
    if(!proof.proofValue.startsWith('z')) {
      throw new Error('expected a multibase base58-btc string starting with \'z\'');
    }
    signature = base58Decode(proof.proofValue.slice(1));
  } catch(error) {
    return fail(`proof.proofValue: ${errorText(error)}`);
  }
  if(signature.length !== 64) {
    return fail('proof.proofValue: not a 64-byte Ed25519 signature');
  }
  let resolved;
  try {
    resolved = await resolver.resolve(method);
  } catch(error) {
    return {...fail(`proof.verificationMethod: ${errorText(error)}`),
      unreachable: error instanceof DidUnreachableError};
  }
  const secured = {...credential};
  delete secured[ANCHOR_PROPERTY];
  const result = await jsigs.verify(secured, {
    suite: new DataIntegrityProof({cryptosuite}),
    purpose: new jsigs.purposes.AssertionProofPurpose(),
    documentLoader: url => loadWithDid(url, resolved),
  });
  if(result.verified) {
    return {ok: true, detail: 'signature valid (eddsa-rdfc-2022)', method};
  }
  // Say why as the CLI does: a document that does not canonicalize, else a bad signature.
  try {
    await canonicalize(config);
    await canonicalize(unsecured);
  } catch(error) {
    return fail(errorText(error));
  }
  const reason = libraryError(result);
  return fail(/invalid signature/i.test(reason) ?
    'proof.proofValue: the signature does not match' : `proof: ${reason}`);
}

/** The document loader, with the did:web documents resolved for this proof. */
async function loadWithDid(url, resolved) {
  if(url.startsWith(DID_WEB_PREFIX) && resolved.did) {
    if(url === resolved.method) {
      return {contextUrl: null, documentUrl: url, document: structuredClone(resolved.methodDocument)};
    }
    if(url === resolved.did) {
      return {contextUrl: null, documentUrl: url,
        document: structuredClone(resolved.controllerDocument)};
    }
  }
  return documentLoader(url);
}

function libraryError(result) {
  const errors = [];
  for(const entry of result.results || []) {
    if(entry.error) {
      errors.push(entry.error);
    }
  }
  if(result.error) {
    errors.push(...(result.error.errors || [result.error]));
  }
  return errors.map(errorText).join('; ') || 'not verified';
}
