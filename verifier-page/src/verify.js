// What the page verifies, routed as `mcledger verify` routes it (cli/verify.py): a JSON
// document with an @context and no "version" is a credential (the learner's copy), anything
// else a proof bundle; input that is not JSON fails bundle.format.

import {verifyBundle} from './bundle.js';
import {parseBundle} from './bundleformat.js';
import {verifyCredentialFile} from './credential.js';
import {unparsableBundleReport} from './report.js';
import {ChainReader, RpcError} from './rpc.js';
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

/** The report of the main input and its component copies (each a Uint8Array). */
export async function verifyInput(bytes, componentBytes, {rpcUrls, fetchJson}) {
  if(bytes.length > MAX_INPUT_BYTES) {
    return unparsableBundleReport(`the file is larger than ${MAX_INPUT_BYTES} bytes`);
  }
  let document;
  try {
    document = parseDocument(bytes);
  } catch(error) {
    return unparsableBundleReport(`the proof bundle is not UTF-8 JSON: ${errorText(error)}`);
  }
  const chainFor = chainsFrom(rpcUrls);
  if(!isCredential(document)) {
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
