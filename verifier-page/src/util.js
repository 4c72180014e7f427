// Small byte, hex and text helpers shared by the checks.

import {keccak_256 as keccak256} from '@noble/hashes/sha3.js';

export function hexOf(bytes) {
  return Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('');
}

export function bytesOfHex(hex) {
  const clean = hex.startsWith('0x') ? hex.slice(2) : hex;
  if(clean.length % 2 || /[^0-9a-fA-F]/.test(clean)) {
    throw new Error(`not hex: ${hex}`);
  }
  const out = new Uint8Array(clean.length / 2);
  for(let i = 0; i < out.length; ++i) {
    out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  }
  return out;
}

export function equalBytes(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function concatBytes(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for(const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

export function utf8(text) {
  return new TextEncoder().encode(text);
}

export function keccak(bytes) {
  return keccak256(bytes);
}

/** An address as the CLI shows it: EIP-55 checksummed. */
export function checksumAddress(address) {
  const lower = address.toLowerCase().replace(/^0x/, '');
  const hash = hexOf(keccak(utf8(lower)));
  let out = '0x';
  for(let i = 0; i < lower.length; ++i) {
    out += parseInt(hash[i], 16) >= 8 ? lower[i].toUpperCase() : lower[i];
  }
  return out;
}

/** A timestamp (seconds) as the bundle writes times: RFC 3339, UTC, to the second. */
export function isoTime(seconds) {
  return new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Python's repr of a JSON value, enough for the details the CLI quotes with !r. */
export function pyRepr(value) {
  if(value === null || value === undefined) {
    return 'None';
  }
  if(value === true || value === false) {
    return value ? 'True' : 'False';
  }
  if(typeof value === 'string') {
    return value.includes("'") && !value.includes('"') ?
      `"${value}"` : `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  }
  if(Array.isArray(value)) {
    return `[${value.map(pyRepr).join(', ')}]`;
  }
  if(typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`)
      .join(', ')}}`;
  }
  return String(value);
}

/** The message of anything thrown, as one line. */
export function errorText(error) {
  const text = (error && (error.message || String(error))) || 'no message';
  return text.split('\n')[0];
}
