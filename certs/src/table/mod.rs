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
//!
//! The module is split along its seams: [`Guid`] and [`EntryKind`] (`guid.rs`), the errors
//! (`error.rs`), one [`Entry`] and its payload decoding (`entry.rs`), the parser (`parse.rs`)
//! and the builder (`builder.rs`).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use der::Decode;

mod builder;
mod entry;
mod error;
mod guid;
mod parse;

pub use builder::*;
pub use entry::*;
pub use error::*;
pub use guid::*;
pub use parse::*;

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
#[cfg(test)]
mod tests;
