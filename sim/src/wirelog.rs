//! Every guest message the host saw, by (VMPCK, sequence number), to catch AES-GCM IV reuse.
//!
//! Re-sending the identical bytes under one sequence number is harmless (that is what BUSY asks
//! for); two *different* messages under one (VMPCK, sequence number) reuse an IV, which leaks
//! the XOR of the plaintexts and the GHASH key. The firmware's own counters cannot tell the two
//! apart (both are "the wrong sequence number" to it), so the platform records a digest of
//! every request page it is handed, whichever face it came through.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::firmware::Page;

/// Bound on recorded pairs: a long-running server keeps working, it just stops recording.
const MAX_RECORDED: usize = 1 << 16;

/// The record.
#[derive(Debug, Default)]
pub struct WireLog {
    seen: HashMap<(u8, u64), [u8; 32]>,
    reuses: Vec<(u8, u64)>,
}

impl WireLog {
    /// Record the request page `req` (header: seqno at 0x20, VMPCK id at 0x3C).
    pub fn record(&mut self, req: &Page) {
        let mut s = [0u8; 8];
        s.copy_from_slice(&req[0x20..0x28]);
        let key = (req[0x3C], u64::from_le_bytes(s));
        let digest: [u8; 32] = Sha256::digest(req).into();
        match self.seen.get(&key) {
            Some(prev) if *prev != digest => {
                tracing::error!(
                    vmpck = key.0,
                    seqno = key.1,
                    "two different guest messages under one sequence number"
                );
                if self.reuses.len() < MAX_RECORDED {
                    self.reuses.push(key);
                }
            }
            Some(_) => {}
            None if self.seen.len() < MAX_RECORDED => {
                self.seen.insert(key, digest);
            }
            None => {}
        }
    }

    /// The (VMPCK, seqno) pairs that carried two different messages.
    pub fn reuses(&self) -> &[(u8, u64)] {
        &self.reuses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_resends_are_fine_different_bytes_are_reuse() {
        let mut log = WireLog::default();
        let mut page = [0u8; 4096];
        page[0x20] = 5;
        log.record(&page);
        log.record(&page);
        assert!(log.reuses().is_empty());
        page[0x100] = 1;
        log.record(&page);
        assert_eq!(log.reuses(), &[(0, 5)]);
        page[0x3C] = 1; // another VMPCK, same seqno: a different IV space
        log.record(&page);
        assert_eq!(log.reuses(), &[(0, 5)]);
    }
}
