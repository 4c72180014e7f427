// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title MicroCredentialLedger
/// @notice Anchors the roots of RFC 6962 Merkle trees of micro-credential digests and records
///         revocations of those digests, per issuer. The admin (the deployer, until transferred)
///         registers and suspends issuers; only active issuers can anchor or revoke.
/// @dev Gas is the design constraint: `anchor` writes exactly one storage slot per root and
///      `revoke` one slot per digest, so both are packed by hand into a uint256 (see the layouts
///      beside the mappings). Every refusal is a custom error so that clients can name it.
///      Version 2 adds revocation commitments: an issuer's revocations as the root of an
///      authenticated set (docs/formats.md "The revocation set"), updated by compare-and-swap,
///      with the digests in calldata and one event, and the SHA-256 of its status lists.
contract MicroCredentialLedger {
    // ---------------------------------------------------------------------------------------
    // Errors: one for every refusal, with the values a client needs to explain it.
    // ---------------------------------------------------------------------------------------

    /// @notice `caller` is not the admin.
    error NotAdmin(address caller);
    /// @notice The zero address was given where an account is required.
    error ZeroAddress();
    /// @notice An issuer was registered without a DID.
    error EmptyDid();
    /// @notice `issuer` is already registered and active.
    error IssuerAlreadyRegistered(address issuer);
    /// @notice `issuer` was never registered.
    error IssuerNotRegistered(address issuer);
    /// @notice `issuer` is registered but suspended.
    error IssuerIsSuspended(address issuer);
    /// @notice The root to anchor is zero (never the root of a real tree).
    error ZeroRoot();
    /// @notice The tree size is zero: an empty tree has nothing to prove.
    error EmptyTree();
    /// @notice `root` is already anchored, by `issuer`; a root is anchored once, by anyone.
    error RootAlreadyAnchored(bytes32 root, address issuer);
    /// @notice `revoke` was called with an empty list.
    error NoDigests();
    /// @notice The digest at position `index` of the list is zero.
    error ZeroDigest(uint256 index);
    /// @notice `reason` is not one of the revocation reasons 0..5.
    error InvalidReason(uint8 reason);
    /// @notice The commitment builds on `previousRoot`, but the issuer's root is now
    ///         `currentRoot`: another commitment came first. Rebuild on the current root.
    error StaleRevocationRoot(bytes32 currentRoot, bytes32 previousRoot);
    /// @notice `newSize` cannot follow `currentSize` after adding `digests` digests: a set
    ///         never shrinks, grows by at most the digests given, and is not empty after them.
    error InvalidRevocationSize(uint64 currentSize, uint64 newSize, uint256 digests);
    /// @notice The root must change exactly when the size does (`newSize` against the
    ///         current size): a set that grew has a new root, one that did not keeps its root.
    error InconsistentRevocationRoot(bytes32 newRoot, uint64 newSize);
    /// @notice `revokedAt` is zero or later than the block's time `blockTime`.
    error InvalidRevocationTime(uint64 revokedAt, uint256 blockTime);
    /// @notice The status-list id at position `index` is zero.
    error ZeroStatusListId(uint256 index);
    /// @notice The status-list hash at position `index` is zero.
    error ZeroStatusListHash(uint256 index);
    /// @notice `commitStatusLists` was called with no list.
    error NoStatusLists();

    // ---------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------

    /// @notice `issuer` anchored `root`, the root of a tree of `treeSize` leaves.
    event RootAnchored(bytes32 indexed root, address indexed issuer, uint64 treeSize);
    /// @notice `issuer` revoked `digest` for `reason` (emitted once per digest, the first time).
    event CredentialRevoked(address indexed issuer, bytes32 indexed digest, uint8 reason);
    /// @notice `issuer` was registered (or re-activated) under `did`.
    event IssuerRegistered(address indexed issuer, string did);
    /// @notice `issuer` was suspended: it can no longer anchor or revoke.
    event IssuerSuspended(address indexed issuer);
    /// @notice The admin role passed from `previousAdmin` to `newAdmin` (zero at deployment).
    event AdminTransferred(address indexed previousAdmin, address indexed newAdmin);
    /// @notice `issuer` added `digests` (revoked for `reason`, at `revokedAt` as it declares)
    ///         to its revocation set, whose root went from `previousRoot` to `newRoot` and
    ///         size to `newSize`. `previousBlock` is the block of the issuer's previous
    ///         commitment (0 for the first), so an auditor walks the chain of commitments
    ///         back from `revocationRootOf` one block at a time and rebuilds the set.
    event RevocationsCommitted(
        address indexed issuer,
        bytes32 indexed newRoot,
        bytes32 previousRoot,
        uint64 newSize,
        uint64 previousBlock,
        uint64 revokedAt,
        uint8 reason,
        bytes32[] digests
    );
    /// @notice `issuer` committed `listHash`, the SHA-256 of the status list `listId` it serves.
    event StatusListCommitted(address indexed issuer, bytes32 indexed listId, bytes32 listHash);

    // ---------------------------------------------------------------------------------------
    // Storage
    // ---------------------------------------------------------------------------------------

    /// Revocation reasons: 0 unspecified, 1 issued in error, 2 fraud or misconduct,
    /// 3 superseded (re-issued), 4 withdrawn at the learner's request, 5 issuer key compromise.
    uint8 private constant MAX_REASON = 5;

    // Issuer states. "Never registered" is the mapping's default, so it costs nothing.
    uint8 private constant UNREGISTERED = 0;
    uint8 private constant ACTIVE = 1;
    uint8 private constant SUSPENDED = 2;

    /// @notice The account allowed to register and suspend issuers and to hand the role on.
    address public admin;

    /// issuer => UNREGISTERED | ACTIVE | SUSPENDED. The DID lives in the IssuerRegistered event
    /// only: storing a string would cost the admin gas and no reader of the chain needs it there.
    mapping(address => uint8) private _issuerState;

    /// root => packed anchor, one slot: bits 0..159 issuer, 160..223 treeSize,
    /// 224..255 anchoredAt (seconds; 32 bits last until the year 2106). Zero means "not anchored",
    /// which is unambiguous because the issuer of an anchor is never the zero address.
    mapping(bytes32 => uint256) private _anchors;

    /// issuer => digest => packed revocation, one slot: bits 0..63 revokedAt (seconds),
    /// 64..71 reason. Zero means "not revoked": block.timestamp is never zero on a live chain.
    mapping(address => mapping(bytes32 => uint256)) private _revocations;

    /// The interface version `version()` reports: 2 adds the revocation commitments.
    uint16 private constant VERSION = 2;

    /// An issuer's revocation commitment, two slots: the root of its revocation set (zero: the
    /// empty set, also "never committed") and, packed in the second, the set's size and the
    /// time and block of the last commitment. A 256-bit root leaves no room in its slot, so a
    /// commitment writes two slots; a single keccak of both would save one write (~2,900 gas,
    /// about 3 gas a credential in a flush of 1,000) but leave nothing a view could return.
    struct RevocationCommitment {
        bytes32 root;
        uint64 size;
        uint64 updatedAt;
        uint64 updatedBlock;
    }

    /// A status list and the SHA-256 of its credential as the issuer serves it, as given to
    /// `commitRevocations` and `commitStatusLists`.
    struct StatusListHash {
        bytes32 listId;
        bytes32 listHash;
    }

    /// A status list's commitment: its SHA-256 and when it was committed (two slots: the
    /// full hash, and the time).
    struct StatusListCommitment {
        bytes32 listHash;
        uint64 updatedAt;
    }

    /// issuer => its revocation commitment.
    mapping(address => RevocationCommitment) private _commitments;

    /// issuer => status-list id => its commitment.
    mapping(address => mapping(bytes32 => StatusListCommitment)) private _statusLists;

    /// @notice The deployer becomes the admin.
    constructor() {
        admin = msg.sender;
        emit AdminTransferred(address(0), msg.sender);
    }

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        _;
    }

    // ---------------------------------------------------------------------------------------
    // Issuers
    // ---------------------------------------------------------------------------------------

    /// @notice Register `issuer` under `did`, or re-activate a suspended issuer (possibly under a
    ///         new DID). Re-activation is deliberate: a suspension is an administrative pause,
    ///         not a revocation of what the issuer anchored before it.
    /// @dev Admin only. Reverts IssuerAlreadyRegistered if the issuer is already active.
    /// @param issuer The account that will sign the issuer's anchor and revoke transactions.
    /// @param did The issuer's DID, recorded in the IssuerRegistered event.
    function registerIssuer(address issuer, string calldata did) external onlyAdmin {
        if (issuer == address(0)) revert ZeroAddress();
        if (bytes(did).length == 0) revert EmptyDid();
        if (_issuerState[issuer] == ACTIVE) revert IssuerAlreadyRegistered(issuer);
        _issuerState[issuer] = ACTIVE;
        emit IssuerRegistered(issuer, did);
    }

    /// @notice Suspend `issuer`: it can neither anchor nor revoke until registered again.
    ///         Its anchors and revocations stay on record.
    /// @dev Admin only. Reverts if the issuer was never registered or is already suspended.
    /// @param issuer The issuer to suspend.
    function suspendIssuer(address issuer) external onlyAdmin {
        uint8 state = _issuerState[issuer];
        if (state == UNREGISTERED) revert IssuerNotRegistered(issuer);
        if (state == SUSPENDED) revert IssuerIsSuspended(issuer);
        _issuerState[issuer] = SUSPENDED;
        emit IssuerSuspended(issuer);
    }

    /// @notice Hand the admin role to `newAdmin` (one step: the caller must get the address right).
    /// @dev Admin only.
    /// @param newAdmin The new admin; not the zero address.
    function transferAdmin(address newAdmin) external onlyAdmin {
        if (newAdmin == address(0)) revert ZeroAddress();
        emit AdminTransferred(msg.sender, newAdmin);
        admin = newAdmin;
    }

    /// @notice Whether `issuer` is registered and not suspended.
    /// @param issuer The account to check.
    /// @return True if the issuer may anchor and revoke now.
    function isIssuer(address issuer) external view returns (bool) {
        return _issuerState[issuer] == ACTIVE;
    }

    /// @dev Reverts unless `account` is an active issuer; read once per call (one cold SLOAD).
    function _requireActive(address account) private view {
        uint8 state = _issuerState[account];
        if (state != ACTIVE) {
            if (state == SUSPENDED) revert IssuerIsSuspended(account);
            revert IssuerNotRegistered(account);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Anchors
    // ---------------------------------------------------------------------------------------

    /// @notice Anchor `root`, the RFC 6962 root of a tree of `treeSize` leaves, as the caller's.
    /// @dev Active issuers only. A root is anchored once: a second anchor of the same root, by
    ///      anyone, reverts RootAlreadyAnchored naming the first issuer. Writes one slot.
    /// @param root The tree's root hash; not zero.
    /// @param treeSize The number of leaves; not zero. Bound on chain because an inclusion
    ///        proof alone does not bind the size of its tree.
    function anchor(bytes32 root, uint64 treeSize) external {
        _requireActive(msg.sender);
        if (root == bytes32(0)) revert ZeroRoot();
        if (treeSize == 0) revert EmptyTree();
        uint256 existing = _anchors[root];
        if (existing != 0) revert RootAlreadyAnchored(root, address(uint160(existing)));
        // Truncating the timestamp to 32 bits is exact until 2106 (see the layout above).
        _anchors[root] =
            uint256(uint160(msg.sender)) |
            (uint256(treeSize) << 160) |
            (uint256(uint32(block.timestamp)) << 224);
        emit RootAnchored(root, msg.sender, treeSize);
    }

    /// @notice Who anchored `root`, the size of its tree and when (block time, seconds).
    /// @param root The root to look up.
    /// @return issuer The anchoring issuer, or the zero address if `root` is not anchored.
    /// @return treeSize The tree size given at anchoring, 0 if not anchored.
    /// @return anchoredAt The block timestamp of the anchoring, 0 if not anchored.
    function anchorOf(bytes32 root)
        external
        view
        returns (address issuer, uint64 treeSize, uint64 anchoredAt)
    {
        uint256 packed = _anchors[root];
        issuer = address(uint160(packed));
        treeSize = uint64(packed >> 160);
        anchoredAt = uint64(packed >> 224);
    }

    // ---------------------------------------------------------------------------------------
    // Revocations
    // ---------------------------------------------------------------------------------------

    /// @notice Revoke `digests` as the caller, for `reason`. Revocations are keyed by the
    ///         calling issuer, so no issuer can revoke another's credentials.
    /// @dev Active issuers only. A digest that the caller already revoked is skipped: its first
    ///      time and reason stay and no second event is emitted. All or nothing: a zero digest
    ///      anywhere in the list reverts the whole call. One slot and one event per new digest.
    /// @param digests The credential digests to revoke; at least one, none zero.
    /// @param reason The revocation reason, 0..5 (see MAX_REASON).
    function revoke(bytes32[] calldata digests, uint8 reason) external {
        _requireActive(msg.sender);
        uint256 n = digests.length;
        if (n == 0) revert NoDigests();
        if (reason > MAX_REASON) revert InvalidReason(reason);
        // The caller's inner mapping is located once; the packed value is the same for every
        // digest of the call.
        mapping(bytes32 => uint256) storage mine = _revocations[msg.sender];
        uint256 packed = uint256(uint64(block.timestamp)) | (uint256(reason) << 64);
        for (uint256 i; i < n; ) {
            bytes32 digest = digests[i];
            if (digest == bytes32(0)) revert ZeroDigest(i);
            if (mine[digest] == 0) {
                mine[digest] = packed;
                emit CredentialRevoked(msg.sender, digest, reason);
            }
            // i < n <= calldata size, so the increment cannot overflow.
            unchecked {
                ++i;
            }
        }
    }

    /// @notice When `issuer` revoked `digest` (block time, seconds), or 0 if it has not.
    /// @param issuer The issuer whose revocations to look in.
    /// @param digest The credential digest.
    /// @return The revocation's block timestamp, 0 if not revoked.
    function revokedAt(address issuer, bytes32 digest) external view returns (uint64) {
        return uint64(_revocations[issuer][digest]);
    }

    /// @notice When and why `issuer` revoked `digest`.
    /// @param issuer The issuer whose revocations to look in.
    /// @param digest The credential digest.
    /// @return revokedAt_ The revocation's block timestamp, 0 if not revoked.
    /// @return reason The reason given, 0..5 (0 also when not revoked: check the time).
    function revocationOf(address issuer, bytes32 digest)
        external
        view
        returns (uint64 revokedAt_, uint8 reason)
    {
        uint256 packed = _revocations[issuer][digest];
        revokedAt_ = uint64(packed);
        reason = uint8(packed >> 64);
    }

    // ---------------------------------------------------------------------------------------
    // Revocation commitments (version 2)
    // ---------------------------------------------------------------------------------------

    /// @notice The interface version: 2 (the first version, without this function, is 1).
    function version() external pure returns (uint16) {
        return VERSION;
    }

    /// @notice Commit a flush of revocations: `digests` join the caller's revocation set, whose
    ///         root goes from `previousRoot` to `newRoot` and size to `newSize`; the SHA-256 of
    ///         each status list the flush changed is committed beside it.
    /// @dev Active issuers only. Compare-and-swap on the root: refused unless `previousRoot`
    ///      is the caller's current root, so two flushes can never fork the set. The contract
    ///      does not hash the set (that would cost the gas this path saves): the digests go to
    ///      the event, from which anyone rebuilds the set and checks `newRoot` and `newSize`.
    ///      Writes two slots, plus two per status list.
    /// @param previousRoot The caller's current root (zero before its first commitment).
    /// @param newRoot The set's root with `digests` added; not zero.
    /// @param newSize The set's size with `digests` added (a digest already in it is skipped).
    /// @param digests The flush's digests; at least one, none zero.
    /// @param reason The revocation reason of all of them, 0..5.
    /// @param revokedAt_ When they were revoked, as the issuer declares it (seconds; not zero,
    ///        not after this block); every leaf of the flush binds it with the reason.
    /// @param statusLists The status lists the flush changed, each with the SHA-256 of its
    ///        credential as the issuer now serves it (may be empty); no id or hash zero.
    function commitRevocations(
        bytes32 previousRoot,
        bytes32 newRoot,
        uint64 newSize,
        bytes32[] calldata digests,
        uint8 reason,
        uint64 revokedAt_,
        StatusListHash[] calldata statusLists
    ) external {
        _requireActive(msg.sender);
        if (reason > MAX_REASON) revert InvalidReason(reason);
        if (revokedAt_ == 0 || revokedAt_ > block.timestamp) {
            revert InvalidRevocationTime(revokedAt_, block.timestamp);
        }
        _checkDigests(digests);
        uint64 previousBlock = _swapRevocationRoot(previousRoot, newRoot, newSize, digests.length);
        _emitRevocationsCommitted(
            previousRoot,
            newRoot,
            newSize,
            previousBlock,
            revokedAt_,
            reason,
            digests
        );
        if (statusLists.length != 0) _commitStatusLists(statusLists);
    }

    /// @dev Reverts NoDigests or ZeroDigest(i) (the same rules as `revoke`).
    function _checkDigests(bytes32[] calldata digests) private pure {
        uint256 n = digests.length;
        if (n == 0) revert NoDigests();
        for (uint256 i; i < n; ) {
            if (digests[i] == bytes32(0)) revert ZeroDigest(i);
            // i < n <= calldata size, so the increment cannot overflow.
            unchecked {
                ++i;
            }
        }
    }

    /// @dev The compare-and-swap of the caller's root, after checking that `newRoot` and
    ///      `newSize` can follow the current commitment with `added` digests; writes both slots
    ///      and returns the block of the commitment it replaces.
    function _swapRevocationRoot(
        bytes32 previousRoot,
        bytes32 newRoot,
        uint64 newSize,
        uint256 added
    ) private returns (uint64 previousBlock) {
        if (newRoot == bytes32(0)) revert ZeroRoot();
        RevocationCommitment storage current = _commitments[msg.sender];
        if (current.root != previousRoot) revert StaleRevocationRoot(current.root, previousRoot);
        uint64 size = current.size;
        // The size grows by at most `added` (a digest already in the set is skipped), never
        // shrinks, and a set with a digest in it is not empty.
        if (newSize < size || newSize == 0 || newSize - size > added) {
            revert InvalidRevocationSize(size, newSize, added);
        }
        if ((newSize == size) != (newRoot == previousRoot)) {
            revert InconsistentRevocationRoot(newRoot, newSize);
        }
        previousBlock = current.updatedBlock;
        _commitments[msg.sender] = RevocationCommitment(
            newRoot,
            newSize,
            uint64(block.timestamp),
            uint64(block.number)
        );
    }

    /// @dev Its own frame: the event's eight values do not fit beside the caller's arguments.
    function _emitRevocationsCommitted(
        bytes32 previousRoot,
        bytes32 newRoot,
        uint64 newSize,
        uint64 previousBlock,
        uint64 revokedAt_,
        uint8 reason,
        bytes32[] calldata digests
    ) private {
        emit RevocationsCommitted(
            msg.sender,
            newRoot,
            previousRoot,
            newSize,
            previousBlock,
            revokedAt_,
            reason,
            digests
        );
    }

    /// @notice Commit the SHA-256 of status lists that changed without a revocation (a
    ///         suspension, or its end).
    /// @dev Active issuers only; at least one list. Two slots and one event per list.
    /// @param statusLists The lists, each with the SHA-256 of its credential as the issuer
    ///        now serves it; no id or hash zero.
    function commitStatusLists(StatusListHash[] calldata statusLists) external {
        _requireActive(msg.sender);
        if (statusLists.length == 0) revert NoStatusLists();
        _commitStatusLists(statusLists);
    }

    /// @dev A zero id or hash reverts the whole call (the transaction), so a refusal changes
    ///      nothing.
    function _commitStatusLists(StatusListHash[] calldata statusLists) private {
        uint256 n = statusLists.length;
        mapping(bytes32 => StatusListCommitment) storage mine = _statusLists[msg.sender];
        for (uint256 i; i < n; ) {
            bytes32 listId = statusLists[i].listId;
            bytes32 listHash = statusLists[i].listHash;
            if (listId == bytes32(0)) revert ZeroStatusListId(i);
            if (listHash == bytes32(0)) revert ZeroStatusListHash(i);
            mine[listId] = StatusListCommitment(listHash, uint64(block.timestamp));
            emit StatusListCommitted(msg.sender, listId, listHash);
            unchecked {
                ++i;
            }
        }
    }

    /// @notice The issuer's revocation commitment.
    /// @param issuer The issuer to look up.
    /// @return root The root of its revocation set (zero: empty, never committed).
    /// @return size How many digests the set holds.
    /// @return updatedAt The block time of the last commitment (0: never).
    /// @return updatedBlock The block of the last commitment (0: never), where its
    ///         RevocationsCommitted event is.
    function revocationRootOf(address issuer)
        external
        view
        returns (bytes32 root, uint64 size, uint64 updatedAt, uint64 updatedBlock)
    {
        RevocationCommitment storage c = _commitments[issuer];
        return (c.root, c.size, c.updatedAt, c.updatedBlock);
    }

    /// @notice The SHA-256 the issuer committed for status list `listId`.
    /// @param issuer The issuer to look up.
    /// @param listId The status list's id.
    /// @return listHash The committed SHA-256 (zero: never committed).
    /// @return updatedAt The block time of its commitment (0: never).
    function statusListHashOf(address issuer, bytes32 listId)
        external
        view
        returns (bytes32 listHash, uint64 updatedAt)
    {
        StatusListCommitment storage c = _statusLists[issuer][listId];
        return (c.listHash, c.updatedAt);
    }
}
