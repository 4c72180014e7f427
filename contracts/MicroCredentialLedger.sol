// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title MicroCredentialLedger
/// @notice Anchors the roots of RFC 6962 Merkle trees of micro-credential digests and records
///         revocations of those digests, per issuer. The admin (the deployer, until transferred)
///         registers and suspends issuers; only active issuers can anchor or revoke.
/// @dev Gas is the design constraint: `anchor` writes exactly one storage slot per root and
///      `revoke` one slot per digest, so both are packed by hand into a uint256 (see the layouts
///      beside the mappings). Every refusal is a custom error so that clients can name it.
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
}
