// status.committed as node/verifier/status_commitment.py checks it: one check per status
// list the credential names, where the ledger beside its anchor takes commitments. The list
// fetched for the status check is hashed (SHA-256 of its JSON Canonicalization Scheme form,
// RFC 8785) and compared with statusListHashOf(issuer, SHA-256(url)): equal passes; nothing
// committed, or a list newer than the commitment, is "not yet committed" (the page: cannot
// check); an older list that differs is a split view (failed).

import {STATUS_COMMITTED} from './names.js';
import {cannotCheck, failed, passed} from './report.js';
import {EMPTY} from './revocationproof.js';
import {RpcError} from './rpc.js';
import {equalBytes, errorText, hexOf, isoTime, sha256, utf8} from './util.js';

export const GRACE = 600;
const NOT_YET = 'not yet committed: ';

/** The distinct statusListCredential URLs of the credential's status entries. */
export function listedUrls(document) {
  const status = document.credentialStatus;
  const entries = Array.isArray(status) ? status : status === undefined || status === null ?
    [] : [status];
  const urls = [];
  for(const entry of entries) {
    const url = entry !== null && typeof entry === 'object' && !Array.isArray(entry) ?
      entry.statusListCredential : undefined;
    if(typeof url === 'string' && url && !urls.includes(url)) {
      urls.push(url);
    }
  }
  return urls;
}

/** RFC 8785: JSON.stringify's primitives, members sorted by their names' UTF-16 units. */
export function canonicalJson(value) {
  if(Array.isArray(value)) {
    return '[' + value.map(canonicalJson).join(',') + ']';
  }
  if(value !== null && typeof value === 'object') {
    return '{' + Object.keys(value).sort()
      .map(name => JSON.stringify(name) + ':' + canonicalJson(value[name])).join(',') + '}';
  }
  if(typeof value === 'number' && !Number.isFinite(value)) {
    throw new Error(`${value} has no JSON form`);
  }
  return JSON.stringify(value);
}

function validFromOf(document) {
  const moment = typeof document.validFrom === 'string' ? Date.parse(document.validFrom) : NaN;
  return Number.isFinite(moment) ? Math.floor(moment / 1000) : null;
}

function age(validFrom) {
  if(validFrom === null) {
    return 'the list has no readable validFrom';
  }
  const seconds = Math.max(0, Math.floor(Date.now() / 1000) - validFrom);
  return `the list is ${seconds} s old (validFrom ${isoTime(validFrom)})`;
}

/** One status.committed check per URL, against `issuer`'s commitments on `contract`. */
export function committedChecks(urls, fetchJson, chain, contract, issuer) {
  return Promise.all(urls.map(url => checkOne(url, fetchJson, chain, contract, issuer)));
}

async function checkOne(url, fetchJson, chain, contract, issuer) {
  let document, served;
  try {
    document = await fetchJson(url);
  } catch(error) {
    return cannotCheck(STATUS_COMMITTED, `cannot fetch the list at ${url}: ${errorText(error)}`);
  }
  try {
    served = await sha256(utf8(canonicalJson(document)));
  } catch(error) {
    return failed(STATUS_COMMITTED, `cannot hash the list at ${url}: ${errorText(error)}`);
  }
  let onchain;
  try {
    onchain = await chain.statusListHashOf(contract, issuer, await sha256(utf8(url)));
  } catch(error) {
    const detail = `cannot read statusListHashOf: ${errorText(error)}`;
    return error instanceof RpcError ? cannotCheck(STATUS_COMMITTED, detail) :
      failed(STATUS_COMMITTED, detail);
  }
  if(equalBytes(onchain.listHash, served)) {
    return passed(STATUS_COMMITTED, `the list at ${url} is the one ${issuer} committed at ` +
      `${isoTime(onchain.updatedAt)} (SHA-256 ${hexOf(served)})`);
  }
  const validFrom = validFromOf(document);
  if(equalBytes(onchain.listHash, EMPTY)) {
    return cannotCheck(STATUS_COMMITTED,
      `${NOT_YET}${issuer} has committed no hash of the list at ${url}; ${age(validFrom)}`);
  }
  if(validFrom === null || validFrom > onchain.updatedAt - GRACE) {
    return cannotCheck(STATUS_COMMITTED, `${NOT_YET}the list at ${url} changed after ` +
      `${issuer}'s last commitment of it (${isoTime(onchain.updatedAt)}); ${age(validFrom)}`);
  }
  return failed(STATUS_COMMITTED, `the list served at ${url} is not the one ${issuer} ` +
    `committed at ${isoTime(onchain.updatedAt)}, though it is older (validFrom ` +
    `${isoTime(validFrom)}): a split view (SHA-256 ${hexOf(served)}, committed ` +
    `${hexOf(onchain.listHash)})`);
}
