//! The parser: a table over the host's buffer, every offset and length checked.

use super::*;

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
