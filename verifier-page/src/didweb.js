// The keys a proof names: did:key read from the identifier, did:web from the DID document
// its web server serves, as node/verifier/didweb.py resolves them and in its words.
// did:web:<host>[%3A<port>][:<path>…] is https://<host>[:<port>]/.well-known/did.json (or
// …/<path>/did.json); over http only for a loopback host (localhost, 127.0.0.0/8). The
// method must be a Multikey (Ed25519) controlled by the DID and listed under
// assertionMethod. A document that cannot be fetched makes the signature "cannot check".

import {FetchError} from './fetch.js';
import {publicKeyFromMultibase, resolveDidKey} from './multikey.js';

export const DID_WEB_PREFIX = 'did:web:';
const DID_KEY_PREFIX = 'did:key:';
export const DID_DOCUMENT_MAX_BYTES = 256 * 1024;
export const DID_ACCEPT = 'application/did+json, application/did+ld+json, application/json';
const DID_CONTEXT = 'https://www.w3.org/ns/did/v1';
const MULTIKEY_CONTEXT = 'https://w3id.org/security/multikey/v1';

const HOST = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;
const PORT = /^[1-9][0-9]{0,4}$/;
const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const LOOPBACK_V4 = new RegExp(`^127\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
const SEGMENT = /^[A-Za-z0-9._~!$&'()*+,;=@-]+$/;

export class DidResolutionError extends Error {}

/** The DID document could not be fetched: "cannot check", not "failed". */
export class DidUnreachableError extends DidResolutionError {}

function isLoopback(host) {
  return host.toLowerCase() === 'localhost' || LOOPBACK_V4.test(host);
}

function decode(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return null; // a malformed escape: no valid host or segment
  }
}

/** The URL of a did:web DID's document (the DID alone: no fragment, query or path). */
export function didWebUrl(did) {
  const invalid = new DidResolutionError(`not a valid did:web DID: ${did}`);
  if(!did.startsWith(DID_WEB_PREFIX) || /[#?/]/.test(did)) {
    throw invalid;
  }
  const [hostPart, ...segments] = did.slice(DID_WEB_PREFIX.length).split(':');
  const authority = decode(hostPart);
  if(authority === null) {
    throw invalid;
  }
  const colon = authority.indexOf(':');
  const host = colon < 0 ? authority : authority.slice(0, colon);
  const port = colon < 0 ? null : authority.slice(colon + 1);
  if(!HOST.test(host) || (port !== null && !(PORT.test(port) && Number(port) <= 65535))) {
    throw invalid;
  }
  const path = segments.map(decode);
  if(path.some(s => s === null || !SEGMENT.test(s) || s === '.' || s === '..')) {
    throw invalid;
  }
  const scheme = isLoopback(host) ? 'http' : 'https';
  const where = path.length ? `${path.join('/')}/did.json` : '.well-known/did.json';
  return `${scheme}://${host}${port === null ? '' : `:${port}`}/${where}`;
}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function sameId(value, did, method) {
  return typeof value === 'string' && (value === method || did + value === method);
}

/** The verification method `method` of `did`'s document, checked: {entry, key}. */
export function keyFromDidDocument(document, did, method, url) {
  if(document.id !== did) {
    throw new DidResolutionError(
      `the DID document at ${url} is for ${pyStr(document.id)}, not for ${did}`);
  }
  const methods = Array.isArray(document.verificationMethod) ? document.verificationMethod : [];
  const entry = methods.find(m => isObject(m) && sameId(m.id, did, method));
  if(entry === undefined) {
    throw new DidResolutionError(`${method}: the DID document has no such verification method`);
  }
  if(entry.controller !== did) {
    throw new DidResolutionError(
      `${method}: its controller is ${pyStr(entry.controller)}, not ${did}`);
  }
  if(entry.type !== 'Multikey' || typeof entry.publicKeyMultibase !== 'string') {
    throw new DidResolutionError(`${method}: not a Multikey with a publicKeyMultibase`);
  }
  const asserting = Array.isArray(document.assertionMethod) ? document.assertionMethod : [];
  if(!asserting.some(item => sameId(isObject(item) ? item.id : item, did, method))) {
    throw new DidResolutionError(
      `${method}: not listed under the DID document's assertionMethod`);
  }
  try {
    return {entry, key: publicKeyFromMultibase(entry.publicKeyMultibase)};
  } catch(error) {
    throw new DidResolutionError(`${method}: ${error.message}`);
  }
}

// Python's str() of what a DID document may hold where a string belongs.
function pyStr(value) {
  if(value === undefined || value === null) {
    return 'None';
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A resolver for one verification run: each DID document is fetched once. */
export function didResolver(fetchJson) {
  const documents = new Map();

  async function load(did, url) {
    try {
      return await fetchJson(url, {maxBytes: DID_DOCUMENT_MAX_BYTES, accept: DID_ACCEPT});
    } catch(error) {
      const why = error instanceof FetchError ? error.message :
        `${error.name || 'Error'}: ${error.message || error}`;
      return new DidUnreachableError(
        `cannot fetch the DID document of ${did} at ${url}: ${why}`);
    }
  }

  /** {key, did, method, controllerDocument, methodDocument}; throws DidResolutionError. */
  async function resolve(method) {
    if(method.startsWith(DID_KEY_PREFIX)) {
      return {key: resolveDidKey(method)};
    }
    if(!method.startsWith(DID_WEB_PREFIX)) {
      throw new DidResolutionError(`${method}: only did:key and did:web keys are resolved here`);
    }
    const hash = method.indexOf('#');
    if(hash < 0 || hash === method.length - 1) {
      throw new DidResolutionError(`${method}: a did:web key needs a #fragment naming it`);
    }
    const did = method.slice(0, hash);
    const url = didWebUrl(did);
    if(!documents.has(did)) {
      documents.set(did, load(did, url));
    }
    const document = await documents.get(did);
    if(document instanceof Error) {
      throw document;
    }
    const {entry, key} = keyFromDidDocument(document, did, method, url);
    // What the Data Integrity library reads through its document loader: the method
    // (absolute id) and a controller document listing it for assertions, both rebuilt
    // from what was checked above.
    const methodDocument = {
      '@context': MULTIKEY_CONTEXT, id: method, type: 'Multikey', controller: did,
      publicKeyMultibase: entry.publicKeyMultibase,
    };
    const {'@context': _, ...bare} = methodDocument;
    const controllerDocument = {
      '@context': [DID_CONTEXT, MULTIKEY_CONTEXT], id: did,
      verificationMethod: [bare], assertionMethod: [method],
    };
    return {key, did, method, controllerDocument, methodDocument};
  }

  return {resolve};
}
