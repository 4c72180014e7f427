// An independent check of mcledger's Data Integrity proofs: Digital Bazaar's libraries
// verify (or sign) an eddsa-rdfc-2022 credential, with no network access at all.
//
//   node verify_credential.mjs CONTEXTS.json < signed.json
//       prints {"verified": true} or {"verified": false, "error": "..."}
//   node verify_credential.mjs CONTEXTS.json --sign SEED_HEX CREATED < unsigned.json
//       prints the credential signed with the Ed25519 key of that 32-byte seed, whose
//       did:key verification method the proof names
//
// CONTEXTS.json maps each context URL to its document; those and did:key identifiers
// are all the document loader serves. Status is not under test here: credentialStatus
// is accepted as is.
import {readFileSync} from 'node:fs';

import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import {cryptosuite} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import * as vc from '@digitalbazaar/vc';

const DID_CONTEXT = 'https://www.w3.org/ns/did/v1';
const MULTIKEY_CONTEXT = 'https://w3id.org/security/multikey/v1';

function fail(message) {
  process.stdout.write(JSON.stringify({verified: false, error: message}) + '\n');
  process.exit(0);
}

async function didKeyDocument(url) {
  // did:key (Ed25519 only): the key is in the identifier; its one method repeats it.
  const [did, fragment] = url.split('#');
  const multibase = did.slice('did:key:'.length);
  if(!multibase.startsWith('z6Mk') || (fragment !== undefined && fragment !== multibase)) {
    throw new Error(`not an Ed25519 did:key: ${url}`);
  }
  const key = await Ed25519Multikey.from({
    id: `${did}#${multibase}`, controller: did, publicKeyMultibase: multibase
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
    authentication: [bare.id]
  };
}

function localLoader(contexts) {
  return async url => {
    if(Object.hasOwn(contexts, url)) {
      return {contextUrl: null, documentUrl: url, document: contexts[url]};
    }
    if(url.startsWith('did:key:')) {
      return {contextUrl: null, documentUrl: url, document: await didKeyDocument(url)};
    }
    throw new Error(`refused to load ${url}: not a local context`);
  };
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

function errorText(error) {
  if(!error) {
    return 'unknown error';
  }
  const errors = Array.isArray(error) ? error : (error.errors || [error]);
  return errors.map(e => e.message || String(e)).join('; ');
}

async function main() {
  const [contextsFile, mode, seedHex, created] = process.argv.slice(2);
  if(!contextsFile) {
    fail('usage: verify_credential.mjs CONTEXTS.json [--sign SEED_HEX CREATED]');
  }
  const contexts = JSON.parse(readFileSync(contextsFile, 'utf8'));
  const documentLoader = localLoader(contexts);
  const credential = await readStdin();

  if(mode === '--sign') {
    const seed = Uint8Array.from(Buffer.from(seedHex, 'hex'));
    const {publicKeyMultibase} = await Ed25519Multikey.generate({seed});
    const did = `did:key:${publicKeyMultibase}`;
    const key = await Ed25519Multikey.generate({
      seed, id: `${did}#${publicKeyMultibase}`, controller: did
    });
    const suite = new DataIntegrityProof({signer: key.signer(), date: created, cryptosuite});
    const signed = await vc.issue({credential, suite, documentLoader});
    process.stdout.write(JSON.stringify(signed) + '\n');
    return;
  }

  const suite = new DataIntegrityProof({cryptosuite});
  const result = await vc.verifyCredential({
    credential, suite, documentLoader,
    checkStatus: async () => ({verified: true})
  });
  if(result.verified) {
    process.stdout.write(JSON.stringify({verified: true}) + '\n');
  } else {
    fail(errorText(result.error || (result.results || []).map(r => r.error)));
  }
}

main().catch(error => fail(errorText(error)));
