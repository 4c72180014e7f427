// A bundle whose root was timestamped through EBSI's Timestamp interface (anchor.target
// "ebsi-timestamp"), checked as node/verifier/timestamped.py checks it, in its words: the
// root by getTimestamp, its sender, the tree size in the timestamp's data (the `mcl`
// layout of anchoring/timestamp_data.py), the block and the TimestampedHashes event; the
// issuer registry and on-chain revocations on the ledger the bundle names beside it, and
// without one, a pass that says what is not established.

import {
  blockCheck, blockProblemsOf, checkChainId, checkInclusion, checkIssuerRegistered, checkNotRevoked,
  failedRead, formatDetail, read, receiptProblemsOf,
} from './bundle.js';
import {
  ANCHOR_ISSUER, ANCHOR_ROOT, ANCHOR_TREE_SIZE, BUNDLE_FORMAT, DIGEST_NOT_REVOKED,
  ISSUER_REGISTERED,
} from './names.js';
import {failed, passed} from './report.js';
import {TIMESTAMPED_HASHES_TOPIC, timestampIdsOf} from './rpc.js';
import {checksumAddress, hexOf, sha256} from './util.js';

const MAGIC = [0x6d, 0x63, 0x6c]; // "mcl"
const VERSION = 1;
const HEADER = 12;
const MAX_DID_BYTES = 2048;

export const NO_ONCHAIN_REVOCATION = 'no on-chain revocation beside the ebsi-timestamp ' +
  'anchor: revocation is read from the credential\'s status list';

function noRegistry(address, did) {
  return `no issuer registry beside the ebsi-timestamp anchor: the timestamp's sender ` +
    `${address} declares ${did} in its data; EBSI's Trusted Issuers Registry is not consulted`;
}

class TimestampDataError extends Error {}

/** {version, treeSize, issuerDid} of the node's timestampData; TimestampDataError if not. */
export function decodeTimestampData(data) {
  if(data.length < MAGIC.length + 1) {
    throw new TimestampDataError(
      `timestampData is ${data.length} bytes: too short for the b'mcl' header`);
  }
  if(MAGIC.some((byte, i) => data[i] !== byte)) {
    throw new TimestampDataError(`timestampData starts with 0x${hexOf(data.slice(0, 3))}, ` +
      'not the magic b\'mcl\'');
  }
  if(data[3] !== VERSION) {
    throw new TimestampDataError(
      `timestampData is version ${data[3]}; this node reads version ${VERSION} only`);
  }
  if(data.length <= HEADER) {
    throw new TimestampDataError(`timestampData is ${data.length} bytes; version ${VERSION} ` +
      `needs at least ${HEADER + 1} (header, tree size and a DID of one byte or more)`);
  }
  const treeSize = BigInt('0x' + hexOf(data.slice(4, HEADER)));
  if(treeSize === 0n) {
    throw new TimestampDataError('timestampData gives a tree size of 0: an empty tree');
  }
  const raw = data.slice(HEADER);
  if(raw.length > MAX_DID_BYTES) {
    throw new TimestampDataError(`the issuer DID is ${raw.length} bytes of UTF-8; at most ` +
      `${MAX_DID_BYTES} are allowed`);
  }
  if(raw.includes(0)) {
    throw new TimestampDataError(`the issuer DID has a NUL byte at offset ${raw.indexOf(0)}`);
  }
  let issuerDid;
  try {
    issuerDid = new TextDecoder('utf-8', {fatal: true}).decode(raw);
  } catch {
    throw new TimestampDataError('the issuer DID in timestampData is not UTF-8');
  }
  return {version: VERSION, treeSize, issuerDid};
}

/** The DID a timestamp's data declares, or null when the data is not the node's. */
export function timestampDid(record) {
  try {
    return decodeTimestampData(record.data).issuerDid;
  } catch {
    return null;
  }
}

function found(record) {
  return record.value && record.value.exists ? record.value : null;
}

function skip(name, record) {
  if(record.error !== undefined) {
    return failedRead(name, `skipped: cannot read the timestamp: ${record.error}`, record);
  }
  if(!record.value.exists) {
    return failed(name, 'skipped: the root is not timestamped');
  }
  return null;
}

/** Every chain check of a timestamped bundle, through `chain`. */
export async function verifyTimestampedBundle(bundle, chain) {
  const {anchor} = bundle;
  const contract = checksumAddress(anchor.contract);
  const ledger = anchor.ledger === null ? null : checksumAddress(anchor.ledger);
  const [chainId, record, id] = await Promise.all([
    read(() => chain.chainId()),
    read(() => chain.getTimestamp(contract, bundle.proof.root)),
    sha256(bundle.proof.root),
  ]);
  const [inclusion, block, registered, notRevoked] = await Promise.all([
    checkInclusion(bundle),
    checkBlock(bundle, chain, contract, record, id),
    checkRegistered(bundle, chain, ledger, found(record)),
    checkRevocation(bundle, chain, ledger, found(record)),
  ]);
  return [
    passed(BUNDLE_FORMAT, `${formatDetail(bundle)}; anchor target ebsi-timestamp`),
    inclusion,
    checkChainId(anchor.chainId, chainId),
    checkRoot(bundle, contract, record, id),
    checkSender(bundle, record),
    checkTreeSize(bundle, record),
    block,
    registered,
    notRevoked,
  ];
}

function checkRoot(bundle, contract, record, id) {
  const root = hexOf(bundle.proof.root);
  if(record.error !== undefined) {
    return failedRead(ANCHOR_ROOT, `cannot read getTimestamp(${root}): ${record.error}`,
      record);
  }
  const onChain = record.value;
  if(!onChain.exists) {
    return failed(ANCHOR_ROOT, `root ${root} is not timestamped on ${contract}`);
  }
  if(onChain.hashAlgorithmId !== BigInt(bundle.anchor.hashAlgorithmId)) {
    return failed(ANCHOR_ROOT, `root ${root} is timestamped with hash algorithm ` +
      `${onChain.hashAlgorithmId}, the bundle says ${bundle.anchor.hashAlgorithmId}`);
  }
  return passed(ANCHOR_ROOT, `root ${root} timestamped by ${onChain.timestampedBy} in block ` +
    `${onChain.blockNumber} (EBSI Timestamp interface, hash algorithm ` +
    `${onChain.hashAlgorithmId}, id 0x${hexOf(id)})`);
}

function checkSender(bundle, record) {
  const skipped = skip(ANCHOR_ISSUER, record);
  if(skipped) {
    return skipped;
  }
  const sender = record.value.timestampedBy;
  if(sender.toLowerCase() !== bundle.anchor.issuer.toLowerCase()) {
    return failed(ANCHOR_ISSUER, `the root was timestamped by ${sender}, not ` +
      `${checksumAddress(bundle.anchor.issuer)}`);
  }
  return passed(ANCHOR_ISSUER, `timestamped by ${sender}`);
}

function checkTreeSize(bundle, record) {
  const skipped = skip(ANCHOR_TREE_SIZE, record);
  if(skipped) {
    return skipped;
  }
  let data;
  try {
    data = decodeTimestampData(record.value.data);
  } catch(error) {
    return failed(ANCHOR_TREE_SIZE, `the timestamp's data is not mcledger's: ${error.message}`);
  }
  const size = bundle.proof.treeSize;
  if(data.treeSize !== size) {
    return failed(ANCHOR_TREE_SIZE, `the root was timestamped for a tree of ` +
      `${data.treeSize} leaves, the bundle says ${size}`);
  }
  return passed(ANCHOR_TREE_SIZE, `${size} leaves, as the timestamp's data says`);
}

function checkBlock(bundle, chain, contract, record, id) {
  return blockCheck(bundle.anchor, () => blockProblems(bundle, chain, contract, record, id),
    'TimestampedHashes');
}

async function blockProblems(bundle, chain, contract, record, id) {
  const {anchor} = bundle;
  const number = anchor.blockNumber;
  const [block, receipt] = await Promise.all([
    chain.block(number), chain.receipt(anchor.transactionHash),
  ]);
  const {problems, madeAt} = blockProblemsOf(anchor, block);
  if(madeAt === null) {
    return problems;
  }
  if(record.error !== undefined) {
    problems.push(`cannot read the timestamp's block: ${record.error}`);
  } else if(!record.value.exists) {
    problems.push('the contract has no timestamp of this root');
  } else if(record.value.blockNumber !== number) {
    problems.push(`the contract records the timestamp in block ${record.value.blockNumber},` +
      ` not ${number}`);
  }
  problems.push(...receiptProblemsOf(anchor, receipt));
  if(!receipt) {
    return problems;
  }
  const wanted = hexOf(id);
  if(!(receipt.logs || []).some(log => idsOf(log, contract).includes(wanted))) {
    problems.push(`transaction ${anchor.transactionHash} emitted no TimestampedHashes with ` +
      `id 0x${wanted} from ${contract}`);
  }
  return problems;
}

function idsOf(log, contract) {
  const topics = (log.topics || []).map(t => String(t).toLowerCase());
  if(log.removed || topics.length !== 1 || topics[0] !== TIMESTAMPED_HASHES_TOPIC) {
    return [];
  }
  if(checksumAddress(String(log.address)) !== contract) {
    return [];
  }
  try {
    return timestampIdsOf(log.data);
  } catch {
    return [];
  }
}

async function checkRegistered(bundle, chain, ledger, onChain) {
  const issuer = bundle.anchor.issuer;
  if(ledger === null) {
    const did = (onChain ? timestampDid(onChain) : null) || 'no DID';
    return passed(ISSUER_REGISTERED, noRegistry(checksumAddress(issuer), did));
  }
  const registered = await read(() => chain.isIssuer(ledger, issuer));
  return checkIssuerRegistered(issuer, ledger, registered);
}

async function checkRevocation(bundle, chain, ledger, onChain) {
  if(ledger === null) {
    return passed(DIGEST_NOT_REVOKED, NO_ONCHAIN_REVOCATION);
  }
  // Revocations are keyed by the address that timestamped the root (the sender).
  const sender = onChain ? onChain.timestampedBy : checksumAddress(bundle.anchor.issuer);
  const record = {value: {issuer: sender, exists: true}};
  return checkNotRevoked(bundle, chain, ledger, record);
}

