//! Per-key state (the VMPCK, its message count, the highest sequence number sealed) and a sealed
//! message.

use zeroize::Zeroize;

use crate::message::{MsgMeta, Vmpck};
use crate::page::PAGE_SIZE;

use super::WipeReason;

/// Sequence numbers are kept as u32 in the secrets page (Linux refuses to go past `u32::MAX`), so
/// the driver stops there too: a counter it could not write back would desynchronise the OS.
pub const MAX_SEQNO: u64 = u32::MAX as u64 - 1;

pub(super) struct KeySlot {
    pub(super) key: Option<Vmpck>,
    /// Message count: the last sequence number used (response). Next request = count + 1.
    pub(super) count: u64,
    /// Highest sequence number ever sealed (defence in depth against reuse).
    pub(super) last_sealed: u64,
    pub(super) wiped: Option<WipeReason>,
}

impl KeySlot {
    pub(super) const EMPTY: KeySlot = KeySlot {
        key: None,
        count: 0,
        last_sealed: 0,
        wiped: None,
    };

    /// The count whoever uses this key next must continue from. Normally the firmware's count;
    /// but a sealed message that was exposed to the host and never accounted for (in flight, or
    /// lost with a wiped key) owns its sequence number, so the count skips past it. Like
    /// Linux's unconditional `seqno += 2`, that may leave the firmware expecting a lower number
    /// (the next request then fails), but no sequence number ever carries a second plaintext.
    pub(super) fn handoff_count(&self) -> u64 {
        if self.last_sealed > self.count {
            self.last_sealed.saturating_add(1)
        } else {
            self.count
        }
    }
}

/// A sealed message (private copy). From the moment it is sealed its sequence number belongs to
/// these bytes only: the only IV-safe re-use of the number is to re-send them unchanged.
pub(super) struct Sealed {
    pub(super) meta: MsgMeta,
    pub(super) page: [u8; PAGE_SIZE],
}

impl Drop for Sealed {
    fn drop(&mut self) {
        self.page.zeroize();
    }
}
