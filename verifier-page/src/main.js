// The verifier page: input (drop, pick, paste, or ?url=<learner link>; the components of a
// stack; the proof bundle of a credential held without it), the checks, and what they found. Configuration (chain id -> RPC URL, the node's next anchoring) comes
// from the JSON data block the node or `mcledger verifier export` wrote into the page;
// the user may change the RPC URLs. Nothing is uploaded: the page fetches only status
// lists, revocation history, the chain's RPC and the node's public configuration.

import {fetchJson, MAX_JSON_BYTES, readCapped} from './fetch.js';
import {label, LABELS, LANGUAGES} from './labels.js';
import {el, renderCredential, renderQr, renderReport, renderVerdict} from './render.js';
import {InputError, sortDropped, verifyInput} from './verify.js';

const STATUS_LIST_PATH = '/v1/status-lists/';

const state = {
  lang: 'en',
  rpcUrls: {},
  config: {},
  main: null, // {bytes, name}
  components: [], // [{bytes, name}]
  bundle: null, // {bytes, name}: the separate proof bundle picked in its input
  droppedBundle: null, // {bytes, name}: the one dropped with the credential, if any
  openedForPrint: [], // the <details> opened to print, closed again after
  link: null,
  running: 0,
};

const $ = id => document.getElementById(id);

function readConfig() {
  const block = $('mcledger-config');
  try {
    const parsed = JSON.parse(block ? block.textContent : '{}');
    return parsed && typeof parsed === 'object' ? parsed : {};
  } catch {
    return {};
  }
}

function applyLabels() {
  document.documentElement.lang = state.lang;
  document.title = label(state.lang, 'pageTitle');
  for(const node of document.querySelectorAll('[data-label]')) {
    node.textContent = label(state.lang, node.dataset.label);
  }
  for(const node of document.querySelectorAll('[data-label-aria]')) {
    node.setAttribute('aria-label', label(state.lang, node.dataset.labelAria));
  }
  renderChainSettings();
}

function renderChainSettings() {
  const list = $('chains');
  list.replaceChildren();
  for(const [chain, url] of Object.entries(state.rpcUrls)) {
    const id = `rpc-${chain}`;
    const input = el('input', {id, type: 'url', value: url, 'data-chain': chain,
      autocomplete: 'off', spellcheck: 'false'});
    input.addEventListener('change', () => {
      state.rpcUrls[chain] = input.value.trim();
      rerun();
    });
    list.append(el('div', {class: 'field'},
      el('label', {for: id}, label(state.lang, 'rpcFor', {chain})), input));
  }
}

function addChain(event) {
  event.preventDefault();
  const chain = $('new-chain-id').value.trim();
  const url = $('new-chain-url').value.trim();
  if(!/^[1-9][0-9]{0,18}$/.test(chain) || !url) {
    return;
  }
  state.rpcUrls[chain] = url;
  $('new-chain-id').value = '';
  $('new-chain-url').value = '';
  renderChainSettings();
  rerun();
}

async function fileBytes(file) {
  return {bytes: new Uint8Array(await file.arrayBuffer()), name: file.name};
}

/** The node's next anchoring time, from the public configuration of the node whose
 * status list the credential names (the request names no credential). */
async function anchoringAt(credential) {
  const entries = [].concat(credential.credentialStatus || []);
  const url = entries.map(e => e && e.statusListCredential)
    .find(u => typeof u === 'string' && u.includes(STATUS_LIST_PATH));
  if(!url) {
    return state.config.nextAnchoringAt || null;
  }
  const base = url.slice(0, url.indexOf(STATUS_LIST_PATH));
  try {
    const config = await fetchJson(`${base}/verify/config.json`);
    return typeof config.nextAnchoringAt === 'string' ? config.nextAnchoringAt : null;
  } catch {
    return null;
  }
}

async function run() {
  if(!state.main) {
    return;
  }
  const ticket = ++state.running;
  const result = $('result');
  document.body.dataset.state = 'verifying';
  result.setAttribute('aria-busy', 'true');
  $('verdict').replaceChildren(el('p', {class: 'verdict verdict-running'},
    label(state.lang, 'verifying')));
  $('credential').replaceChildren();
  $('report').replaceChildren();
  const started = performance.now();
  let report;
  try {
    const bundle = state.droppedBundle ?? state.bundle;
    report = await verifyInput(state.main.bytes, state.components.map(c => c.bytes), {
      rpcUrls: state.rpcUrls, fetchJson, bundleBytes: bundle ? bundle.bytes : null,
    });
  } catch(error) {
    if(ticket !== state.running) {
      return;
    }
    const why = error instanceof InputError ? error.message : String(error.message || error);
    $('verdict').replaceChildren(el('div', {class: 'verdict verdict-failed',
      'data-verdict': 'input-error'}, label(state.lang, 'inputError', {why})));
    finish(result);
    return;
  }
  const elapsedMs = performance.now() - started;
  if(ticket !== state.running) {
    return;
  }
  state.report = report;
  state.elapsedMs = elapsedMs;
  state.anchoringAt = report.kind === 'credential' && report.document &&
    !Object.hasOwn(report.document, 'anchorProof') ? await anchoringAt(report.document) : null;
  if(ticket !== state.running) {
    return;
  }
  draw();
  document.body.dataset.elapsedMs = String(Math.round(elapsedMs));
  finish(result);
}

function draw() {
  const {report} = state;
  if(!report) {
    return;
  }
  $('verdict').replaceChildren(renderVerdict(report, state.lang, {
    elapsedMs: state.elapsedMs, anchoringAt: state.anchoringAt,
  }));
  const view = $('credential');
  view.replaceChildren();
  if(report.kind === 'credential' && report.document) {
    view.append(renderCredential(report.document, state.lang, report.components));
    if(state.link) {
      view.append(el('figure', {class: 'qr-figure'}, renderQr(pageLink(), state.lang),
        el('figcaption', {}, label(state.lang, 'qrCode'))));
    }
  }
  $('report').replaceChildren(renderReport(report, state.lang));
}

function finish(result) {
  result.removeAttribute('aria-busy');
  document.body.dataset.state = 'done';
}

function rerun() {
  if(state.main) {
    run();
  }
}

function pageLink() {
  const link = new URL(window.location.href);
  link.hash = '';
  link.search = '';
  link.searchParams.set('url', state.link);
  return link.href;
}

async function fromLink(link) {
  state.link = link;
  try {
    const url = new URL(link);
    if(url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new Error(`not an http(s) URL: ${link}`);
    }
    const response = await fetch(url, {credentials: 'omit', cache: 'no-store',
      referrerPolicy: 'no-referrer', signal: AbortSignal.timeout(10000)});
    if(!response.ok) {
      throw new Error(`HTTP ${response.status}`);
    }
    state.main = {bytes: await readCapped(response, MAX_JSON_BYTES), name: link};
  } catch(error) {
    $('verdict').replaceChildren(el('div', {class: 'verdict verdict-cannot-check',
      'data-verdict': 'input-error'},
    label(state.lang, 'inputError', {why: error.message || String(error)})));
    document.body.dataset.state = 'done';
    return;
  }
  run();
}

function wireInput() {
  const zone = $('drop-zone');
  const picker = $('file');
  zone.addEventListener('click', () => picker.click());
  zone.addEventListener('keydown', event => {
    if(event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      picker.click();
    }
  });
  zone.addEventListener('dragover', event => {
    event.preventDefault();
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', async event => {
    event.preventDefault();
    zone.classList.remove('dragging');
    const files = await Promise.all([...event.dataTransfer.files].map(fileBytes));
    if(files.length) {
      const {main, bundle, components} = sortDropped(files);
      state.main = main;
      state.droppedBundle = bundle;
      if(components.length) {
        state.components = components;
      }
      state.link = null;
      run();
    }
  });
  picker.addEventListener('change', async () => {
    if(picker.files.length) {
      state.main = await fileBytes(picker.files[0]);
      state.droppedBundle = null;
      state.link = null;
      run();
    }
  });
  $('components').addEventListener('change', async event => {
    state.components = await Promise.all([...event.target.files].map(fileBytes));
    rerun();
  });
  $('bundle').addEventListener('change', async event => {
    const [file] = event.target.files;
    state.bundle = file ? await fileBytes(file) : null;
    rerun();
  });
  $('input-form').addEventListener('submit', event => {
    event.preventDefault();
    const pasted = $('paste').value;
    if(pasted.trim()) {
      state.main = {bytes: new TextEncoder().encode(pasted), name: 'pasted'};
      state.droppedBundle = null;
      state.link = null;
    }
    rerun();
  });
  $('clear').addEventListener('click', () => {
    state.main = null;
    state.components = [];
    state.bundle = null;
    state.droppedBundle = null;
    state.report = null;
    $('paste').value = '';
    $('components').value = '';
    $('bundle').value = '';
    picker.value = '';
    for(const id of ['verdict', 'credential', 'report']) {
      $(id).replaceChildren();
    }
    delete document.body.dataset.state;
  });
  $('add-chain').addEventListener('submit', addChain);
  const languages = $('language');
  for(const [code, name] of Object.entries(LANGUAGES)) {
    if(LABELS[code]) {
      languages.append(el('option', {value: code}, name));
    }
  }
  languages.addEventListener('change', () => {
    state.lang = languages.value;
    applyLabels();
    draw();
  });
}

/** Printing shows every check's detail: the closed <details> of the result open for the
 * print and close again after it. */
function wirePrinting() {
  window.addEventListener('beforeprint', () => {
    for(const details of document.querySelectorAll('#result details:not([open])')) {
      details.open = true;
      state.openedForPrint.push(details);
    }
  });
  window.addEventListener('afterprint', () => {
    for(const details of state.openedForPrint) {
      details.open = false;
    }
    state.openedForPrint = [];
  });
}

function start() {
  state.config = readConfig();
  const urls = state.config.rpcUrls;
  state.rpcUrls = urls && typeof urls === 'object' ? {...urls} : {};
  const wanted = (navigator.language || 'en').slice(0, 2);
  state.lang = LABELS[wanted] ? wanted : 'en';
  wireInput();
  wirePrinting();
  $('language').value = state.lang;
  applyLabels();
  if(!window.isSecureContext || !window.crypto || !window.crypto.subtle) {
    $('verdict').replaceChildren(el('div', {class: 'verdict verdict-cannot-check',
      'data-verdict': 'input-error'}, label(state.lang, 'inputError', {
      why: 'this page needs a secure context (https, localhost or a local file)',
    })));
    return;
  }
  const link = new URLSearchParams(window.location.search).get('url');
  document.body.dataset.ready = 'true';
  if(link) {
    fromLink(link);
  }
}

if(document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', start);
} else {
  start();
}
