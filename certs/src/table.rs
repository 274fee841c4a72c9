//! The GHCB certificate table the host serves beside a report.
//!
//! Layout (GHCB spec 2.0x "SNP Extended Guest Request", Linux `snp_msg_cert_entry`): an array of
//! 24-byte entries `{GUID[16], offset u32 LE, length u32 LE}` starting at byte 0 of the buffer,
//! ended by an all-zero entry. Offsets count from the start of the buffer (the table itself). The
//! GUID is stored as the bytes of the textual GUID as written (RFC 4122 / big-endian order), so
//! `63da758d-e664-…` starts with the byte `0x63`.
//!
//! The buffer comes from the host and is untrusted. [`CertTable::parse`] therefore works on the
//! slice without copying, checks every offset and length with checked arithmetic, requires the
//! terminator, caps the number of entries, rejects duplicate known GUIDs, zero-length and
//! overlapping payloads and payloads that lie inside the header, but keeps unknown GUIDs and
//! non-certificate entries (a CRL) as bytes and preserves the host's order, so that `doctor` can
//! report exactly what the host served.
//!
//! [`CertTableBuilder`] produces the exact bytes a host serves; the simulator uses it, and every
//! table it builds parses back to the same entries.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use der::Decode;

/// Size of one table entry (and of the terminator) in bytes.
pub const ENTRY_LEN: usize = 24;

/// The most entries (not counting the terminator) a table may have.
///
/// A real host serves at most a handful (VCEK or VLEK, ASK/ASVK, ARK, perhaps a CRL). The guest's
/// certificate buffer is at most 16 KiB through Linux (`SEV_FW_BLOB_MAX_SIZE`), which could hold
/// 682 bare headers but no certificates beside them. 64 leaves ample room for vendor extras while
/// bounding the work (the overlap check sorts the entries) and the allocation a hostile header
/// can cause.
pub const MAX_ENTRIES: usize = 64;

/// The largest PEM payload [`Entry::der`] will decode. Real AMD certificates are about 1.3–2.3 KB
/// as PEM; the bound keeps a hostile payload from making us allocate or scan without limit.
pub const MAX_PEM_LEN: usize = 64 * 1024;

/// The page size in which certificate buffers are handed between guest and host (GHCB: RBX counts
/// 4 KiB pages).
pub const PAGE_SIZE: usize = 4096;

/// A 16-byte GUID as it appears in the table: the bytes of the textual form, in the order written.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// VCEK: `63da758d-e664-4564-adc5-f4b93be8accd`.
    pub const VCEK: Guid = Guid([
        0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac,
        0xcd,
    ]);
    /// VLEK: `a8074bc2-a25a-483e-aae6-39c045a0b8a1`.
    pub const VLEK: Guid = Guid([
        0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8,
        0xa1,
    ]);
    /// ASK, also used for the ASVK (there is no separate ASVK GUID):
    /// `4ab7b379-bbac-4fe4-a02f-05aef327c782`.
    pub const ASK: Guid = Guid([
        0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7,
        0x82,
    ]);
    /// ARK: `c0b406a4-a803-4952-9743-3fb6014cd0ae`.
    pub const ARK: Guid = Guid([
        0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0,
        0xae,
    ]);
    /// CRL: `92f81bc3-5811-4d3d-97ff-d19f88dc67ea` (used by VIRTEE and snphost; not confirmed to
    /// be in the GHCB spec's table, so duplicates are not rejected).
    pub const CRL: Guid = Guid([
        0x92, 0xf8, 0x1b, 0xc3, 0x58, 0x11, 0x4d, 0x3d, 0x97, 0xff, 0xd1, 0x9f, 0x88, 0xdc, 0x67,
        0xea,
    ]);
    /// The all-zero GUID of the terminator entry.
    pub const ZERO: Guid = Guid([0; 16]);

    /// The raw 16 bytes as stored in the table.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Whether this is the all-zero GUID.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

/// Why a textual GUID did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid GUID {input:?}: expected 8-4-4-4-12 hex digits like 63da758d-e664-4564-adc5-f4b93be8accd")]
pub struct GuidParseError {
    /// The rejected text (truncated to 64 characters).
    pub input: String,
}

impl FromStr for Guid {
    type Err = GuidParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || GuidParseError {
            input: s.chars().take(64).collect(),
        };
        let b = s.as_bytes();
        if b.len() != 36 {
            return Err(err());
        }
        let mut out = [0u8; 16];
        let mut n = 0usize;
        let mut i = 0usize;
        while i < b.len() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if b[i] != b'-' {
                    return Err(err());
                }
                i += 1;
                continue;
            }
            let hi = hex_val(b[i]).ok_or_else(err)?;
            let lo = hex_val(*b.get(i + 1).ok_or_else(err)?).ok_or_else(err)?;
            *out.get_mut(n).ok_or_else(err)? = (hi << 4) | lo;
            n += 1;
            i += 2;
        }
        if n != 16 {
            return Err(err());
        }
        Ok(Guid(out))
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// What an entry holds, decided by its GUID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// Versioned Chip Endorsement Key certificate.
    Vcek,
    /// Versioned Loaded Endorsement Key certificate.
    Vlek,
    /// AMD SEV Key (or, beside a VLEK, the ASVK) certificate.
    Ask,
    /// AMD Root Key certificate.
    Ark,
    /// A certificate revocation list (non-certificate entry, kept as bytes).
    Crl,
    /// A GUID this crate does not know; kept as bytes in the host's order.
    Unknown(Guid),
}

impl EntryKind {
    /// The kind a GUID denotes.
    pub fn from_guid(guid: Guid) -> EntryKind {
        match guid {
            Guid::VCEK => EntryKind::Vcek,
            Guid::VLEK => EntryKind::Vlek,
            Guid::ASK => EntryKind::Ask,
            Guid::ARK => EntryKind::Ark,
            Guid::CRL => EntryKind::Crl,
            other => EntryKind::Unknown(other),
        }
    }

    /// The GUID that denotes this kind.
    pub fn guid(&self) -> Guid {
        match self {
            EntryKind::Vcek => Guid::VCEK,
            EntryKind::Vlek => Guid::VLEK,
            EntryKind::Ask => Guid::ASK,
            EntryKind::Ark => Guid::ARK,
            EntryKind::Crl => Guid::CRL,
            EntryKind::Unknown(g) => *g,
        }
    }

    /// Whether at most one entry of this kind may appear (VCEK, VLEK, ASK, ARK): two different
    /// VCEKs in one answer would leave the verifier guessing which one the host meant.
    pub fn is_unique(&self) -> bool {
        matches!(
            self,
            EntryKind::Vcek | EntryKind::Vlek | EntryKind::Ask | EntryKind::Ark
        )
    }

    /// A short human name ("VCEK", "CRL", "unknown").
    pub fn name(&self) -> &'static str {
        match self {
            EntryKind::Vcek => "VCEK",
            EntryKind::Vlek => "VLEK",
            EntryKind::Ask => "ASK",
            EntryKind::Ark => "ARK",
            EntryKind::Crl => "CRL",
            EntryKind::Unknown(_) => "unknown",
        }
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryKind::Unknown(g) => write!(f, "unknown entry {g}"),
            other => f.write_str(other.name()),
        }
    }
}

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

/// One entry of a parsed table: a view into the host's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// What the GUID says the payload is.
    pub kind: EntryKind,
    /// The GUID as served.
    pub guid: Guid,
    /// Offset of the payload from the start of the buffer.
    pub offset: u32,
    /// The payload bytes exactly as served (DER, or PEM on some real hosts).
    pub bytes: &'a [u8],
}

impl<'a> Entry<'a> {
    /// Whether the payload looks like PEM text rather than DER.
    pub fn is_pem(&self) -> bool {
        trim_ascii_start(self.bytes).starts_with(b"-----BEGIN ")
    }

    /// The payload as DER. DER payloads are borrowed as served (after checking they are one
    /// complete DER object); a payload holding a single PEM block (a real configfs-tsm host served
    /// PEM) is decoded, with its size bounded by [`MAX_PEM_LEN`]. Certificates must be labelled
    /// `CERTIFICATE`, a CRL `X509 CRL`; unknown entries accept any label.
    pub fn der(&self) -> Result<Cow<'a, [u8]>, PayloadError> {
        let kind = self.kind;
        let first_byte = self.bytes.first().copied().unwrap_or(0);
        if first_byte == 0x30 {
            check_der(kind, self.bytes)?;
            return Ok(Cow::Borrowed(self.bytes));
        }
        if !self.is_pem() {
            return Err(PayloadError::NotDerOrPem { kind, first_byte });
        }
        if self.bytes.len() > MAX_PEM_LEN {
            return Err(PayloadError::PemTooLarge {
                kind,
                len: self.bytes.len(),
                max: MAX_PEM_LEN,
            });
        }
        let count = count_occurrences(self.bytes, b"-----BEGIN ");
        if count != 1 {
            return Err(PayloadError::MultiplePemBlocks { kind, count });
        }
        // Leading whitespace is tolerated (is_pem allowed it); the strict RFC 7468 decoder does not.
        let text = trim_ascii_start(self.bytes);
        let (label, der) = der::pem::decode_vec(text).map_err(|e| PayloadError::BadPem {
            kind,
            reason: e.to_string(),
        })?;
        let expected = match kind {
            EntryKind::Crl => Some("X509 CRL"),
            EntryKind::Unknown(_) => None,
            _ => Some("CERTIFICATE"),
        };
        if let Some(expected) = expected {
            if label != expected {
                return Err(PayloadError::WrongPemLabel {
                    kind,
                    label: label.chars().take(64).collect(),
                    expected,
                });
            }
        }
        check_der(kind, &der)?;
        Ok(Cow::Owned(der))
    }
}

fn check_der(kind: EntryKind, bytes: &[u8]) -> Result<(), PayloadError> {
    der::AnyRef::from_der(bytes)
        .map(|_| ())
        .map_err(|e| PayloadError::BadDer {
            kind,
            reason: e.to_string(),
        })
}

fn trim_ascii_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    b.get(n..).unwrap_or(&[])
}

fn count_occurrences(hay: &[u8], needle: &[u8]) -> usize {
    if needle.is_empty() {
        return 0;
    }
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// A parsed certificate table: entries in the host's order, borrowing the host's buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertTable<'a> {
    buf: &'a [u8],
    entries: Vec<Entry<'a>>,
}

fn read_u32_le(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

impl<'a> CertTable<'a> {
    /// Parse a host-served table. The buffer may be longer than the table (the guest's whole
    /// certificate buffer, zero-padded); an all-zero buffer or a lone terminator is a valid empty
    /// table ([`CertTable::is_empty`]), which is distinct from every error.
    pub fn parse(buf: &'a [u8]) -> Result<CertTable<'a>, TableError> {
        if buf.is_empty() {
            return Err(TableError::EmptyBuffer);
        }
        // Pass 1: the header, up to and including the terminator.
        let mut raw: Vec<(Guid, u32, u32)> = Vec::new();
        let mut index = 0usize;
        loop {
            let at = index * ENTRY_LEN; // index <= MAX_ENTRIES, cannot overflow
            let Some(e) = buf.get(at..at + ENTRY_LEN) else {
                if at >= buf.len() {
                    return Err(TableError::MissingTerminator {
                        entries: index,
                        len: buf.len(),
                    });
                }
                return Err(TableError::TruncatedHeader {
                    index,
                    at,
                    len: buf.len(),
                });
            };
            let mut g = [0u8; 16];
            g.copy_from_slice(e.get(..16).unwrap_or(&[0; 16]));
            let guid = Guid(g);
            let offset = read_u32_le(e, 16).unwrap_or(0);
            let length = read_u32_le(e, 20).unwrap_or(0);
            if guid.is_zero() {
                if offset == 0 && length == 0 {
                    break;
                }
                return Err(TableError::MalformedTerminator {
                    index,
                    offset,
                    length,
                });
            }
            if index >= MAX_ENTRIES {
                return Err(TableError::TooManyEntries { max: MAX_ENTRIES });
            }
            raw.push((guid, offset, length));
            index += 1;
        }
        let header_end = (raw.len() + 1) * ENTRY_LEN;

        // Pass 2: each entry on its own.
        let mut entries = Vec::with_capacity(raw.len());
        for (index, &(guid, offset, length)) in raw.iter().enumerate() {
            if length == 0 {
                return Err(TableError::ZeroLength { index, guid });
            }
            let Some(end) = offset.checked_add(length) else {
                return Err(TableError::OffsetLengthOverflow {
                    index,
                    guid,
                    offset,
                    length,
                });
            };
            let (start_us, end_us) = (offset as usize, end as usize);
            if start_us >= buf.len() {
                return Err(TableError::OffsetPastEnd {
                    index,
                    guid,
                    offset,
                    len: buf.len(),
                });
            }
            if start_us < header_end {
                return Err(TableError::PayloadInHeader {
                    index,
                    guid,
                    offset,
                    header_end,
                });
            }
            let Some(bytes) = buf.get(start_us..end_us) else {
                return Err(TableError::PayloadPastEnd {
                    index,
                    guid,
                    offset,
                    end: u64::from(end),
                    len: buf.len(),
                });
            };
            let kind = EntryKind::from_guid(guid);
            if kind.is_unique() {
                if let Some(first) = entries.iter().position(|e: &Entry<'_>| e.guid == guid) {
                    return Err(TableError::DuplicateKnown {
                        kind,
                        first,
                        second: index,
                    });
                }
            }
            entries.push(Entry {
                kind,
                guid,
                offset,
                bytes,
            });
        }

        // Pass 3: no two payloads share a byte.
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by_key(|&i| entries.get(i).map(|e| e.offset).unwrap_or(0));
        for pair in order.windows(2) {
            let (Some(a), Some(b)) = (entries.get(pair[0]), entries.get(pair[1])) else {
                continue;
            };
            let a_range = range_of(a);
            let b_range = range_of(b);
            if b_range.start < a_range.end {
                let (first, second) = (pair[0].min(pair[1]), pair[0].max(pair[1]));
                let (first_range, second_range) = if first == pair[0] {
                    (a_range, b_range)
                } else {
                    (b_range, a_range)
                };
                return Err(TableError::Overlap {
                    first,
                    second,
                    first_range,
                    second_range,
                });
            }
        }
        tracing::debug!(
            entries = entries.len(),
            len = buf.len(),
            "parsed certificate table"
        );
        Ok(CertTable { buf, entries })
    }

    /// The entries in the host's order.
    pub fn entries(&self) -> &[Entry<'a>] {
        &self.entries
    }

    /// Number of entries (the terminator not counted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the host served no entries (a lone terminator or an all-zero buffer).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first entry of a kind.
    pub fn get(&self, kind: EntryKind) -> Option<&Entry<'a>> {
        self.entries.iter().find(|e| e.kind == kind)
    }

    /// The VCEK entry, if served.
    pub fn vcek(&self) -> Option<&Entry<'a>> {
        self.get(EntryKind::Vcek)
    }

    /// The VLEK entry, if served.
    pub fn vlek(&self) -> Option<&Entry<'a>> {
        self.get(EntryKind::Vlek)
    }

    /// The ASK (or ASVK) entry, if served.
    pub fn ask(&self) -> Option<&Entry<'a>> {
        self.get(EntryKind::Ask)
    }

    /// The ARK entry, if served.
    pub fn ark(&self) -> Option<&Entry<'a>> {
        self.get(EntryKind::Ark)
    }

    /// Bytes taken by the header: every entry plus the terminator.
    pub fn header_len(&self) -> usize {
        (self.entries.len() + 1) * ENTRY_LEN
    }

    /// One past the last byte the table uses (header or payload); the rest of the buffer is
    /// padding.
    pub fn used_len(&self) -> usize {
        self.entries
            .iter()
            .map(|e| e.offset as usize + e.bytes.len())
            .fold(self.header_len(), usize::max)
    }

    /// The whole buffer the table was parsed from.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
}

fn range_of(e: &Entry<'_>) -> std::ops::Range<u64> {
    let start = u64::from(e.offset);
    start..start + e.bytes.len() as u64
}

/// Why a table could not be built. The builder refuses exactly what the parser would reject, so
/// every table it produces parses back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// An empty payload.
    #[error("entry {index} ({guid}) has an empty payload")]
    EmptyPayload {
        /// Index of the entry.
        index: usize,
        /// Its GUID.
        guid: Guid,
    },
    /// The all-zero GUID is reserved for the terminator.
    #[error("entry {index} uses the all-zero GUID, which is reserved for the terminator")]
    ZeroGuid {
        /// Index of the entry.
        index: usize,
    },
    /// A known GUID twice.
    #[error("duplicate {kind} entry (entries {first} and {second})")]
    DuplicateKnown {
        /// The duplicated kind.
        kind: EntryKind,
        /// Index of the first occurrence.
        first: usize,
        /// Index of the second occurrence.
        second: usize,
    },
    /// More than [`MAX_ENTRIES`].
    #[error("{count} entries exceed the limit of {max}")]
    TooManyEntries {
        /// Entries pushed.
        count: usize,
        /// The cap.
        max: usize,
    },
    /// The table does not fit 32-bit offsets.
    #[error("table of {len} bytes does not fit 32-bit offsets")]
    TooLarge {
        /// Total length needed.
        len: u64,
    },
    /// A page size of zero.
    #[error("page size must be non-zero")]
    ZeroPageSize,
}

/// Builds the exact bytes a host serves: the header (one entry per payload, then the 24-byte
/// terminator), then the payloads back to back in the order pushed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertTableBuilder {
    entries: Vec<(Guid, Vec<u8>)>,
}

impl CertTableBuilder {
    /// An empty builder (builds a lone terminator).
    pub fn new() -> Self {
        Self::default()
    }

    /// Append a payload under a GUID.
    pub fn push(&mut self, guid: Guid, bytes: impl Into<Vec<u8>>) -> &mut Self {
        self.entries.push((guid, bytes.into()));
        self
    }

    /// Append a payload of a kind.
    pub fn push_kind(&mut self, kind: EntryKind, bytes: impl Into<Vec<u8>>) -> &mut Self {
        self.push(kind.guid(), bytes)
    }

    /// Builder-style [`CertTableBuilder::push`].
    pub fn with(mut self, guid: Guid, bytes: impl Into<Vec<u8>>) -> Self {
        self.push(guid, bytes);
        self
    }

    /// Builder-style [`CertTableBuilder::push_kind`].
    pub fn with_kind(mut self, kind: EntryKind, bytes: impl Into<Vec<u8>>) -> Self {
        self.push_kind(kind, bytes);
        self
    }

    /// Entries pushed so far.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn validate(&self) -> Result<usize, BuildError> {
        if self.entries.len() > MAX_ENTRIES {
            return Err(BuildError::TooManyEntries {
                count: self.entries.len(),
                max: MAX_ENTRIES,
            });
        }
        for (index, (guid, bytes)) in self.entries.iter().enumerate() {
            if guid.is_zero() {
                return Err(BuildError::ZeroGuid { index });
            }
            if bytes.is_empty() {
                return Err(BuildError::EmptyPayload { index, guid: *guid });
            }
            let kind = EntryKind::from_guid(*guid);
            if kind.is_unique() {
                if let Some(first) = self.entries.iter().position(|(g, _)| g == guid) {
                    if first != index {
                        return Err(BuildError::DuplicateKnown {
                            kind,
                            first,
                            second: index,
                        });
                    }
                }
            }
        }
        let len = self.entries.iter().fold(
            (self.entries.len() as u64 + 1) * ENTRY_LEN as u64,
            |acc, (_, b)| acc + b.len() as u64,
        );
        if len > u64::from(u32::MAX) {
            return Err(BuildError::TooLarge { len });
        }
        Ok(len as usize)
    }

    /// The exact length [`CertTableBuilder::build`] will produce.
    pub fn encoded_len(&self) -> Result<usize, BuildError> {
        self.validate()
    }

    /// The table bytes, unpadded.
    pub fn build(&self) -> Result<Vec<u8>, BuildError> {
        let len = self.validate()?;
        let header_len = (self.entries.len() + 1) * ENTRY_LEN;
        let mut out = Vec::with_capacity(len);
        let mut offset = header_len;
        for (guid, bytes) in &self.entries {
            out.extend_from_slice(guid.as_bytes());
            // validate() bounded the total by u32::MAX.
            out.extend_from_slice(&(offset as u32).to_le_bytes());
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            offset += bytes.len();
        }
        out.extend_from_slice(&[0u8; ENTRY_LEN]);
        for (_, bytes) in &self.entries {
            out.extend_from_slice(bytes);
        }
        debug_assert_eq!(out.len(), len);
        Ok(out)
    }

    /// The table bytes zero-padded to a whole number of `page_size` pages (what lands in the
    /// guest's certificate pages).
    pub fn build_padded(&self, page_size: usize) -> Result<Vec<u8>, BuildError> {
        let pages = self.pages_for(page_size)?;
        let mut out = self.build()?;
        out.resize(pages * page_size, 0);
        Ok(out)
    }

    /// How many 4 KiB pages the table needs (what a host puts in RBX on INVALID_LEN).
    pub fn required_pages(&self) -> Result<usize, BuildError> {
        self.pages_for(PAGE_SIZE)
    }

    fn pages_for(&self, page_size: usize) -> Result<usize, BuildError> {
        if page_size == 0 {
            return Err(BuildError::ZeroPageSize);
        }
        Ok(self.validate()?.div_ceil(page_size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const AWS: &[u8] = include_bytes!(
        "../../tests/data/real/constellation/aws_certs_valid_4c676382.certtable.bin"
    );
    const VERAISON: &[u8] =
        include_bytes!("../../tests/data/real/veraison/sevsnp-tsm-report_9e37aaf8.certtable.bin");
    const VLEK_DER: &[u8] =
        include_bytes!("../../tests/data/real/constellation/certs_valid_vlek_f8b8421b.der");

    /// A header entry, for hand-made tables.
    fn ent(guid: Guid, offset: u32, length: u32) -> Vec<u8> {
        let mut v = guid.0.to_vec();
        v.extend_from_slice(&offset.to_le_bytes());
        v.extend_from_slice(&length.to_le_bytes());
        v
    }

    fn table(entries: &[(Guid, u32, u32)], total: usize) -> Vec<u8> {
        let mut v: Vec<u8> = entries.iter().flat_map(|&(g, o, l)| ent(g, o, l)).collect();
        v.extend_from_slice(&[0; ENTRY_LEN]);
        v.resize(total.max(v.len()), 0xAB);
        v
    }

    #[test]
    fn guid_display_and_parse_round_trip() {
        for (g, s) in [
            (Guid::VCEK, "63da758d-e664-4564-adc5-f4b93be8accd"),
            (Guid::VLEK, "a8074bc2-a25a-483e-aae6-39c045a0b8a1"),
            (Guid::ASK, "4ab7b379-bbac-4fe4-a02f-05aef327c782"),
            (Guid::ARK, "c0b406a4-a803-4952-9743-3fb6014cd0ae"),
            (Guid::CRL, "92f81bc3-5811-4d3d-97ff-d19f88dc67ea"),
        ] {
            assert_eq!(g.to_string(), s);
            assert_eq!(s.parse::<Guid>().unwrap(), g);
            assert_eq!(s.to_uppercase().parse::<Guid>().unwrap(), g);
        }
        for bad in [
            "",
            "63da758d-e664-4564-adc5-f4b93be8acc",
            "63da758de664-4564-adc5-f4b93be8accd0",
            "63da758d-e664-4564-adc5-f4b93be8accg",
            "63da758d-e664-4564-adc5-f4b93be8acc\u{e9}",
        ] {
            assert!(bad.parse::<Guid>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn real_aws_table_holds_one_der_vlek() {
        let t = CertTable::parse(AWS).unwrap();
        assert_eq!(t.len(), 1);
        let e = t.vlek().unwrap();
        assert_eq!(
            (e.kind, e.offset, e.bytes.len()),
            (EntryKind::Vlek, 48, 1323)
        );
        assert!(t.vcek().is_none() && t.ask().is_none() && t.ark().is_none());
        assert!(!e.is_pem());
        let der = e.der().unwrap();
        assert!(matches!(der, Cow::Borrowed(_)));
        assert_eq!(&*der, VLEK_DER, "the table's VLEK is the real certificate");
        assert_eq!(t.used_len(), 1371);
        assert_eq!(t.as_bytes().len(), 4096);
    }

    #[test]
    fn real_veraison_table_holds_pem_ark_ask_vcek() {
        let t = CertTable::parse(VERAISON).unwrap();
        let got: Vec<_> = t
            .entries()
            .iter()
            .map(|e| (e.kind, e.offset, e.bytes.len()))
            .collect();
        assert_eq!(
            got,
            vec![
                (EntryKind::Ark, 96, 2277),
                (EntryKind::Ask, 2373, 2325),
                (EntryKind::Vcek, 4698, 1879),
            ]
        );
        for e in t.entries() {
            assert!(e.is_pem());
            let der = e.der().unwrap();
            assert!(matches!(der, Cow::Owned(_)));
            assert_eq!(der.first(), Some(&0x30));
        }
        // The PEM VCEK decodes to the real DER VCEK from the same evidence.
        let vcek =
            include_bytes!("../../tests/data/real/veraison/sevsnp-tsm-report_vcek_ab5a6bc8.der");
        assert_eq!(&*t.vcek().unwrap().der().unwrap(), &vcek[..]);
        assert_eq!(t.used_len(), VERAISON.len());
    }

    #[test]
    fn build_parse_round_trip() {
        let crl = [0x30, 0x03, 0x02, 0x01, 0x05];
        let other = Guid([7; 16]);
        let b = CertTableBuilder::new()
            .with_kind(EntryKind::Vcek, VLEK_DER)
            .with(other, &b"vendor extra"[..])
            .with_kind(EntryKind::Crl, &crl[..])
            .with_kind(EntryKind::Ark, &[0x30, 0x00][..]);
        let bytes = b.build().unwrap();
        assert_eq!(bytes.len(), b.encoded_len().unwrap());
        assert_eq!(bytes.len(), 5 * 24 + VLEK_DER.len() + 12 + 5 + 2);
        let t = CertTable::parse(&bytes).unwrap();
        let kinds: Vec<_> = t.entries().iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![
                EntryKind::Vcek,
                EntryKind::Unknown(other),
                EntryKind::Crl,
                EntryKind::Ark
            ]
        );
        assert_eq!(t.vcek().unwrap().bytes, VLEK_DER);
        assert_eq!(t.entries()[1].bytes, b"vendor extra");
        assert_eq!(t.entries()[2].der().unwrap().as_ref(), &crl);
        assert!(matches!(
            t.entries()[1].der(),
            Err(PayloadError::NotDerOrPem { .. })
        ));
        assert_eq!(t.used_len(), bytes.len());

        let padded = b.build_padded(PAGE_SIZE).unwrap();
        assert_eq!(padded.len(), PAGE_SIZE);
        assert_eq!(b.required_pages().unwrap(), 1);
        assert_eq!(&padded[..bytes.len()], &bytes[..]);
        assert!(padded[bytes.len()..].iter().all(|&x| x == 0));
        assert_eq!(CertTable::parse(&padded).unwrap().entries(), t.entries());
        assert_eq!(b.build_padded(0), Err(BuildError::ZeroPageSize));
    }

    #[test]
    fn rebuilding_the_real_tables_gives_the_same_bytes() {
        for (real, used) in [(AWS, 1371), (VERAISON, VERAISON.len())] {
            let t = CertTable::parse(real).unwrap();
            let mut b = CertTableBuilder::new();
            for e in t.entries() {
                b.push(e.guid, e.bytes);
            }
            assert_eq!(b.build().unwrap(), &real[..used]);
        }
        let aws = CertTableBuilder::new().with_kind(EntryKind::Vlek, VLEK_DER);
        assert_eq!(aws.build_padded(4096).unwrap(), AWS);
    }

    #[test]
    fn pages_needed() {
        let one = CertTableBuilder::new().with_kind(EntryKind::Vcek, vec![0x30; 4096 - 48]);
        assert_eq!(one.required_pages().unwrap(), 1);
        let two = CertTableBuilder::new().with_kind(EntryKind::Vcek, vec![0x30; 4096 - 47]);
        assert_eq!(two.required_pages().unwrap(), 2);
        assert_eq!(two.build_padded(4096).unwrap().len(), 8192);
        assert_eq!(CertTableBuilder::new().required_pages().unwrap(), 1);
    }

    #[test]
    fn empty_tables_parse_as_no_entries() {
        let lone = CertTableBuilder::new().build().unwrap();
        assert_eq!(lone, vec![0; 24]);
        for buf in [lone, vec![0; 24], vec![0; 4096], vec![0; 16384]] {
            let t = CertTable::parse(&buf).unwrap();
            assert!(t.is_empty());
            assert_eq!(t.len(), 0);
            assert!(t.vcek().is_none());
        }
        // ...and distinguishable from malformed ones.
        assert_eq!(CertTable::parse(&[]), Err(TableError::EmptyBuffer));
        assert!(matches!(
            CertTable::parse(&[0; 23]),
            Err(TableError::TruncatedHeader { .. })
        ));
    }

    type Check = fn(&TableError) -> bool;

    #[test]
    fn malformed_tables_are_rejected_with_named_errors() {
        let g = Guid::VCEK;
        let h1 = 48u32; // header of one entry + terminator
        let cases: Vec<(&str, Vec<u8>, Check)> = vec![
            ("empty buffer", vec![], |e| {
                matches!(e, TableError::EmptyBuffer)
            }),
            ("truncated header", ent(g, 48, 4)[..20].to_vec(), |e| {
                matches!(
                    e,
                    TableError::TruncatedHeader {
                        index: 0,
                        at: 0,
                        len: 20
                    }
                )
            }),
            (
                "truncated terminator",
                {
                    let mut v = ent(g, 48, 4);
                    v.extend_from_slice(&[0; 10]);
                    v
                },
                |e| {
                    matches!(
                        e,
                        TableError::TruncatedHeader {
                            index: 1,
                            at: 24,
                            ..
                        }
                    )
                },
            ),
            (
                "missing terminator",
                [ent(g, 48, 4), ent(Guid::ARK, 52, 4)].concat(),
                |e| {
                    matches!(
                        e,
                        TableError::MissingTerminator {
                            entries: 2,
                            len: 48
                        }
                    )
                },
            ),
            (
                "absurd entry count",
                {
                    let mut v = Vec::new();
                    for i in 0..=MAX_ENTRIES as u8 {
                        v.extend(ent(Guid([i.wrapping_add(1); 16]), 0x10000, 1));
                    }
                    v.extend_from_slice(&[0; 24]);
                    v.resize(0x20000, 0);
                    v
                },
                |e| matches!(e, TableError::TooManyEntries { max: MAX_ENTRIES }),
            ),
            ("zero-length entry", table(&[(g, h1, 0)], 100), |e| {
                matches!(e, TableError::ZeroLength { index: 0, .. })
            }),
            (
                "offset+length overflow",
                table(&[(g, h1, u32::MAX)], 100),
                |e| matches!(e, TableError::OffsetLengthOverflow { index: 0, .. }),
            ),
            ("offset past end", table(&[(g, 5000, 4)], 100), |e| {
                matches!(
                    e,
                    TableError::OffsetPastEnd {
                        offset: 5000,
                        len: 100,
                        ..
                    }
                )
            }),
            ("payload past end", table(&[(g, 90, 20)], 100), |e| {
                matches!(
                    e,
                    TableError::PayloadPastEnd {
                        end: 110,
                        len: 100,
                        ..
                    }
                )
            }),
            ("payload inside header", table(&[(g, 8, 16)], 100), |e| {
                matches!(
                    e,
                    TableError::PayloadInHeader {
                        offset: 8,
                        header_end: 48,
                        ..
                    }
                )
            }),
            (
                "payload on the terminator",
                table(&[(g, 24, 30)], 100),
                |e| matches!(e, TableError::PayloadInHeader { offset: 24, .. }),
            ),
            (
                "overlapping entries",
                table(&[(g, 72, 10), (Guid::ARK, 80, 10)], 100),
                |e| {
                    matches!(
                        e,
                        TableError::Overlap {
                            first: 0,
                            second: 1,
                            ..
                        }
                    )
                },
            ),
            (
                "overlap out of order",
                table(&[(Guid::ARK, 85, 10), (g, 72, 20)], 100),
                |e| {
                    matches!(
                        e,
                        TableError::Overlap {
                            first: 0,
                            second: 1,
                            ..
                        }
                    )
                },
            ),
            (
                "identical ranges",
                table(&[(Guid([9; 16]), 72, 10), (Guid([8; 16]), 72, 10)], 100),
                |e| matches!(e, TableError::Overlap { .. }),
            ),
            (
                "duplicate VCEK",
                table(&[(g, 72, 10), (g, 82, 10)], 100),
                |e| {
                    matches!(
                        e,
                        TableError::DuplicateKnown {
                            kind: EntryKind::Vcek,
                            first: 0,
                            second: 1
                        }
                    )
                },
            ),
            (
                "duplicate ARK",
                table(&[(Guid::ARK, 96, 1), (g, 97, 1), (Guid::ARK, 98, 1)], 100),
                |e| {
                    matches!(
                        e,
                        TableError::DuplicateKnown {
                            kind: EntryKind::Ark,
                            first: 0,
                            second: 2
                        }
                    )
                },
            ),
            (
                "zero GUID with offset",
                table(&[(Guid::ZERO, 48, 4)], 100),
                |e| {
                    matches!(
                        e,
                        TableError::MalformedTerminator {
                            index: 0,
                            offset: 48,
                            length: 4
                        }
                    )
                },
            ),
        ];
        assert!(cases.len() >= 12);
        for (name, bytes, check) in cases {
            let err = CertTable::parse(&bytes).expect_err(name);
            assert!(check(&err), "{name}: unexpected {err:?}");
            // The message names the problem for an operator.
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn unknown_guids_and_host_order_are_kept() {
        let x = Guid([0x11; 16]);
        let buf = table(&[(x, 110, 2), (Guid::CRL, 96, 4), (Guid::CRL, 100, 4)], 120);
        let t = CertTable::parse(&buf).unwrap();
        let kinds: Vec<_> = t.entries().iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![EntryKind::Unknown(x), EntryKind::Crl, EntryKind::Crl]
        );
        assert_eq!(t.entries()[0].offset, 110);
    }

    #[test]
    fn der_rejects_bad_payloads() {
        let vcek_pem = {
            let t = CertTable::parse(VERAISON).unwrap();
            t.vcek().unwrap().bytes.to_vec()
        };
        let check = |kind: EntryKind, payload: Vec<u8>| {
            let bytes = CertTableBuilder::new()
                .with_kind(kind, payload)
                .build()
                .unwrap();
            let t = CertTable::parse(&bytes).unwrap();
            t.entries()[0].der().map(|d| d.into_owned())
        };
        // Two PEM blocks.
        let two = [vcek_pem.clone(), vcek_pem.clone()].concat();
        assert!(matches!(
            check(EntryKind::Vcek, two),
            Err(PayloadError::MultiplePemBlocks { count: 2, .. })
        ));
        // Wrong label.
        let relabelled = String::from_utf8(vcek_pem.clone())
            .unwrap()
            .replace("CERTIFICATE", "PRIVATE KEY");
        assert!(matches!(
            check(EntryKind::Vcek, relabelled.clone().into_bytes()),
            Err(PayloadError::WrongPemLabel { .. })
        ));
        // Unknown entries accept any label.
        assert!(check(EntryKind::Unknown(Guid([3; 16])), relabelled.into_bytes()).is_ok());
        // Corrupt base64.
        let mut broken = vcek_pem.clone();
        broken[40] = b'!';
        assert!(matches!(
            check(EntryKind::Vcek, broken),
            Err(PayloadError::BadPem { .. })
        ));
        // Oversized PEM.
        let mut big = b"-----BEGIN CERTIFICATE-----\n".to_vec();
        big.resize(MAX_PEM_LEN + 1, b'A');
        assert!(matches!(
            check(EntryKind::Vcek, big),
            Err(PayloadError::PemTooLarge { .. })
        ));
        // DER with trailing garbage, truncated DER, neither.
        let mut trailing = VLEK_DER.to_vec();
        trailing.push(0);
        assert!(matches!(
            check(EntryKind::Vlek, trailing),
            Err(PayloadError::BadDer { .. })
        ));
        assert!(matches!(
            check(EntryKind::Vlek, VLEK_DER[..100].to_vec()),
            Err(PayloadError::BadDer { .. })
        ));
        assert!(matches!(
            check(EntryKind::Vlek, vec![0xff, 1, 2]),
            Err(PayloadError::NotDerOrPem {
                first_byte: 0xff,
                ..
            })
        ));
        // Leading whitespace before PEM is tolerated.
        let mut ws = b"\n  ".to_vec();
        ws.extend_from_slice(&vcek_pem);
        assert!(check(EntryKind::Vcek, ws).is_ok());
    }

    #[test]
    fn builder_refuses_what_the_parser_rejects() {
        assert_eq!(
            CertTableBuilder::new()
                .with_kind(EntryKind::Vcek, vec![])
                .build(),
            Err(BuildError::EmptyPayload {
                index: 0,
                guid: Guid::VCEK
            })
        );
        assert_eq!(
            CertTableBuilder::new().with(Guid::ZERO, vec![1]).build(),
            Err(BuildError::ZeroGuid { index: 0 })
        );
        assert_eq!(
            CertTableBuilder::new()
                .with_kind(EntryKind::Ask, vec![1])
                .with_kind(EntryKind::Ask, vec![2])
                .build(),
            Err(BuildError::DuplicateKnown {
                kind: EntryKind::Ask,
                first: 0,
                second: 1
            })
        );
        let mut many = CertTableBuilder::new();
        for i in 0..=MAX_ENTRIES {
            many.push(Guid([i as u8 + 1; 16]), vec![1]);
        }
        assert!(matches!(
            many.build(),
            Err(BuildError::TooManyEntries { .. })
        ));
        // Exactly the cap is fine.
        let mut cap = CertTableBuilder::new();
        for i in 0..MAX_ENTRIES {
            cap.push(Guid([i as u8 + 1; 16]), vec![1]);
        }
        assert_eq!(
            CertTable::parse(&cap.build().unwrap()).unwrap().len(),
            MAX_ENTRIES
        );
    }

    fn arb_entries() -> impl Strategy<Value = Vec<(Guid, Vec<u8>)>> {
        let guid = prop_oneof![
            Just(Guid::VCEK),
            Just(Guid::VLEK),
            Just(Guid::ASK),
            Just(Guid::ARK),
            Just(Guid::CRL),
            any::<[u8; 16]>()
                .prop_filter("non-zero", |g| *g != [0; 16])
                .prop_map(Guid),
        ];
        proptest::collection::vec(
            (guid, proptest::collection::vec(any::<u8>(), 1..200)),
            0..12,
        )
        .prop_map(|v| {
            // Drop later duplicates of unique kinds: the builder would (rightly) refuse them.
            let mut seen = Vec::new();
            v.into_iter()
                .filter(|(g, _)| {
                    if EntryKind::from_guid(*g).is_unique() {
                        if seen.contains(g) {
                            return false;
                        }
                        seen.push(*g);
                    }
                    true
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            if let Ok(t) = CertTable::parse(&bytes) {
                for e in t.entries() {
                    let _ = e.der();
                    prop_assert!(e.offset as usize >= t.header_len());
                }
                let _ = (t.vcek(), t.vlek(), t.ask(), t.ark(), t.used_len());
                prop_assert!(t.used_len() <= bytes.len());
            }
        }

        #[test]
        fn parsing_mutated_tables_never_panics(
            entries in arb_entries(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        ) {
            let mut b = CertTableBuilder::new();
            for (g, p) in &entries { b.push(*g, p.clone()); }
            let mut bytes = b.build().unwrap();
            for (at, v) in flips {
                let n = bytes.len();
                bytes[at % n] = v;
            }
            if let Ok(t) = CertTable::parse(&bytes) {
                for e in t.entries() { let _ = e.der(); }
            }
        }

        #[test]
        fn build_then_parse_round_trips(entries in arb_entries(), pad in any::<bool>()) {
            let mut b = CertTableBuilder::new();
            for (g, p) in &entries { b.push(*g, p.clone()); }
            let bytes = if pad { b.build_padded(PAGE_SIZE).unwrap() } else { b.build().unwrap() };
            let t = CertTable::parse(&bytes).unwrap();
            prop_assert_eq!(t.len(), entries.len());
            for (e, (g, p)) in t.entries().iter().zip(&entries) {
                prop_assert_eq!(e.guid, *g);
                prop_assert_eq!(e.kind, EntryKind::from_guid(*g));
                prop_assert_eq!(e.bytes, &p[..]);
            }
        }
    }
}
