// JSON-LD processing with the local contexts only (Digital Bazaar's jsonld.js and
// rdf-canonize): RDFC-1.0 canonical N-Quads in safe mode, so a property no context
// defines (which would go unsigned) is refused, as the node refuses it.

import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import jsonld from 'jsonld';

import {CONTEXTS, isKnownContext, VC_V2_CONTEXT} from './contexts.js';
import {pyRepr} from './util.js';

const DID_CONTEXT = 'https://www.w3.org/ns/did/v1';
const MULTIKEY_CONTEXT = 'https://w3id.org/security/multikey/v1';
const DID_KEY_PREFIX = 'did:key:';

export class UnknownContextError extends Error {
  constructor(url) {
    super(`unknown JSON-LD context ${pyRepr(url)}: only locally installed contexts are ` +
      'used, never fetched; use the standard contexts or the node\'s own');
  }
}

/** did:key (Ed25519 only): the DID document or verification method the identifier holds. */
export async function didKeyDocument(url) {
  const [did, fragment] = url.split('#');
  const multibase = did.slice(DID_KEY_PREFIX.length);
  if(!multibase.startsWith('z6Mk') || (fragment !== undefined && fragment !== multibase)) {
    throw new Error(`not an Ed25519 did:key: ${url}`);
  }
  const key = await Ed25519Multikey.from({
    id: `${did}#${multibase}`, controller: did, publicKeyMultibase: multibase,
  });
  const method = await key.export({publicKey: true, includeContext: true});
  if(fragment !== undefined) {
    return method;
  }
  const {'@context': _, ...bare} = method;
  return {
    '@context': [DID_CONTEXT, MULTIKEY_CONTEXT],
    id: did,
    verificationMethod: [bare],
    assertionMethod: [bare.id],
    authentication: [bare.id],
  };
}

/** The document loader: the bundled contexts and did:key identifiers; nothing else. */
export async function documentLoader(url) {
  if(isKnownContext(url)) {
    return {contextUrl: null, documentUrl: url, document: structuredClone(CONTEXTS[url])};
  }
  if(url.startsWith(DID_KEY_PREFIX)) {
    return {contextUrl: null, documentUrl: url, document: await didKeyDocument(url)};
  }
  throw new UnknownContextError(url);
}

export class ContextCheckError extends Error {}

/** The credential's @context, as node/credentials/loader.py check_contexts accepts it. */
export function checkContexts(document) {
  const contexts = document['@context'];
  if(!Array.isArray(contexts) || !contexts.length) {
    throw new ContextCheckError(
      `@context: must be a list starting with ${pyRepr(VC_V2_CONTEXT)}`);
  }
  if(contexts[0] !== VC_V2_CONTEXT) {
    throw new ContextCheckError(`@context[0]: must be ${pyRepr(VC_V2_CONTEXT)}`);
  }
  contexts.forEach((context, position) => {
    if(typeof context === 'string') {
      if(!isKnownContext(context)) {
        throw new ContextCheckError(
          `@context[${position}]: ${new UnknownContextError(context).message}`);
      }
    } else if(context === null || typeof context !== 'object' || Array.isArray(context)) {
      throw new ContextCheckError(`@context[${position}]: must be a URL or a context object`);
    }
  });
}

export class CanonicalizationError extends Error {}

function rootCause(error) {
  let seen = error;
  while(seen && seen.details && seen.details.cause) {
    seen = seen.details.cause;
  }
  return seen;
}

/** RDFC-1.0 canonical N-Quads of a JSON-LD document, contexts from the bundle only. */
export async function canonicalize(document) {
  try {
    return await jsonld.canonize(document, {
      algorithm: 'RDFC-1.0',
      format: 'application/n-quads',
      documentLoader,
      safe: true,
      base: null,
    });
  } catch(error) {
    const cause = rootCause(error);
    if(cause instanceof UnknownContextError) {
      throw cause;
    }
    const event = error && error.details && error.details.event;
    if(event && event.code === 'invalid property') {
      const term = (event.details && event.details.property) || null;
      throw new CanonicalizationError(
        `property ${pyRepr(term)} is not defined by any context: it would not be ` +
        'signed; define it in a context or remove it');
    }
    const reason = event ? `${event.code}: ${event.message}` :
      (cause && cause.message) || error.message;
    throw new CanonicalizationError(`not valid JSON-LD: ${reason}`);
  }
}
