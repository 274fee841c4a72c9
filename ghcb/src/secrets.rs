//! The SNP secrets page: where a guest's VMPCKs and their message counts live.
//!
//! The firmware places the VMPCKs in a private page at launch; Linux keeps the per-key message
//! counter in the page's OS area (`msg_seqno_0..3`, u32 each) so that whoever uses a key next
//! (a later kernel, a driver reloaded with another `vmpck_id`) continues from the right number.
//! This module is the one definition of that layout (abi-facts §1.7, Linux `snp_secrets_page`,
//! coconut-svsm `secrets_page.rs`), used by the guest ([`SecretsPage`] implements
//! [`crate::driver::VmpckStore`]) and by the simulator alike.

use crate::driver::{StoreError, VmpckStore};
use crate::message::{Vmpck, VmpckId};
use crate::page::PAGE_SIZE;

/// Offset of VMPCK0; VMPCKn is at `VMPCK_OFFSET + 32 * n`.
pub const VMPCK_OFFSET: usize = 0x20;
/// Length of one VMPCK.
pub const VMPCK_LEN: usize = 32;
/// Offset of the OS area's `msg_seqno_0`; `msg_seqno_n` (u32 LE) is at `MSG_SEQNO_OFFSET + 4 * n`.
pub const MSG_SEQNO_OFFSET: usize = 0xA0;

fn vmpck_range(id: VmpckId) -> core::ops::Range<usize> {
    let at = VMPCK_OFFSET + VMPCK_LEN * usize::from(id.get());
    at..at + VMPCK_LEN
}

fn seqno_range(id: VmpckId) -> core::ops::Range<usize> {
    let at = MSG_SEQNO_OFFSET + 4 * usize::from(id.get());
    at..at + 4
}

/// A guest's mapping of its secrets page, seen as the home of its VMPCKs and message counts.
///
/// Safe code over a page the caller has mapped (firmware/SVSM code hands in its mapping; the
/// simulator its model of the page).
#[derive(Debug)]
pub struct SecretsPage<'a>(pub &'a mut [u8; PAGE_SIZE]);

impl SecretsPage<'_> {
    /// VMPCK `id` as stored (all zero once wiped, or for a VMPCK this VMPL may not use).
    pub fn vmpck(&self, id: VmpckId) -> [u8; VMPCK_LEN] {
        let mut k = [0u8; VMPCK_LEN];
        k.copy_from_slice(&self.0[vmpck_range(id)]);
        k
    }

    /// Store VMPCK `id` (what the firmware does at launch).
    pub fn set_vmpck(&mut self, id: VmpckId, key: &[u8; VMPCK_LEN]) {
        self.0[vmpck_range(id)].copy_from_slice(key);
    }

    /// The OS-area message count of VMPCK `id` (last sequence number used).
    pub fn msg_seqno(&self, id: VmpckId) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.0[seqno_range(id)]);
        u32::from_le_bytes(b)
    }

    /// Write the OS-area message count of VMPCK `id`.
    pub fn set_msg_seqno(&mut self, id: VmpckId, count: u32) {
        self.0[seqno_range(id)].copy_from_slice(&count.to_le_bytes());
    }
}

impl VmpckStore for SecretsPage<'_> {
    fn load(&mut self, id: VmpckId) -> Option<(Vmpck, u64)> {
        let key = Vmpck::new(self.vmpck(id));
        if key.is_zero() {
            return None;
        }
        Some((key, u64::from(self.msg_seqno(id))))
    }

    fn persist_count(&mut self, id: VmpckId, count: u64) -> Result<(), StoreError> {
        let c = u32::try_from(count).map_err(|_| StoreError::CountTooLarge { count })?;
        // Never lower it: a driver that is dropped after another one used the key must not
        // hand out numbers the other already used.
        if c > self.msg_seqno(id) {
            self.set_msg_seqno(id, c);
        }
        Ok(())
    }

    fn wipe_key(&mut self, id: VmpckId) {
        // Plain stores to the caller's mapping; `zeroize` keeps the compiler from eliding them.
        use zeroize::Zeroize;
        self.0[vmpck_range(id)].zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_linux_snp_secrets_page() {
        let mut page = [0u8; PAGE_SIZE];
        let mut s = SecretsPage(&mut page);
        let id = VmpckId::new(3).unwrap();
        s.set_vmpck(id, &[0xAB; 32]);
        s.set_msg_seqno(id, 0x0102_0304);
        // VMPCK3 at 0x80..0xA0, msg_seqno_3 at 0xAC..0xB0 (abi-facts §1.7).
        assert!(page[0x80..0xA0].iter().all(|&b| b == 0xAB));
        assert_eq!(&page[0xAC..0xB0], &[4, 3, 2, 1]);
        assert!(page[..0x80].iter().all(|&b| b == 0));
    }

    #[test]
    fn store_loads_persists_and_wipes() {
        let mut page = [0u8; PAGE_SIZE];
        let mut s = SecretsPage(&mut page);
        let id = VmpckId::ZERO;
        assert!(s.load(id).is_none(), "a zero key is no key");
        s.set_vmpck(id, &[7; 32]);
        s.persist_count(id, 42).unwrap();
        let (_, count) = s.load(id).unwrap();
        assert_eq!(count, 42);
        assert_eq!(
            s.persist_count(id, u64::from(u32::MAX) + 1),
            Err(StoreError::CountTooLarge {
                count: u64::from(u32::MAX) + 1
            })
        );
        s.persist_count(id, 10).unwrap();
        assert_eq!(s.msg_seqno(id), 42, "never lowered");
        s.wipe_key(id);
        assert!(s.load(id).is_none());
        assert_eq!(s.msg_seqno(id), 42, "the count survives the wipe");
    }
}
