//! Why a table or an entry payload was rejected.

use super::*;

/// Why a host-served certificate table was rejected. Every variant names the entry (by index in
/// the host's order) and the bytes involved so an operator can find the fault in the host's blob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// Zero bytes: not even a terminator. (A host with no certificates writes at least the 24-byte
    /// all-zero terminator; that parses as an empty table.)
    #[error(
        "certificate table is 0 bytes long: a table needs at least the 24-byte all-zero terminator"
    )]
    EmptyBuffer,
    /// The buffer ends in the middle of a header entry.
    #[error("certificate table header truncated: entry {index} at byte {at} needs 24 bytes but the {len}-byte buffer ends first")]
    TruncatedHeader {
        /// Index of the incomplete entry.
        index: usize,
        /// Byte offset where it starts.
        at: usize,
        /// Length of the buffer.
        len: usize,
    },
    /// The buffer ends exactly after an entry, with no terminator.
    #[error("certificate table has no terminator: the {len}-byte buffer ends after {entries} entries without the 24-byte all-zero entry")]
    MissingTerminator {
        /// Entries read before the buffer ended.
        entries: usize,
        /// Length of the buffer.
        len: usize,
    },
    /// More entries than [`MAX_ENTRIES`] before a terminator.
    #[error("certificate table has more than {max} entries before its terminator; a real host serves a handful, so this header is corrupt or hostile")]
    TooManyEntries {
        /// The cap.
        max: usize,
    },
    /// An entry with the all-zero GUID but a non-zero offset or length: neither a terminator nor
    /// a valid entry.
    #[error("entry {index} has the all-zero GUID but offset {offset} and length {length}: a terminator must be 24 zero bytes")]
    MalformedTerminator {
        /// Index of the entry.
        index: usize,
        /// Its offset field.
        offset: u32,
        /// Its length field.
        length: u32,
    },
    /// An entry whose length is zero.
    #[error("entry {index} ({guid}) has length 0: a host must not serve empty payloads")]
    ZeroLength {
        /// Index of the entry.
        index: usize,
        /// Its GUID.
        guid: Guid,
    },
    /// offset + length does not fit in 32 bits.
    #[error("entry {index} ({guid}): offset {offset} + length {length} overflows 32 bits")]
    OffsetLengthOverflow {
        /// Index of the entry.
        index: usize,
        /// Its GUID.
        guid: Guid,
        /// Offset field.
        offset: u32,
        /// Length field.
        length: u32,
    },
    /// The offset itself lies at or past the end of the buffer.
    #[error("entry {index} ({guid}): offset {offset} is past the end of the {len}-byte buffer")]
    OffsetPastEnd {
        /// Index of the entry.
        index: usize,
        /// Its GUID.
        guid: Guid,
        /// Offset field.
        offset: u32,
        /// Length of the buffer.
        len: usize,
    },
    /// The payload starts inside the buffer but runs past its end.
    #[error("entry {index} ({guid}): payload {offset}..{end} runs past the end of the {len}-byte buffer")]
    PayloadPastEnd {
        /// Index of the entry.
        index: usize,
        /// Its GUID.
        guid: Guid,
        /// Offset field.
        offset: u32,
        /// offset + length.
        end: u64,
        /// Length of the buffer.
        len: usize,
    },
    /// The payload starts inside the header (entries + terminator).
    #[error("entry {index} ({guid}): payload at offset {offset} lies inside the table header, which ends at byte {header_end}")]
    PayloadInHeader {
        /// Index of the entry.
        index: usize,
        /// Its GUID.
        guid: Guid,
        /// Offset field.
        offset: u32,
        /// First byte after the terminator.
        header_end: usize,
    },
    /// Two payloads share bytes.
    #[error("entries {first} and {second} overlap: payloads {first_range:?} and {second_range:?} share bytes")]
    Overlap {
        /// Index of the entry that starts first.
        first: usize,
        /// Index of the other entry.
        second: usize,
        /// Byte range of the first payload.
        first_range: std::ops::Range<u64>,
        /// Byte range of the second payload.
        second_range: std::ops::Range<u64>,
    },
    /// A known GUID (VCEK, VLEK, ASK, ARK) appears twice.
    #[error("duplicate {kind} entry: entries {first} and {second} carry the same GUID; the host must serve one")]
    DuplicateKnown {
        /// The duplicated kind.
        kind: EntryKind,
        /// Index of the first occurrence.
        first: usize,
        /// Index of the second occurrence.
        second: usize,
    },
}

/// Why an entry's payload could not be turned into DER.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The payload is neither DER (starts with a SEQUENCE tag) nor PEM text.
    #[error("{kind} payload is neither DER nor PEM (first byte {first_byte:#04x})")]
    NotDerOrPem {
        /// Kind of the entry.
        kind: EntryKind,
        /// The first payload byte.
        first_byte: u8,
    },
    /// The payload is DER but not one complete DER object.
    #[error("{kind} payload is not one well-formed DER object: {reason}")]
    BadDer {
        /// Kind of the entry.
        kind: EntryKind,
        /// What the DER decoder said.
        reason: String,
    },
    /// PEM larger than [`MAX_PEM_LEN`].
    #[error("{kind} PEM payload is {len} bytes, more than the {max}-byte limit")]
    PemTooLarge {
        /// Kind of the entry.
        kind: EntryKind,
        /// Payload length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More than one PEM block in one entry.
    #[error("{kind} payload holds {count} PEM blocks; one entry must carry exactly one")]
    MultiplePemBlocks {
        /// Kind of the entry.
        kind: EntryKind,
        /// Number of `-----BEGIN` lines seen.
        count: usize,
    },
    /// PEM whose label does not fit the entry kind.
    #[error("{kind} payload is PEM labelled {label:?}, expected {expected:?}")]
    WrongPemLabel {
        /// Kind of the entry.
        kind: EntryKind,
        /// The label found.
        label: String,
        /// The label expected.
        expected: &'static str,
    },
    /// The PEM text did not decode.
    #[error("{kind} payload is malformed PEM: {reason}")]
    BadPem {
        /// Kind of the entry.
        kind: EntryKind,
        /// What the PEM decoder said.
        reason: String,
    },
}
