// The name of every check, as node/verifier/names.py spells them: the page reports by the
// same names, in the same order, as `mcledger verify --json` (a test compares the two).

export const BUNDLE_FORMAT = 'bundle.format';
export const MERKLE_INCLUSION = 'merkle.inclusion';
export const CHAIN_ID = 'chain.id';
export const ANCHOR_ROOT = 'anchor.root';
export const ANCHOR_ISSUER = 'anchor.issuer';
export const ANCHOR_TREE_SIZE = 'anchor.treeSize';
export const ANCHOR_BLOCK = 'anchor.block';
export const ISSUER_REGISTERED = 'issuer.registered';
export const DIGEST_NOT_REVOKED = 'digest.notRevoked';

export const CHECK_NAMES = [
  BUNDLE_FORMAT, MERKLE_INCLUSION, CHAIN_ID, ANCHOR_ROOT, ANCHOR_ISSUER,
  ANCHOR_TREE_SIZE, ANCHOR_BLOCK, ISSUER_REGISTERED, DIGEST_NOT_REVOKED,
];

export const CREDENTIAL_SIGNATURE = 'credential.signature';
export const CREDENTIAL_ISSUER = 'credential.issuer';
export const CREDENTIAL_DIGEST = 'credential.digest';
export const CREDENTIAL_ID = 'credential.id';
export const ISSUER_DID = 'issuer.did';
export const COMPONENT_PROVIDED = 'component.provided';
export const COMPONENT_DIGEST = 'component.digest';
export const STATUS_REVOCATION = 'status.revocation';
export const STATUS_SUSPENSION = 'status.suspension';
export const STATUS_COMMITTED = 'status.committed';
export const STATUS_MALFORMED = 'status';

export const CREDENTIAL_CHECK_NAMES = [
  CREDENTIAL_SIGNATURE, CREDENTIAL_ISSUER, CREDENTIAL_DIGEST, CREDENTIAL_ID,
  ...CHECK_NAMES, ISSUER_DID,
];
