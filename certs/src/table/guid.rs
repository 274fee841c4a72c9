//! The GUIDs of the table and what each entry holds.

use super::*;

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
