// The chain, read over JSON-RPC from the page: the MicroCredentialLedger's view functions
// by eth_call, blocks, receipts and IssuerRegistered logs. The ABI of these few calls is
// encoded by hand (selectors and topics from keccak-256 of their signatures).

import {readCapped} from './fetch.js';
import {bytesOfHex, checksumAddress, hexOf, keccak, utf8} from './util.js';

const RPC_TIMEOUT_MS = 10000;
const MAX_REPLY_BYTES = 8 * 1024 * 1024;

/** The chain could not be read (the RPC did not answer, or refused): "cannot check".
 * `reverted`: the call reached the contract, which reverted with `revertData` (hex). */
export class RpcError extends Error {
  constructor(message, {reverted = false, revertData = null} = {}) {
    super(message);
    this.reverted = reverted;
    this.revertData = revertData;
  }
}

/** The chain answered something that is not what the contract returns. */
export class DecodeError extends Error {}

function selector(signature) {
  return hexOf(keccak(utf8(signature)).slice(0, 4));
}

export function eventTopic(signature) {
  return '0x' + hexOf(keccak(utf8(signature)));
}

export const ROOT_ANCHORED_TOPIC = eventTopic('RootAnchored(bytes32,address,uint64)');
const ISSUER_REGISTERED_TOPIC = eventTopic('IssuerRegistered(address,string)');
export const REVOCATIONS_COMMITTED_TOPIC = eventTopic(
  'RevocationsCommitted(address,bytes32,bytes32,uint64,uint64,uint64,uint8,bytes32[])');
export const TIMESTAMPED_HASHES_TOPIC =
  eventTopic('TimestampedHashes(bytes32[],uint256[],bytes[],bytes[])');
const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000';

function word(hex) {
  return hex.replace(/^0x/, '').toLowerCase().padStart(64, '0');
}

function words(result) {
  const body = (result || '').replace(/^0x/, '');
  if(!body.length || body.length % 64) {
    throw new DecodeError(`the contract returned ${body.length / 2} bytes`);
  }
  return body.match(/.{64}/g);
}

function uint(wordHex) {
  return BigInt('0x' + wordHex);
}

function addressOf(wordHex) {
  return checksumAddress('0x' + wordHex.slice(24));
}

export class ChainReader {
  constructor(rpcUrl) {
    this.rpcUrl = rpcUrl;
    this.nextId = 1;
  }

  async call(method, params) {
    let url;
    try {
      url = new URL(this.rpcUrl);
    } catch {
      throw new RpcError(`not a URL: ${this.rpcUrl}`);
    }
    if(url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new RpcError(`not an http(s) URL: ${this.rpcUrl}`);
    }
    const body = JSON.stringify({jsonrpc: '2.0', id: this.nextId++, method, params});
    let reply;
    try {
      const response = await fetch(url, {
        method: 'POST', body, headers: {'Content-Type': 'application/json'},
        credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer',
        signal: AbortSignal.timeout(RPC_TIMEOUT_MS),
      });
      if(!response.ok) {
        throw new Error(`HTTP ${response.status}`);
      }
      reply = JSON.parse(new TextDecoder().decode(await readCapped(response, MAX_REPLY_BYTES)));
    } catch(error) {
      throw new RpcError(`${method} failed on ${this.rpcUrl}: ${error.message || error}`);
    }
    if(reply && reply.error) {
      const message = reply.error.message || JSON.stringify(reply.error);
      const data = typeof reply.error.data === 'string' ? reply.error.data : null;
      throw new RpcError(`${method} failed on ${this.rpcUrl}: ${message}`,
        {reverted: /revert/i.test(message), revertData: data});
    }
    return reply ? reply.result : undefined;
  }

  async ethCall(contract, data) {
    return this.call('eth_call', [{to: contract, data: '0x' + data}, 'latest']);
  }

  async chainId() {
    return Number(BigInt(await this.call('eth_chainId', [])));
  }

  /** anchorOf(root): {issuer, treeSize, anchoredAt, exists}. */
  async anchorOf(contract, root) {
    const out = words(await this.ethCall(
      contract, selector('anchorOf(bytes32)') + hexOf(root)));
    const issuer = addressOf(out[0]);
    return {
      issuer,
      treeSize: uint(out[1]),
      anchoredAt: Number(uint(out[2])),
      exists: issuer !== '0x0000000000000000000000000000000000000000',
    };
  }

  async isIssuer(contract, issuer) {
    const out = words(await this.ethCall(
      contract, selector('isIssuer(address)') + word(issuer)));
    return uint(out[0]) !== 0n;
  }

  async revokedAt(contract, issuer, digest) {
    const out = words(await this.ethCall(
      contract, selector('revokedAt(address,bytes32)') + word(issuer) + hexOf(digest)));
    return Number(uint(out[0]));
  }

  /** revocationOf(issuer, digest): [revokedAt, reason]. */
  async revocationOf(contract, issuer, digest) {
    const out = words(await this.ethCall(
      contract, selector('revocationOf(address,bytes32)') + word(issuer) + hexOf(digest)));
    return [Number(uint(out[0])), Number(uint(out[1]))];
  }

  /** version(): the contract's interface version; 1 for the first, which has no such
   * function (the call reverts without data). */
  async version(contract) {
    try {
      return Number(uint(words(await this.ethCall(contract, selector('version()')))[0]));
    } catch(error) {
      if(error instanceof RpcError && error.reverted &&
        (error.revertData === null || error.revertData === '0x')) {
        return 1;
      }
      throw error;
    }
  }

  /** revocationRootOf(issuer): {root, size, updatedAt, updatedBlock}. */
  async revocationRootOf(contract, issuer) {
    const out = words(await this.ethCall(
      contract, selector('revocationRootOf(address)') + word(issuer)));
    return {
      root: bytesOfHex(out[0]),
      size: uint(out[1]),
      updatedAt: Number(uint(out[2])),
      updatedBlock: Number(uint(out[3])),
    };
  }

  /** statusListHashOf(issuer, listId): {listHash, updatedAt} (zero hash: never). */
  async statusListHashOf(contract, issuer, listId) {
    const out = words(await this.ethCall(contract,
      selector('statusListHashOf(address,bytes32)') + word(issuer) + hexOf(listId)));
    return {listHash: bytesOfHex(out[0]), updatedAt: Number(uint(out[1]))};
  }

  /** The issuer's RevocationsCommitted events in one block, decoded. */
  async revocationCommitments(contract, issuer, block) {
    const at = '0x' + block.toString(16);
    const logs = await this.call('eth_getLogs', [{
      address: contract, fromBlock: at, toBlock: at,
      topics: [REVOCATIONS_COMMITTED_TOPIC, '0x' + word(issuer)],
    }]);
    return (logs || []).filter(log => !log.removed).map(revocationsCommitted);
  }

  /** getTimestamp(hashValue) of EBSI's Timestamp interface: {hashAlgorithmId, hashValue,
   * timestampedBy, blockNumber, data, exists} (zeros when never timestamped). */
  async getTimestamp(contract, hashValue) {
    const padded = hexOf(hashValue).padEnd(Math.ceil(hashValue.length / 32) * 64, '0');
    const out = words(await this.ethCall(contract, selector('getTimestamp(bytes)') +
      word('20') + word(hashValue.length.toString(16)) + padded));
    const timestampedBy = addressOf(out[2]);
    return {
      hashAlgorithmId: uint(out[0]),
      hashValue: dynamicBytes(out, 1),
      timestampedBy,
      blockNumber: Number(uint(out[3])),
      data: dynamicBytes(out, 4),
      exists: timestampedBy !== ZERO_ADDRESS,
    };
  }

  /** The block, or null when there is none. */
  async block(number) {
    return this.call('eth_getBlockByNumber', ['0x' + number.toString(16), false]);
  }

  /** The receipt, or null when the transaction is unknown or not mined. */
  async receipt(hash) {
    return this.call('eth_getTransactionReceipt', [hash]);
  }

  /** The DID the issuer address was registered under as of `toBlock`, or null. */
  async registeredDid(contract, issuer, toBlock) {
    const logs = await this.call('eth_getLogs', [{
      address: contract, fromBlock: '0x0', toBlock: '0x' + toBlock.toString(16),
      topics: [ISSUER_REGISTERED_TOPIC, '0x' + word(issuer)],
    }]);
    const live = (logs || []).filter(log => !log.removed);
    if(!live.length) {
      return null;
    }
    return decodeString(live[live.length - 1].data);
  }
}

/** A RevocationsCommitted log: its roots, size, previous block, time, reason and digests. */
function revocationsCommitted(log) {
  const out = words(log.data);
  const offset = Number(uint(out[5])) / 32;
  const count = offset < out.length ? Number(uint(out[offset])) : -1;
  if(out.length < 7 || !Number.isInteger(offset) || count < 0 ||
    offset + count >= out.length || log.topics.length !== 3) {
    throw new DecodeError('a truncated RevocationsCommitted event');
  }
  return {
    newRoot: bytesOfHex(log.topics[2]),
    previousRoot: bytesOfHex(out[0]),
    newSize: uint(out[1]),
    previousBlock: Number(uint(out[2])),
    revokedAt: Number(uint(out[3])),
    reason: Number(uint(out[4])),
    digests: out.slice(offset + 1, offset + 1 + count),
    blockNumber: Number(BigInt(log.blockNumber)),
    transactionHash: String(log.transactionHash).toLowerCase(),
  };
}

/** The `bytes` whose offset sits in word `at` of an ABI-encoded tuple. */
function dynamicBytes(out, at) {
  const offset = Number(uint(out[at])) / 32;
  if(!Number.isInteger(offset) || offset >= out.length) {
    throw new DecodeError('a bytes value outside the returned data');
  }
  const length = Number(uint(out[offset]));
  const bytes = bytesOfHex(out.slice(offset + 1).join('')).slice(0, length);
  if(bytes.length !== length) {
    throw new DecodeError('a truncated bytes value in the returned data');
  }
  return bytes;
}

/** The timestamp ids (bytes32[], the first argument) of a TimestampedHashes log's data. */
export function timestampIdsOf(data) {
  const out = words(data);
  const offset = Number(uint(out[0])) / 32;
  const count = Number(uint(out[offset]));
  if(!Number.isInteger(offset) || offset + count >= out.length) {
    throw new DecodeError('a truncated TimestampedHashes event');
  }
  return out.slice(offset + 1, offset + 1 + count);
}

/** An ABI-encoded `string` (the event's one non-indexed argument). */
function decodeString(data) {
  const out = words(data);
  const offset = Number(uint(out[0])) / 32;
  const length = Number(uint(out[offset]));
  const bytes = bytesOfHex(out.slice(offset + 1).join('')).slice(0, length);
  if(bytes.length !== length) {
    throw new DecodeError('a truncated string in the IssuerRegistered event');
  }
  return new TextDecoder('utf-8', {fatal: true}).decode(bytes);
}
