// Fetching the JSON a verifier needs (status lists, the issuer's revocation history):
// http(s) only, a timeout and a size cap, no cookies, no referrer; the credential itself
// is never sent anywhere.

import {concatBytes} from './util.js';

export const FETCH_TIMEOUT_MS = 10000;
export const MAX_JSON_BYTES = 2 * 1024 * 1024;

/** A document could not be fetched: the check that needed it "cannot check". */
export class FetchError extends Error {}

/** Every byte of `stream`, refused with `tooLarge()` past `cap` bytes without reading on. */
export async function readAllCapped(stream, cap, tooLarge) {
  const reader = stream.getReader();
  const chunks = [];
  let total = 0;
  for(;;) {
    const {done, value} = await reader.read();
    if(done) {
      return concatBytes(...chunks);
    }
    total += value.length;
    if(total > cap) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
}

/** The body of a response, refused past `cap` bytes without reading the rest. */
export function readCapped(response, cap) {
  return readAllCapped(response.body, cap,
    () => new FetchError(`the response is larger than ${cap} bytes`));
}

export const JSON_ACCEPT = 'application/vc+ld+json, application/ld+json, application/json';

/** The JSON object at `url` (http or https), at most `maxBytes`; FetchError on any failure. */
export async function fetchJson(url, {maxBytes = MAX_JSON_BYTES, accept = JSON_ACCEPT} = {}) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    throw new FetchError(`not an http(s) URL: ${url}`);
  }
  if(parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new FetchError(`not an http(s) URL: ${url}`);
  }
  let body;
  try {
    const response = await fetch(parsed, {
      headers: {Accept: accept},
      credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer',
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    if(!response.ok) {
      throw new FetchError(`HTTPError: HTTP Error ${response.status}`);
    }
    body = await readCapped(response, maxBytes);
  } catch(error) {
    if(error instanceof FetchError) {
      throw error;
    }
    throw new FetchError(`${error.name || 'Error'}: ${error.message || error}`);
  }
  let document;
  try {
    document = JSON.parse(new TextDecoder('utf-8', {fatal: true}).decode(body));
  } catch(error) {
    throw new FetchError(`not JSON: ${error.message}`);
  }
  if(document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new FetchError('not a JSON object');
  }
  return document;
}
