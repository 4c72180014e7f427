// Bitstring Status List checks (status.revocation, status.suspension), as
// node/verifier/status.py makes them: the list is fetched, its eddsa-rdfc-2022 signature
// verified, its issuer and signer must be the credential's issuer, its id the URL and its
// purpose the entry's; the bit at statusListIndex must be 0. A set revocation bit is
// explained from the issuer's public revocation history. A list that cannot be fetched
// "cannot check".

import {reasonText} from './bundle.js';
import {FetchError, readAllCapped} from './fetch.js';
import {STATUS_MALFORMED} from './names.js';
import {cannotCheck, failed, passed} from './report.js';
import {isPast, verifyProof} from './signature.js';
import {hexOf, pyRepr} from './util.js';

const PURPOSE_NAME = /^[a-z][a-zA-Z]{0,31}$/;
const STATUS_VERBS = {revocation: 'revoked', suspension: 'suspended'};
const ENTRY_TYPE = 'BitstringStatusListEntry';
const LIST_TYPE = 'BitstringStatusListCredential';
const SUBJECT_TYPE = 'BitstringStatusList';
const MIN_LIST_BITS = 131072;
const MAX_LIST_BYTES = 16 * 1024 * 1024;
const STATUS_LIST_PATH = '/v1/status-lists/';
const HISTORY_PAGE = 500;
const HISTORY_PAGES = 40;

class ListError extends Error {}

/** One check per credentialStatus entry; none when the credential has none. */
export async function statusChecks(document, issuer, fetchJson, digest, resolver) {
  const status = document.credentialStatus;
  if(status === undefined || status === null) {
    return [];
  }
  const entries = Array.isArray(status) ? status : [status];
  if(!entries.length) {
    return [failed(STATUS_MALFORMED, 'credentialStatus is an empty list')];
  }
  return Promise.all(entries.map(entry => checkStatus(
    entry, issuer, fetchJson, url => revocationRecord(url, document, digest, fetchJson),
    resolver)));
}

async function revocationRecord(url, document, digest, fetchJson) {
  const at = url.indexOf(STATUS_LIST_PATH);
  if(at < 0) {
    return '';
  }
  const base = url.slice(0, at);
  const query = new URLSearchParams({limit: String(HISTORY_PAGE)});
  const validFrom = document.validFrom;
  if(typeof validFrom === 'string' && validFrom.length >= 10) {
    query.set('since', validFrom.slice(0, 10) + 'T00:00:00Z');
  }
  const wantedDigest = digest instanceof Uint8Array ? hexOf(digest) : null;
  try {
    for(let i = 0; i < HISTORY_PAGES; ++i) {
      const page = await fetchJson(`${base}/v1/revocations?${query}`);
      for(const record of page.revocations || []) {
        if(record && typeof record === 'object' && (record.credentialId === document.id ||
          record.digest === wantedDigest)) {
          return `: ${reasonText(Number(record.reason))}, revoked at ${record.revokedAt}` +
            ' (the issuer\'s revocation history)';
        }
      }
      if(page.nextAfter === null || page.nextAfter === undefined) {
        break;
      }
      query.set('after', String(page.nextAfter));
    }
  } catch(error) {
    return `; reason and time unknown: ${error.message}`;
  }
  return '; reason and time not in the issuer\'s revocation history';
}

function parseIndex(raw) {
  if(typeof raw === 'string' && /^[0-9]+$/.test(raw)) {
    return Number(raw);
  }
  if(typeof raw === 'number' && Number.isInteger(raw) && raw >= 0) {
    return raw;
  }
  return null;
}

async function checkStatus(entry, issuer, fetchJson, explain, resolver) {
  if(entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    return failed(STATUS_MALFORMED,
      `a credentialStatus entry is not an object: ${pyRepr(entry)}`);
  }
  const purpose = entry.statusPurpose;
  if(typeof purpose !== 'string' || !PURPOSE_NAME.test(purpose)) {
    return failed(STATUS_MALFORMED,
      `a credentialStatus entry's statusPurpose: ${pyRepr(purpose)}`);
  }
  const name = `status.${purpose}`;
  const types = Array.isArray(entry.type) ? entry.type : [entry.type];
  if(!types.includes(ENTRY_TYPE)) {
    return failed(name, `not a ${ENTRY_TYPE}: type ${pyRepr(entry.type)}`);
  }
  if(!Object.hasOwn(STATUS_VERBS, purpose)) {
    return failed(name, `statusPurpose ${pyRepr(purpose)} is not one this verifier checks`);
  }
  const statusSize = entry.statusSize ?? 1;
  if(statusSize !== 1 && statusSize !== '1') {
    return failed(name, `statusSize ${pyRepr(entry.statusSize)} is not supported`);
  }
  const index = parseIndex(entry.statusListIndex);
  if(index === null) {
    return failed(name, 'statusListIndex is not a non-negative integer: ' +
      pyRepr(entry.statusListIndex));
  }
  const url = entry.statusListCredential;
  if(typeof url !== 'string' || !url) {
    return failed(name, 'the entry names no statusListCredential');
  }
  if(issuer === null) {
    return failed(name, 'the credential names no issuer id to check the list against');
  }
  let listed, bit;
  try {
    listed = await verifiedList(url, purpose, issuer, fetchJson, resolver);
    bit = bitAt(listed.bits, index);
  } catch(error) {
    const detail = `the status list at ${url}: ${error.message}`;
    return error instanceof FetchError ? cannotCheck(name, detail) : failed(name, detail);
  }
  if(bit) {
    const more = purpose === 'revocation' ? await explain(url) : '';
    return failed(name, `${STATUS_VERBS[purpose]} per the status list published at ${url}${more}`);
  }
  return passed(name, `not ${STATUS_VERBS[purpose]}: bit ${index} is 0 in the list at ${url}` +
    ` (valid from ${listed.validFrom})`);
}

function bitAt(bits, index) {
  if(index >= bits.length * 8) {
    throw new ListError(
      `status index ${index} is outside a list of ${bits.length * 8} bits`);
  }
  return (bits[index >> 3] & (0x80 >> (index & 7))) !== 0;
}

async function verifiedList(url, purpose, issuer, fetchJson, resolver) {
  let document;
  try {
    document = await fetchJson(url);
  } catch(error) {
    throw new FetchError(`cannot fetch it: ${error.message}`);
  }
  const result = await verifyProof(document, resolver);
  if(!result.ok) {
    throw new (result.unreachable ? FetchError : ListError)(`its signature: ${result.detail}`);
  }
  const signer = (result.method || '').split('#')[0];
  const listed = await readList(document);
  if(listed.issuer !== issuer) {
    throw new ListError(`issued by ${listed.issuer}, but the credential's issuer is ${issuer}`);
  }
  if(signer !== issuer) {
    throw new ListError(`signed by ${signer}, but the credential's issuer is ${issuer}`);
  }
  if(listed.url !== url) {
    throw new ListError(`its id is ${listed.url}, not the URL it was fetched from`);
  }
  if(listed.purpose !== purpose) {
    throw new ListError(
      `its statusPurpose is ${listed.purpose}, the entry's is ${purpose}`);
  }
  const validUntil = document.validUntil;
  if(typeof validUntil === 'string' && isPast(validUntil)) {
    throw new ListError(`it expired at ${validUntil} (validUntil)`);
  }
  return listed;
}

/** The list credential's fields and bits (StatusListCredential.from_json). */
async function readList(document) {
  const types = document.type;
  const subject = document.credentialSubject;
  if(!Array.isArray(types) || !types.includes(LIST_TYPE)) {
    throw new ListError(`type must include ${LIST_TYPE}`);
  }
  if(!subject || typeof subject !== 'object' || subject.type !== SUBJECT_TYPE) {
    throw new ListError(`credentialSubject.type must be ${SUBJECT_TYPE}`);
  }
  const purpose = String(subject.statusPurpose);
  if(!Object.hasOwn(STATUS_VERBS, purpose)) {
    throw new ListError('credentialSubject.statusPurpose is not known');
  }
  const issuer = document.issuer && typeof document.issuer === 'object' ?
    document.issuer.id : document.issuer;
  const encoded = subject.encodedList;
  if(typeof encoded !== 'string' || typeof issuer !== 'string') {
    throw new ListError('issuer and credentialSubject.encodedList are required');
  }
  let bits;
  try {
    bits = await decodeList(encoded);
  } catch(error) {
    throw new ListError(`credentialSubject.encodedList: ${error.message}`);
  }
  return {
    url: String(document.id ?? ''), issuer, purpose,
    validFrom: String(document.validFrom ?? ''), bits,
  };
}

/** Multibase base64url of the GZIP of the bits, inflated with a cap. */
async function decodeList(encoded) {
  if(!encoded.startsWith('u')) {
    throw new Error('encodedList must be multibase base64url (prefix \'u\')');
  }
  let compressed;
  try {
    const body = encoded.slice(1).replace(/-/g, '+').replace(/_/g, '/');
    compressed = Uint8Array.from(atob(body), c => c.charCodeAt(0));
  } catch(error) {
    throw new Error(`encodedList does not decode: ${error.message}`);
  }
  const stream = new Blob([compressed]).stream().pipeThrough(new DecompressionStream('gzip'));
  const tooLarge = new Error(`encodedList inflates beyond ${MAX_LIST_BYTES} bytes`);
  let bits;
  try {
    bits = await readAllCapped(stream, MAX_LIST_BYTES, () => tooLarge);
  } catch(error) {
    if(error === tooLarge) {
      throw error;
    }
    throw new Error(`encodedList does not decode: ${error.message}`);
  }
  if(bits.length * 8 < MIN_LIST_BITS) {
    throw new Error(`a status list has at least ${MIN_LIST_BITS} bits, in whole bytes`);
  }
  return bits;
}
