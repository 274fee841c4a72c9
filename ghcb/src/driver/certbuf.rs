//! Certificate buffers the driver can size.

/// A certificate buffer the driver can size. Implemented for fixed slices (no_std, no alloc)
/// and, with the `alloc` feature, for `Vec<u8>` (growable).
pub trait CertBuf {
    /// Make at least `len` bytes available; `false` if the buffer cannot hold that many.
    fn ensure_len(&mut self, len: usize) -> bool;
    /// The whole buffer.
    fn bytes_mut(&mut self) -> &mut [u8];
    /// Called once with the final length of the certificate data (a `Vec` truncates to it).
    fn finish(&mut self, _len: usize) {}
}

impl CertBuf for [u8] {
    fn ensure_len(&mut self, len: usize) -> bool {
        self.len() >= len
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
}

#[cfg(feature = "alloc")]
impl CertBuf for alloc::vec::Vec<u8> {
    fn ensure_len(&mut self, len: usize) -> bool {
        if self.len() < len {
            self.resize(len, 0);
        }
        true
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
    fn finish(&mut self, len: usize) {
        self.truncate(len);
    }
}

/// Bytes of a GHCB certificate table entry (GUID, offset, length).
const ENTRY_SIZE: usize = 24;

/// Pages the certificate table in `buf` really occupies: up to the end of its furthest entry
/// (offset + length), or its header, whichever is larger. Where the table is malformed (no
/// terminator within the buffer, an entry past the end) the whole buffer counts, so a hint
/// derived from it is never smaller than what the host may need.
pub(super) fn table_pages(buf: &[u8]) -> usize {
    let page = crate::page::PAGE_SIZE;
    let mut end = 0usize;
    for (i, entry) in buf.chunks_exact(ENTRY_SIZE).enumerate() {
        if entry.iter().all(|&b| b == 0) {
            return end.max((i + 1) * ENTRY_SIZE).div_ceil(page);
        }
        let word = |at: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(&entry[at..at + 4]);
            u32::from_le_bytes(w) as usize
        };
        match word(16).checked_add(word(20)) {
            Some(e) if e <= buf.len() => end = end.max(e),
            _ => break,
        }
    }
    buf.len().div_ceil(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::PAGE_SIZE;

    fn entry(offset: u32, len: u32) -> [u8; ENTRY_SIZE] {
        let mut e = [0x11u8; ENTRY_SIZE];
        e[16..20].copy_from_slice(&offset.to_le_bytes());
        e[20..24].copy_from_slice(&len.to_le_bytes());
        e
    }

    #[test]
    fn table_pages_is_the_real_extent_or_the_whole_buffer() {
        let mut buf = [0u8; 8 * PAGE_SIZE];
        assert_eq!(
            table_pages(&buf),
            1,
            "an empty table still has its terminator"
        );
        buf[..24].copy_from_slice(&entry(72, 5000));
        assert_eq!(table_pages(&buf), 2);
        buf[24..48].copy_from_slice(&entry(5072, 100));
        assert_eq!(table_pages(&buf), 2);
        // An entry past the end: the whole buffer.
        buf[24..48].copy_from_slice(&entry(8 * PAGE_SIZE as u32, 1));
        assert_eq!(table_pages(&buf), 8);
        // No terminator at all.
        assert_eq!(table_pages(&[0xFF; 3 * PAGE_SIZE]), 3);
        assert_eq!(table_pages(&[]), 0);
    }
}
