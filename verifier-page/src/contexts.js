// The JSON-LD contexts the page knows: the node's committed copies, bundled in at build
// time (node/credentials/contexts/). The page never fetches a context: any other URL is
// refused, as the node's own loader refuses it.

import index from '../../node/credentials/contexts/standard/index.json';
import obV3 from
  '../../node/credentials/contexts/standard/purl.imsglobal.org_spec_ob_v3p0_context-3.0.3.json.jsonld';
import dataIntegrityV2 from
  '../../node/credentials/contexts/standard/w3id.org_security_data-integrity_v2.jsonld';
import statusV1 from
  '../../node/credentials/contexts/standard/www.w3.org_ns_credentials_status_v1.jsonld';
import credentialsV2 from
  '../../node/credentials/contexts/standard/www.w3.org_ns_credentials_v2.jsonld';
import mcledgerV1 from '../../node/credentials/contexts/mcledger-v1.jsonld';

export const VC_V2_CONTEXT = 'https://www.w3.org/ns/credentials/v2';
export const MCLEDGER_CONTEXT = 'https://w3id.org/mcledger/v1';

const BY_FILE = {
  'purl.imsglobal.org_spec_ob_v3p0_context-3.0.3.json.jsonld': obV3,
  'w3id.org_security_data-integrity_v2.jsonld': dataIntegrityV2,
  'www.w3.org_ns_credentials_status_v1.jsonld': statusV1,
  'www.w3.org_ns_credentials_v2.jsonld': credentialsV2,
};

export const CONTEXTS = Object.freeze(Object.fromEntries([
  ...Object.entries(index).map(([url, file]) => {
    if(!BY_FILE[file]) {
      throw new Error(`the build has no copy of ${url} (${file})`);
    }
    return [url, BY_FILE[file]];
  }),
  [MCLEDGER_CONTEXT, mcledgerV1],
]));

export function isKnownContext(url) {
  return Object.hasOwn(CONTEXTS, url);
}
