// Drawing reports and credentials. Every string from a credential, a bundle or a chain goes
// into the page as text (textContent, never markup): a name holding `<img onerror=…>` or
// `</script>` shows literally.

import qrcode from 'qrcode-generator';

import {label} from './labels.js';
import {CANNOT_CHECK, FAILED, PASSED, verdict, walk} from './report.js';

const SVG = 'http://www.w3.org/2000/svg';

/** An element with attributes (data-* and aria-* included) and text or element children. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for(const [name, value] of Object.entries(attributes)) {
    if(value !== undefined && value !== null && value !== false) {
      node.setAttribute(name, value === true ? '' : String(value));
    }
  }
  for(const child of children.flat()) {
    if(child !== undefined && child !== null && child !== false) {
      node.append(typeof child === 'string' ? document.createTextNode(child) : child);
    }
  }
  return node;
}

const MARKS = {[PASSED]: '✓', [FAILED]: '✗', [CANNOT_CHECK]: '?'};
const VERDICT_LABELS = {[PASSED]: 'verified', [FAILED]: 'notVerified',
  [CANNOT_CHECK]: 'cannotCheck'};

/** The verdict banner: verified, not verified, or cannot check, and why in one line. */
export function renderVerdict(report, lang, {elapsedMs, anchoringAt} = {}) {
  const outcome = verdict(report);
  const checks = [...walk(report)].flatMap(r => r.checks);
  const notPassed = checks.filter(c => !c.passed).length;
  const heading = VERDICT_LABELS[outcome];
  const text = {
    [PASSED]: label(lang, 'verifiedText'),
    [FAILED]: label(lang, 'notVerifiedText', {
      count: checks.filter(c => c.outcome === FAILED).length, total: checks.length,
    }),
    [CANNOT_CHECK]: label(lang, 'cannotCheckText', {count: notPassed, total: checks.length}),
  }[outcome];
  const notAnchored = report.kind === 'credential' && report.document &&
    !Object.hasOwn(report.document, 'anchorProof');
  return el('div', {class: `verdict verdict-${outcome}`, 'data-verdict': outcome},
    el('p', {class: 'verdict-heading'}, el('span', {'aria-hidden': 'true'}, MARKS[outcome]),
      ' ', label(lang, heading)),
    el('p', {class: 'verdict-text'}, text),
    notAnchored ? el('p', {class: 'verdict-pending'}, label(lang, 'notAnchored'),
      anchoringAt ? ` ${label(lang, 'anchoringAt', {time: anchoringAt})}` : '') : null,
    elapsedMs !== undefined ?
      el('p', {class: 'verdict-elapsed'}, label(lang, 'elapsed', {ms: Math.round(elapsedMs)})) :
      null);
}

function renderCheck(check, lang) {
  return el('li', {
    class: `check check-${check.outcome}`, 'data-name': check.name,
    'data-passed': String(check.passed), 'data-outcome': check.outcome,
  },
  el('details', {},
    el('summary', {},
      el('span', {class: 'check-mark', 'aria-hidden': 'true'}, MARKS[check.outcome]),
      el('span', {class: 'check-label'}, label(lang, check.name)),
      el('span', {class: 'check-outcome'}, label(lang, check.outcome)),
      el('code', {class: 'check-name'}, check.name)),
    el('p', {class: 'check-detail'}, check.detail)));
}

/** The report as a tree: a section per credential, its checks, then its components. */
export function renderReport(report, lang) {
  const isCredential = report.kind === 'credential';
  const section = el('section', {
    class: 'report', 'data-kind': report.kind,
    'data-credential-id': isCredential ? (report.id ?? '') : null,
  });
  if(isCredential) {
    section.append(el('h3', {class: 'report-id'}, report.id ?? label(lang, 'noId')));
  }
  section.append(el('ul', {class: 'checks'}, report.checks.map(c => renderCheck(c, lang))));
  if(report.components && report.components.length) {
    section.append(el('div', {class: 'components'},
      el('h4', {}, label(lang, 'componentsTitle')),
      report.components.map(component => renderReport(component, lang))));
  }
  return section;
}

function text(value) {
  if(typeof value === 'string') {
    return value;
  }
  if(typeof value === 'number') {
    return String(value);
  }
  return null;
}

function first(value) {
  return Array.isArray(value) ? value[0] : value;
}

function row(lang, key, value) {
  if(value === null || value === undefined || value === '' ||
    (Array.isArray(value) && !value.length)) {
    return [];
  }
  const shown = Array.isArray(value) ?
    el('ul', {}, value.map(item => el('li', {}, item))) : value;
  return [el('dt', {}, label(lang, key)), el('dd', {'data-field': key}, shown)];
}

function achievementOf(credential) {
  const subject = first(credential.credentialSubject);
  return (subject && typeof subject === 'object' && subject.achievement) || {};
}

/** "3 ECTS, 75 hours": the achievement's notional workload, as far as it says. */
function workloadOf(achievement, lang) {
  const workload = [];
  if(text(achievement.creditsAvailable)) {
    workload.push(label(lang, 'ects', {n: text(achievement.creditsAvailable)}));
  }
  const hours = /^PT([0-9.]+)H$/.exec(text(achievement.volumeOfLearning) || '');
  if(hours) {
    workload.push(label(lang, 'hours', {n: hours[1]}));
  }
  return workload.join(', ');
}

/** One entry of a stack's components: its id and digest as the stack lists them and, when
 * its learner's copy was given (`report`, the component's verification), its title,
 * workload and verdict. */
function renderComponentEntry(entry, report, lang) {
  const isEntry = entry !== null && typeof entry === 'object' && !Array.isArray(entry);
  const id = isEntry ? text(entry.id) : null;
  const copy = report && report.document;
  const outcome = copy ? verdict(report) : null;
  const achievement = copy ? achievementOf(copy) : {};
  return el('li', {class: 'component-entry', 'data-component-id': id ?? '',
    'data-outcome': outcome},
  copy ? el('p', {class: 'component-title', 'data-field': 'title'},
    text(achievement.name) || text(copy.name) || label(lang, 'credential')) : null,
  el('dl', {},
    row(lang, 'componentId', el('code', {}, id ?? label(lang, 'noId'))),
    row(lang, 'componentDigest', isEntry && text(entry.digest) ?
      el('code', {}, text(entry.digest)) : null),
    copy ? row(lang, 'workload', workloadOf(achievement, lang)) : [],
    copy ? row(lang, 'componentVerification', el('span', {class: `component-${outcome}`},
      el('span', {'aria-hidden': 'true'}, MARKS[outcome]), ' ',
      label(lang, VERDICT_LABELS[outcome]))) : []),
  copy ? null : el('p', {class: 'help'}, label(lang, 'componentNotGiven')));
}

/** The components a stack lists (on its first subject, as the view shows it), each with
 * what its learner's copy, if given, verified to (`reports`: the report's components). */
function renderComponents(credential, reports, lang) {
  const subject = first(credential.credentialSubject);
  const entries = subject && typeof subject === 'object' && Array.isArray(subject.components) ?
    subject.components : [];
  if(!entries.length) {
    return null;
  }
  const reportOf = entry => {
    const id = entry !== null && typeof entry === 'object' ? text(entry.id) : null;
    return id === null ? null : reports.find(report => report.id === id) ?? null;
  };
  return el('section', {class: 'credential-components'},
    el('h3', {}, label(lang, 'componentsTitle')),
    el('ol', {}, entries.map(entry => renderComponentEntry(entry, reportOf(entry), lang))));
}

/** The credential as a person reads it: what was achieved, by whom, from whom, when; and a
 * stack's components, with what their copies (`components`, the report's) verified to. */
export function renderCredential(credential, lang, components = []) {
  const subject = first(credential.credentialSubject) || {};
  const achievement = achievementOf(credential);
  const issuer = typeof credential.issuer === 'object' && credential.issuer ?
    credential.issuer : {};
  const eqf = text(achievement.eqfLevel);
  const accreditation = issuer.qualityAccreditation || {};
  const qa = [text(achievement.qualityAssurance), text(accreditation.register),
    text(accreditation.identifier)].filter(Boolean).join(' · ');
  const grade = first(subject.result);
  const outcomes = Array.isArray(achievement.learningOutcomes) ?
    achievement.learningOutcomes.map(text).filter(Boolean) : [];
  return el('article', {class: 'credential-view', lang: null},
    el('h2', {class: 'credential-title', 'data-field': 'title'},
      text(achievement.name) || text(credential.name) || label(lang, 'credential')),
    text(achievement.description) ?
      el('p', {class: 'credential-description'}, achievement.description) : null,
    el('dl', {},
      row(lang, 'learner', text(subject.name)),
      row(lang, 'issuer', text(issuer.name) || text(credential.issuer)),
      row(lang, 'country', text(issuer.address && issuer.address.addressCountry)),
      row(lang, 'qualityAssurance', qa),
      row(lang, 'eqfLevel', eqf ? eqf.replace(/^.*\//, '') : null),
      row(lang, 'nqfLevel', text(achievement.nqfLevel)),
      row(lang, 'workload', workloadOf(achievement, lang)),
      row(lang, 'learningOutcomes', outcomes),
      row(lang, 'assessment', text(achievement.assessmentType)),
      row(lang, 'participation', text(achievement.participationForm)),
      row(lang, 'awarded', text(credential.awardedDate) ?
        credential.awardedDate.slice(0, 10) : null),
      row(lang, 'place', text(subject.awardingPlace)),
      row(lang, 'grade', grade && text(grade.value))),
    renderComponents(credential, components, lang));
}

/** A QR code of `link`, drawn as SVG rectangles. */
export function renderQr(link, lang) {
  const qr = qrcode(0, 'M');
  qr.addData(link);
  qr.make();
  const count = qr.getModuleCount();
  const quiet = 4;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${count + 2 * quiet} ${count + 2 * quiet}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label(lang, 'qrCode'));
  svg.setAttribute('class', 'qr');
  const background = document.createElementNS(SVG, 'rect');
  background.setAttribute('width', '100%');
  background.setAttribute('height', '100%');
  background.setAttribute('class', 'qr-background');
  svg.append(background);
  let path = '';
  for(let r = 0; r < count; ++r) {
    for(let c = 0; c < count; ++c) {
      if(qr.isDark(r, c)) {
        path += `M${c + quiet} ${r + quiet}h1v1h-1z`;
      }
    }
  }
  const modules = document.createElementNS(SVG, 'path');
  modules.setAttribute('d', path);
  modules.setAttribute('class', 'qr-modules');
  svg.append(modules);
  return svg;
}
