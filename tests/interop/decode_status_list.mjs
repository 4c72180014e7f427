// An independent decoder of a Bitstring Status List credential's encodedList (W3C Bitstring
// Status List v1.0, "Bitstring Encoding"), written against the specification with nothing but
// Node.js's own zlib: multibase base64url (prefix "u", no padding) of the GZIP of the bits,
// index 0 being the most significant bit of the first byte.
//
//   node decode_status_list.mjs < list-credential.json
//       prints {"statusPurpose": "...", "bits": N, "set": [indexes whose bit is 1]}
import {readFileSync} from 'node:fs';
import {gunzipSync} from 'node:zlib';

const credential = JSON.parse(readFileSync(0, 'utf8'));
const subject = credential.credentialSubject;
const encoded = subject.encodedList;
if(typeof encoded !== 'string' || encoded[0] !== 'u') {
  throw new Error('encodedList must be multibase base64url (prefix "u")');
}
const bytes = gunzipSync(Buffer.from(encoded.slice(1), 'base64url'));
const set = [];
for(let byte = 0; byte < bytes.length; byte++) {
  for(let bit = 0; bit < 8; bit++) {
    if(bytes[byte] & (0x80 >> bit)) {
      set.push(byte * 8 + bit);
    }
  }
}
process.stdout.write(JSON.stringify({
  statusPurpose: subject.statusPurpose, bits: bytes.length * 8, set
}) + '\n');
