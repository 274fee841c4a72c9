//! The builder: the exact bytes a host serves, refusing what the parser would reject.

use super::*;

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
