// What the page verifies, routed as `mcledger verify` routes it (cli/verify.py): a JSON
// document with an @context and no "version" is a credential (the learner's copy), anything
// else a proof bundle; input that is not JSON fails bundle.format. A credential held apart
// from its proof bundle is verified with the bundle as its anchorProof (`--bundle`).

import {verifyBundle} from './bundle.js';
import {parseBundle} from './bundleformat.js';
import {verifyCredentialFile} from './credential.js';
import {unparsableBundleReport} from './report.js';
import {ChainReader, RpcError} from './rpc.js';
import {ANCHOR_PROPERTY} from './signature.js';
import {errorText} from './util.js';

export const MAX_INPUT_BYTES = 16 * 1024 * 1024;

export class InputError extends Error {}

/** The JSON document in `bytes`; an Error saying why not. */
export function parseDocument(bytes) {
  const text = new TextDecoder('utf-8', {fatal: true}).decode(bytes);
  return JSON.parse(text);
}

export function isCredential(document) {
  return document !== null && typeof document === 'object' && !Array.isArray(document) &&
    Object.hasOwn(document, '@context') && !Object.hasOwn(document, 'version');
}

/** A proof bundle as a person hands one in: a JSON object with a "version", no @context. */
export function isProofBundle(document) {
  return document !== null && typeof document === 'object' && !Array.isArray(document) &&
    Object.hasOwn(document, 'version') && !Object.hasOwn(document, '@context');
}

/** Whether two parsed JSON values are the same JSON (key order aside). */
export function sameJson(a, b) {
  if(Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length &&
      a.every((item, i) => sameJson(item, b[i]));
  }
  if(a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length &&
      keys.every(key => Object.hasOwn(b, key) && sameJson(a[key], b[key]));
  }
  return a === b;
}

/** The credential `document` with the proof bundle in `bundleBytes` as its anchorProof, as
 * the learner's copy carries it; an InputError when the two do not go together. */
export function withSeparateBundle(document, bundleBytes) {
  let bundle;
  try {
    bundle = parseDocument(bundleBytes);
  } catch(error) {
    throw new InputError(`the proof bundle file is not UTF-8 JSON: ${errorText(error)}`);
  }
  if(isCredential(bundle)) {
    throw new InputError('the proof bundle file is a credential (it has an @context), ' +
      'not a proof bundle');
  }
  if(Object.hasOwn(document, ANCHOR_PROPERTY) && !sameJson(document[ANCHOR_PROPERTY], bundle)) {
    throw new InputError(`the credential already has an ${ANCHOR_PROPERTY}, and it differs ` +
      'from the separate proof bundle: give the credential without it, or no separate bundle');
  }
  return {...document, [ANCHOR_PROPERTY]: bundle};
}

/** Files dropped together ({bytes, name} each), sorted as the inputs take them: the first
 * credential is the one verified; one proof bundle dropped with credentials is its separate
 * proof bundle; the other files are its components. Alone, a bundle is verified itself. */
export function sortDropped(files) {
  const kinds = files.map(file => {
    try {
      const document = parseDocument(file.bytes);
      return isCredential(document) ? 'credential' : isProofBundle(document) ? 'bundle' : null;
    } catch {
      return null;
    }
  });
  const bundles = files.filter((_, i) => kinds[i] === 'bundle');
  if(bundles.length === 1 && kinds.includes('credential')) {
    const [main, ...components] = files.filter((_, i) => kinds[i] !== 'bundle');
    return {main, bundle: bundles[0], components};
  }
  const [main, ...components] = files;
  return {main, bundle: null, components};
}

/** A ChainReader for each chain id with an RPC URL; for others, one that cannot read. */
export function chainsFrom(rpcUrls) {
  return chainId => {
    const url = rpcUrls[String(chainId)];
    if(url) {
      return new ChainReader(url);
    }
    const missing = new ChainReader('');
    missing.call = async () => {
      throw new RpcError(`no RPC URL for chain ${chainId}: enter one under "Chain settings"`);
    };
    return missing;
  };
}

/** The report of the main input, its component copies and the separate proof bundle of a
 * credential held without its anchorProof (each a Uint8Array; `bundleBytes` may be null). */
export async function verifyInput(bytes, componentBytes, {rpcUrls, fetchJson,
  bundleBytes = null}) {
  if(bytes.length > MAX_INPUT_BYTES) {
    return unparsableBundleReport(`the file is larger than ${MAX_INPUT_BYTES} bytes`);
  }
  let document;
  try {
    document = parseDocument(bytes);
  } catch(error) {
    if(bundleBytes) {
      throw new InputError('a separate proof bundle goes with a credential, and this file ' +
        `is not UTF-8 JSON: ${errorText(error)}`);
    }
    return unparsableBundleReport(`the proof bundle is not UTF-8 JSON: ${errorText(error)}`);
  }
  const chainFor = chainsFrom(rpcUrls);
  if(!isCredential(document)) {
    if(bundleBytes) {
      throw new InputError('a separate proof bundle goes with a credential, and this file ' +
        'is a proof bundle: verify it alone');
    }
    if(componentBytes.length) {
      throw new InputError('components go with a credential, not with a proof bundle');
    }
    let bundle;
    try {
      bundle = parseBundle(document);
    } catch(error) {
      return unparsableBundleReport(errorText(error));
    }
    return {kind: 'bundle', checks: await verifyBundle(bundle, chainFor(bundle.anchor.chainId))};
  }
  if(bundleBytes) {
    document = withSeparateBundle(document, bundleBytes);
  }
  const pool = componentBytes.map((raw, i) => {
    let component;
    try {
      component = parseDocument(raw);
    } catch(error) {
      throw new InputError(`component ${i + 1}: not UTF-8 JSON: ${errorText(error)}`);
    }
    if(!isCredential(component)) {
      throw new InputError(`component ${i + 1}: not a credential (no @context)`);
    }
    return component;
  });
  return verifyCredentialFile(document, chainFor, pool, fetchJson);
}
