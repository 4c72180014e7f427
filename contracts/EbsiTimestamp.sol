// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title EbsiTimestamp
/// @notice Our own implementation of the interface and behaviour of EBSI's Timestamp contract
///         (Timestamp API v4): hashes are timestamped once, by anyone, under a registered hash
///         algorithm, and each is found again by its value or by its id, sha256(value). The
///         node anchors through it where EBSI's network is the target; EBSI's own contract
///         cannot run here, so this one stands in for it in tests and on other Besu networks.
/// @dev Gas is the design constraint (the node sends one 32-byte root a call): a record is one
///      packed header slot plus the raw words of the hash value and of the data, with no length
///      slot of their own (see the layout beside `_headers`). Every refusal is a custom error.
///      Hash algorithm 1 is SHA-256 ("sha2-256", 32 bytes), registered by the constructor; ids
///      are 1..65535 so that the id fits the header and 0 reads as "no record". A hash that was
///      never timestamped reads as a zeroed record (timestampedBy the zero address), not a revert.
contract EbsiTimestamp {
    // ---------------------------------------------------------------------------------------
    // Errors: one for every refusal, with the values a client needs to explain it.
    // ---------------------------------------------------------------------------------------

    /// @notice `caller` is not the admin.
    error NotAdmin(address caller);
    /// @notice A hash algorithm id must be 1..65535.
    error InvalidHashAlgorithmId(uint256 hashAlgorithmId);
    /// @notice A hash algorithm's output length must be 1..64 bytes.
    error InvalidOutputLength(uint256 outputLength);
    /// @notice A hash algorithm was added without a name.
    error EmptyHashAlgorithmName();
    /// @notice `hashAlgorithmId` is registered already; a registration never changes.
    error HashAlgorithmAlreadyRegistered(uint256 hashAlgorithmId);
    /// @notice The three arrays of `timestampHashes` differ in length.
    error ArrayLengthsDiffer(uint256 hashAlgorithmIds, uint256 hashValues, uint256 timestampData);
    /// @notice `timestampHashes` takes 1..3 hashes a call; `count` were given.
    error InvalidHashCount(uint256 count);
    /// @notice `hashAlgorithmId` is not registered.
    error UnknownHashAlgorithm(uint256 hashAlgorithmId);
    /// @notice The hash at `index` is `actual` bytes long; its algorithm outputs `expected`.
    error InvalidHashLength(uint256 index, uint256 expected, uint256 actual);
    /// @notice The hash with id `timestampId` is timestamped already (by anyone).
    error HashAlreadyTimestamped(bytes32 timestampId);

    // ---------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------

    /// @notice One call of `timestampHashes`: the ids and, in the same order, what was given.
    event TimestampedHashes(
        bytes32[] timestampIds,
        uint256[] hashAlgorithmIds,
        bytes[] hashValues,
        bytes[] timestampData
    );
    /// @notice The admin registered hash algorithm `hashAlgorithmId`.
    event HashAlgorithmAdded(uint256 hashAlgorithmId, uint256 outputLength, string name);

    // ---------------------------------------------------------------------------------------
    // Storage
    // ---------------------------------------------------------------------------------------

    uint256 private constant MAX_HASHES = 3;
    uint256 private constant MAX_ALGORITHM_ID = type(uint16).max;
    uint256 private constant MAX_OUTPUT_LENGTH = 64;
    uint256 public constant SHA2_256 = 1;

    struct HashAlgorithm {
        uint8 outputLength; // 0: not registered
        string name;
    }

    /// @notice The account allowed to register hash algorithms: the deployer, for good.
    address public immutable admin;

    /// hashAlgorithmId => its output length and name; entries are added, never changed, so a
    /// stored hash's length can always be read back from its algorithm.
    mapping(uint256 => HashAlgorithm) private _algorithms;

    /// timestampId => packed header, one slot: bits 0..159 timestampedBy, 160..207 blockNumber,
    /// 208..223 hashAlgorithmId, 224..255 the data's length in bytes. Zero means "no record":
    /// timestampedBy is never the zero address. 48 bits of block number last millions of years
    /// at a block a second; no transaction's calldata comes near 2^32 bytes of data.
    mapping(bytes32 => uint256) private _headers;

    /// timestampId => word index => 32 bytes: the hash value's words, then the data's, each
    /// value starting on a new word and its last word padded with zeros.
    mapping(bytes32 => mapping(uint256 => bytes32)) private _words;

    /// @notice The deployer becomes the admin; SHA-256 is registered as hash algorithm 1.
    constructor() {
        admin = msg.sender;
        _addHashAlgorithm(SHA2_256, 32, "sha2-256");
    }

    // ---------------------------------------------------------------------------------------
    // Hash algorithms
    // ---------------------------------------------------------------------------------------

    /// @notice Register hash algorithm `hashAlgorithmId`, whose hashes are `outputLength` bytes.
    /// @dev Admin only. Ids 1..65535, lengths 1..64, a non-empty name; an id is registered once.
    function addHashAlgorithm(
        uint256 hashAlgorithmId,
        uint256 outputLength,
        string calldata name
    ) external {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        _addHashAlgorithm(hashAlgorithmId, outputLength, name);
    }

    function _addHashAlgorithm(uint256 id, uint256 outputLength, string memory name) private {
        if (id == 0 || id > MAX_ALGORITHM_ID) revert InvalidHashAlgorithmId(id);
        if (outputLength == 0 || outputLength > MAX_OUTPUT_LENGTH) {
            revert InvalidOutputLength(outputLength);
        }
        if (bytes(name).length == 0) revert EmptyHashAlgorithmName();
        if (_algorithms[id].outputLength != 0) revert HashAlgorithmAlreadyRegistered(id);
        _algorithms[id] = HashAlgorithm(uint8(outputLength), name);
        emit HashAlgorithmAdded(id, outputLength, name);
    }

    /// @notice Hash algorithm `hashAlgorithmId`: its output length (0 if not registered) and name.
    function getHashAlgorithm(uint256 hashAlgorithmId)
        external
        view
        returns (uint256 outputLength, string memory name)
    {
        HashAlgorithm storage algorithm = _algorithms[hashAlgorithmId];
        return (algorithm.outputLength, algorithm.name);
    }

    // ---------------------------------------------------------------------------------------
    // Timestamps
    // ---------------------------------------------------------------------------------------

    /// @notice Timestamp 1..3 hashes as the caller: the i-th hash `hashValues[i]`, made with
    ///         algorithm `hashAlgorithmIds[i]`, is recorded with `timestampData[i]`.
    /// @dev All or nothing. Reverts if the arrays differ in length, on 0 or more than 3 hashes,
    ///      an unregistered algorithm, a hash of the wrong length, or a hash timestamped before
    ///      (in this call too). Emits one TimestampedHashes.
    /// @return timestampIds sha256 of each hash value, in the order given.
    function timestampHashes(
        uint256[] calldata hashAlgorithmIds,
        bytes[] calldata hashValues,
        bytes[] calldata timestampData
    ) external returns (bytes32[] memory timestampIds) {
        uint256 n = hashAlgorithmIds.length;
        if (hashValues.length != n || timestampData.length != n) {
            revert ArrayLengthsDiffer(n, hashValues.length, timestampData.length);
        }
        if (n == 0 || n > MAX_HASHES) revert InvalidHashCount(n);
        timestampIds = new bytes32[](n);
        for (uint256 i; i < n; ) {
            timestampIds[i] = _record(i, hashAlgorithmIds[i], hashValues[i], timestampData[i]);
            // i < n <= 3.
            unchecked {
                ++i;
            }
        }
        emit TimestampedHashes(timestampIds, hashAlgorithmIds, hashValues, timestampData);
    }

    /// @dev Checks and stores one hash; returns its id.
    function _record(
        uint256 index,
        uint256 algorithmId,
        bytes calldata value,
        bytes calldata data
    ) private returns (bytes32 id) {
        // SHA-256, the node's algorithm, without reading the registry (a cold slot, 2100 gas):
        // its entry is set by the constructor and can never change.
        uint256 expected = algorithmId == SHA2_256 ? 32 : _algorithms[algorithmId].outputLength;
        if (expected == 0) revert UnknownHashAlgorithm(algorithmId);
        if (value.length != expected) revert InvalidHashLength(index, expected, value.length);
        id = sha256(value);
        if (_headers[id] != 0) revert HashAlreadyTimestamped(id);
        // algorithmId <= MAX_ALGORITHM_ID (registered) and the block number and the data's
        // length fit their fields (see the layout above).
        _headers[id] =
            uint256(uint160(msg.sender)) |
            (uint256(uint48(block.number)) << 160) |
            (algorithmId << 208) |
            (uint256(uint32(data.length)) << 224);
        mapping(uint256 => bytes32) storage words = _words[id];
        uint256 next = _storeWords(words, 0, value);
        _storeWords(words, next, data);
    }

    /// @dev Writes `source` from word `first` on (the last word zero-padded); returns the index
    ///      of the word after it.
    function _storeWords(
        mapping(uint256 => bytes32) storage words,
        uint256 first,
        bytes calldata source
    ) private returns (uint256 next) {
        next = first;
        for (uint256 offset; offset < source.length; offset += 32) {
            // A conversion of a shorter slice pads with zeros at the end.
            words[next] = bytes32(source[offset:]);
            ++next;
        }
    }

    /// @notice The record of `hashValue`: the same as getTimestampById(sha256(hashValue)).
    function getTimestamp(bytes calldata hashValue)
        external
        view
        returns (
            uint256 hashAlgorithmId,
            bytes memory hashValue_,
            address timestampedBy,
            uint256 blockNumber,
            bytes memory data
        )
    {
        return _read(sha256(hashValue));
    }

    /// @notice The record of the hash with id `timestampId`: its algorithm and value, who
    ///         timestamped it, in which block, and the data given then. A hash never
    ///         timestamped reads as zeros: algorithm 0, empty value and data, the zero address.
    function getTimestampById(bytes32 timestampId)
        external
        view
        returns (
            uint256 hashAlgorithmId,
            bytes memory hashValue,
            address timestampedBy,
            uint256 blockNumber,
            bytes memory data
        )
    {
        return _read(timestampId);
    }

    function _read(bytes32 id)
        private
        view
        returns (
            uint256 hashAlgorithmId,
            bytes memory hashValue,
            address timestampedBy,
            uint256 blockNumber,
            bytes memory data
        )
    {
        uint256 header = _headers[id];
        timestampedBy = address(uint160(header));
        blockNumber = uint48(header >> 160);
        hashAlgorithmId = uint16(header >> 208);
        mapping(uint256 => bytes32) storage words = _words[id];
        uint256 next;
        (hashValue, next) = _loadWords(words, 0, _algorithms[hashAlgorithmId].outputLength);
        (data, ) = _loadWords(words, next, uint32(header >> 224));
    }

    /// @dev `length` bytes from word `first` on; returns them and the index of the next word.
    function _loadWords(
        mapping(uint256 => bytes32) storage words,
        uint256 first,
        uint256 length
    ) private view returns (bytes memory out, uint256 next) {
        out = new bytes(length);
        next = first;
        // `new bytes` allocates whole words, so the last (zero-padded) word fits.
        for (uint256 offset; offset < length; offset += 32) {
            bytes32 word = words[next];
            assembly ("memory-safe") {
                mstore(add(add(out, 32), offset), word)
            }
            ++next;
        }
    }
}
