// Build the verifier page into the Python package's committed copy
// (node/verifier/web/: index.html, verifier.js, verifier.css), or into the folder given as
// the first argument (a test rebuilds into a temporary folder and compares the bytes).
// `make verifier-page` runs it after a change here; the node serves only the committed
// copy, so the wheel carries the page without npm.
import {copyFileSync, mkdirSync, writeFileSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

import {build} from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? join(here, '..', 'node', 'verifier', 'web');
mkdirSync(out, {recursive: true});

const result = await build({
  absWorkingDir: here,
  entryPoints: ['src/main.js'],
  bundle: true,
  write: false,
  // A classic script, not a module: module scripts do not load from file://.
  format: 'iife',
  platform: 'browser',
  target: ['chrome111', 'firefox115', 'safari16.4'],
  minify: true,
  legalComments: 'eof',
  charset: 'utf8',
  loader: {'.jsonld': 'json'},
  define: {'process.env.NODE_ENV': '"production"'},
  logLevel: 'warning',
});
const [bundle] = result.outputFiles;
writeFileSync(join(out, 'verifier.js'), bundle.contents);
for(const name of ['index.html', 'verifier.css']) {
  copyFileSync(join(here, 'src', name), join(out, name));
}
console.log(`built the verifier page into ${out} (verifier.js: ${bundle.contents.length} bytes)`);
