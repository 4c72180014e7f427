// A proof bundle's checks against the chain, as node/verifier/bundle.py makes them: every
// check by name, in order; one that cannot run because another failed is failed with
// "skipped: <why>"; one whose chain read did not answer "cannot check".

import {BUNDLE_VERSION, EBSI_TIMESTAMP_TARGET} from './bundleformat.js';
import {verifyInclusion} from './merkle.js';
import {
  ANCHOR_BLOCK, ANCHOR_ISSUER, ANCHOR_ROOT, ANCHOR_TREE_SIZE, BUNDLE_FORMAT, CHAIN_ID,
  ISSUER_REGISTERED, MERKLE_INCLUSION,
} from './names.js';
import {cannotCheck, failed, passed} from './report.js';
import {checkNotRevoked as checkRevocations, reasonText} from './revocation.js';
import {ROOT_ANCHORED_TOPIC, RpcError} from './rpc.js';
import {verifyTimestampedBundle} from './timestamped.js';
import {checksumAddress, errorText, hexOf, isoTime} from './util.js';

export {reasonText};

/** One chain read's outcome: {value} or {error, unreachable}. */
export async function read(fn) {
  try {
    return {value: await fn()};
  } catch(error) {
    return {error: errorText(error), unreachable: error instanceof RpcError};
  }
}

export function failedRead(name, detail, outcome) {
  return outcome.unreachable ? cannotCheck(name, detail) : failed(name, detail);
}

function anchored(record) {
  return record.value && record.value.exists ? record.value : null;
}

/** Every chain check of the bundle, against the contract it names, through `chain`. */
export async function verifyBundle(bundle, chain) {
  const {anchor} = bundle;
  if(anchor.target === EBSI_TIMESTAMP_TARGET) {
    return verifyTimestampedBundle(bundle, chain);
  }
  const contract = checksumAddress(anchor.contract);
  const [chainId, record, registered] = await Promise.all([
    read(() => chain.chainId()),
    read(() => chain.anchorOf(contract, bundle.proof.root)),
    read(() => chain.isIssuer(contract, anchor.issuer)),
  ]);
  const [inclusion, block, notRevoked] = await Promise.all([
    checkInclusion(bundle),
    checkAnchorBlock(bundle, chain, contract, record),
    checkNotRevoked(bundle, chain, contract, record),
  ]);
  return [
    passed(BUNDLE_FORMAT, formatDetail(bundle)),
    inclusion,
    checkChainId(anchor.chainId, chainId),
    checkAnchorRoot(bundle, contract, record),
    checkAnchorIssuer(anchor.issuer, record),
    checkAnchorTreeSize(bundle.proof.treeSize, record),
    block,
    checkIssuerRegistered(anchor.issuer, contract, registered),
    notRevoked,
  ];
}

export function formatDetail(bundle) {
  let detail = `a well-formed ${BUNDLE_VERSION} bundle`;
  if(bundle.credentialId !== null) {
    detail += `; its credentialId ${bundle.credentialId} is checked only with the credential`;
  }
  return detail;
}

export async function checkInclusion(bundle) {
  const {proof} = bundle;
  try {
    await verifyInclusion(bundle.digest, proof);
  } catch(error) {
    return failed(MERKLE_INCLUSION, errorText(error));
  }
  return passed(MERKLE_INCLUSION,
    `leaf ${proof.leafIndex} of ${proof.treeSize} leads to root ${hexOf(proof.root)}`);
}

export function checkChainId(expected, chainId) {
  if(chainId.error !== undefined) {
    return failedRead(CHAIN_ID, `cannot read the chain id: ${chainId.error}`, chainId);
  }
  if(chainId.value !== expected) {
    return failed(CHAIN_ID, `the RPC serves chain ${chainId.value}, not ${expected}`);
  }
  return passed(CHAIN_ID, `chain ${expected}`);
}

function skipWithoutAnchor(name, record) {
  if(record.error !== undefined) {
    return failedRead(name, `skipped: cannot read the anchor: ${record.error}`, record);
  }
  if(!record.value.exists) {
    return failed(name, 'skipped: the root is not anchored');
  }
  return null;
}

function checkAnchorRoot(bundle, contract, record) {
  const root = hexOf(bundle.proof.root);
  if(record.error !== undefined) {
    return failedRead(ANCHOR_ROOT, `cannot read anchorOf(${root}): ${record.error}`, record);
  }
  const found = anchored(record);
  if(found === null) {
    return failed(ANCHOR_ROOT, `root ${root} is not anchored on ${contract}`);
  }
  return passed(ANCHOR_ROOT, `root ${root} anchored by ${found.issuer} at ` +
    `${isoTime(found.anchoredAt)} (tree size ${found.treeSize})`);
}

function checkAnchorIssuer(issuer, record) {
  const skipped = skipWithoutAnchor(ANCHOR_ISSUER, record);
  if(skipped) {
    return skipped;
  }
  const onChain = anchored(record);
  if(onChain.issuer.toLowerCase() !== issuer.toLowerCase()) {
    return failed(ANCHOR_ISSUER,
      `the root was anchored by ${onChain.issuer}, not ${checksumAddress(issuer)}`);
  }
  return passed(ANCHOR_ISSUER, `anchored by ${onChain.issuer}`);
}

function checkAnchorTreeSize(treeSize, record) {
  const skipped = skipWithoutAnchor(ANCHOR_TREE_SIZE, record);
  if(skipped) {
    return skipped;
  }
  const onChain = anchored(record);
  if(onChain.treeSize !== treeSize) {
    return failed(ANCHOR_TREE_SIZE, `the root was anchored for a tree of ` +
      `${onChain.treeSize} leaves, the bundle says ${treeSize}`);
  }
  return passed(ANCHOR_TREE_SIZE, `${treeSize} leaves, as anchored`);
}

function checkAnchorBlock(bundle, chain, contract, record) {
  return blockCheck(bundle.anchor, () => blockProblems(bundle, chain, contract, record),
    'RootAnchored');
}

/** anchor.block: passed when `problems()` finds none (the transaction emitted `event`); a
 * chain read that fails part-way fails it, or "cannot check" when the RPC did not answer. */
export async function blockCheck(anchor, problems, event) {
  let found;
  try {
    found = await problems();
  } catch(error) {
    return failedRead(ANCHOR_BLOCK, `cannot read the chain: ${errorText(error)}`,
      {unreachable: error instanceof RpcError});
  }
  if(found.length) {
    return failed(ANCHOR_BLOCK, found.join('; '));
  }
  return passed(ANCHOR_BLOCK, `block ${anchor.blockNumber} (${anchor.blockHash}) at ` +
    `${anchor.anchoredAtText}; transaction ${anchor.transactionHash} emitted ${event}`);
}

/** What disagrees between the bundle's block (number, hash, time) and the chain's, and
 * the block's time (null when there is no such block: the one problem then). */
export function blockProblemsOf(anchor, block) {
  const number = anchor.blockNumber;
  if(!block) {
    return {problems: [`there is no block ${number}`], madeAt: null};
  }
  const problems = [];
  const blockHash = String(block.hash).toLowerCase();
  if(blockHash !== anchor.blockHash) {
    problems.push(`block ${number} has hash ${blockHash}, not ${anchor.blockHash}`);
  }
  const madeAt = Number(BigInt(block.timestamp));
  if(madeAt !== anchor.anchoredAt) {
    problems.push(`block ${number} was made at ${isoTime(madeAt)}, ` +
      `not ${isoTime(anchor.anchoredAt)}`);
  }
  return {problems, madeAt};
}

/** What disagrees between the bundle's transaction and its receipt (in the bundle's block,
 * successful); none but "no transaction" when there is no receipt. */
export function receiptProblemsOf(anchor, receipt) {
  const tx = anchor.transactionHash;
  if(!receipt) {
    return [`there is no transaction ${tx}`];
  }
  const problems = [];
  const receiptHash = String(receipt.blockHash).toLowerCase();
  const receiptNumber = Number(BigInt(receipt.blockNumber));
  if(receiptHash !== anchor.blockHash || receiptNumber !== anchor.blockNumber) {
    problems.push(`transaction ${tx} is in block ${receiptNumber} (${receiptHash}),` +
      ` not ${anchor.blockNumber} (${anchor.blockHash})`);
  }
  if(BigInt(receipt.status) !== 1n) {
    problems.push(`transaction ${tx} failed`);
  }
  return problems;
}

async function blockProblems(bundle, chain, contract, record) {
  const {anchor} = bundle;
  const root = hexOf(bundle.proof.root);
  const number = anchor.blockNumber;
  const [block, receipt] = await Promise.all([
    chain.block(number), chain.receipt(anchor.transactionHash),
  ]);
  const {problems, madeAt} = blockProblemsOf(anchor, block);
  if(madeAt === null) {
    return problems;
  }
  const found = anchored(record);
  if(record.error !== undefined) {
    problems.push(`cannot read the contract's anchoring time: ${record.error}`);
  } else if(found === null) {
    problems.push('the contract has no anchoring time for this root');
  } else if(found.anchoredAt !== madeAt) {
    problems.push(`the contract records the anchoring at ${isoTime(found.anchoredAt)},` +
      ` block ${number} was made at ${isoTime(madeAt)}`);
  }
  problems.push(...receiptProblemsOf(anchor, receipt));
  if(!receipt) {
    return problems;
  }
  const tx = anchor.transactionHash;
  const events = (receipt.logs || []).map(rootAnchored)
    .filter(e => e !== null && e.contract === contract && e.root === root);
  if(!events.length) {
    problems.push(`transaction ${tx} emitted no RootAnchored(${root}) from ${contract}`);
    return problems;
  }
  const {issuer, size} = events[0];
  const expectedIssuer = found ? found.issuer : anchor.issuer;
  const expectedSize = found ? found.treeSize : bundle.proof.treeSize;
  if(issuer.toLowerCase() !== expectedIssuer.toLowerCase() || size !== expectedSize) {
    problems.push(`the RootAnchored event says issuer ${issuer}, size ${size};` +
      ` expected ${expectedIssuer}, size ${expectedSize}`);
  }
  return problems;
}

/** {contract, root, issuer, size} of a RootAnchored log, or null for any other log. */
function rootAnchored(log) {
  const topics = (log.topics || []).map(t => String(t).toLowerCase());
  const data = String(log.data || '0x').replace(/^0x/, '');
  if(log.removed || topics.length !== 3 || topics[0] !== ROOT_ANCHORED_TOPIC) {
    return null;
  }
  if(data.length !== 64 || topics[2].length !== 66) {
    return null;
  }
  return {
    contract: checksumAddress(String(log.address)),
    root: topics[1].slice(2),
    issuer: checksumAddress('0x' + topics[2].slice(26)),
    size: BigInt('0x' + data),
  };
}

export function checkIssuerRegistered(issuer, contract, registered) {
  if(registered.error !== undefined) {
    return failedRead(ISSUER_REGISTERED, `cannot read isIssuer: ${registered.error}`,
      registered);
  }
  if(!registered.value) {
    return failed(ISSUER_REGISTERED, `${checksumAddress(issuer)} is not an active issuer on ` +
      `${contract} (never registered, or suspended)`);
  }
  return passed(ISSUER_REGISTERED, `${checksumAddress(issuer)} is an active issuer`);
}

export async function checkNotRevoked(bundle, chain, contract, record) {
  // Revocations are keyed by the issuer that anchored the root; the bundle's claim is the
  // fallback only when there is no anchor to say who that is.
  const found = anchored(record);
  const issuer = found ? found.issuer : checksumAddress(bundle.anchor.issuer);
  return checkRevocations(bundle, chain, contract, issuer);
}
