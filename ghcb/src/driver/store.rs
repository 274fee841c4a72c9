//! Where a VMPCK and its message count live: [`VmpckStore`].
//!
//! The driver's copy of a key is not the only one. The firmware put the VMPCKs into the guest's
//! secrets page, and Linux keeps each key's message count in that page's OS area, so whoever
//! uses a key next continues from the right sequence number. A driver that only forgets its own
//! copy when it wipes a key leaves the key usable by the next driver — which then starts from a
//! count that knows nothing of the messages the host saw. The driver therefore reaches the
//! key's home through this trait:
//! - [`VmpckStore::load`] when a key is installed: the key *and* the count come from the home,
//!   never from a number a caller remembered;
//! - [`VmpckStore::persist_count`] before a sealed message can reach the host (so before every
//!   VMGEXIT that carries it), on every wipe and on drop: the count a successor must continue
//!   from, which skips every sequence number the host has seen;
//! - [`VmpckStore::wipe_key`] on every wipe: the key is zeroed where it lives.
//!
//! Firmware/SVSM code implements it over its secrets-page mapping ([`crate::secrets::SecretsPage`]);
//! the simulator over its model of the page. [`VolatileStore`] keeps keys in memory for callers
//! with no such home; with it the guarantees last only as long as the store.

use thiserror::Error;

use crate::message::{Vmpck, VmpckId};

/// A store could not persist a message count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum StoreError {
    /// The count does not fit the store (the secrets page keeps u32 counts).
    #[error("message count {count} does not fit the secrets page's 32-bit counter")]
    CountTooLarge {
        /// The count.
        count: u64,
    },
    /// The store is not writable (e.g. the mapping is gone).
    #[error("the VMPCK store cannot be written: {0}")]
    Unavailable(&'static str),
}

/// The home of the VMPCKs and their message counts (see the module docs).
pub trait VmpckStore {
    /// VMPCK `id` and the message count to continue from (last sequence number used), or `None`
    /// when the key is absent or all zero (wiped, or not accessible at this VMPL).
    fn load(&mut self, id: VmpckId) -> Option<(Vmpck, u64)>;
    /// Persist the message count of VMPCK `id`. The driver never lowers it.
    fn persist_count(&mut self, id: VmpckId, count: u64) -> Result<(), StoreError>;
    /// Zero VMPCK `id` where it lives, for good.
    fn wipe_key(&mut self, id: VmpckId);
}

impl<S: VmpckStore + ?Sized> VmpckStore for &mut S {
    fn load(&mut self, id: VmpckId) -> Option<(Vmpck, u64)> {
        (**self).load(id)
    }
    fn persist_count(&mut self, id: VmpckId, count: u64) -> Result<(), StoreError> {
        (**self).persist_count(id, count)
    }
    fn wipe_key(&mut self, id: VmpckId) {
        (**self).wipe_key(id)
    }
}

/// Keys and counts in memory only: for callers whose keys have no other home. Sequence-number
/// safety then holds only while this store lives — a second driver built from the same key and
/// a remembered count may reuse a sequence number the host saw; use a store over the secrets
/// page wherever another driver or OS can continue with the key.
#[derive(Debug, Default)]
pub struct VolatileStore {
    keys: [Option<Vmpck>; 4],
    counts: [u64; 4],
}

impl VolatileStore {
    /// Put `vmpck` with `count` into slot `id` (the count never moves backwards).
    pub fn insert(&mut self, id: VmpckId, vmpck: Vmpck, count: u64) {
        let i = usize::from(id.get());
        self.keys[i] = Some(vmpck);
        self.counts[i] = self.counts[i].max(count);
    }

    /// The persisted count of `id`.
    pub fn count(&self, id: VmpckId) -> u64 {
        self.counts[usize::from(id.get())]
    }

    /// Whether `id` holds a key (not wiped).
    pub fn has_key(&self, id: VmpckId) -> bool {
        self.keys[usize::from(id.get())].is_some()
    }
}

impl VmpckStore for VolatileStore {
    fn load(&mut self, id: VmpckId) -> Option<(Vmpck, u64)> {
        let i = usize::from(id.get());
        let key = self.keys[i].clone().filter(|k| !k.is_zero())?;
        Some((key, self.counts[i]))
    }
    fn persist_count(&mut self, id: VmpckId, count: u64) -> Result<(), StoreError> {
        let c = &mut self.counts[usize::from(id.get())];
        *c = (*c).max(count);
        Ok(())
    }
    fn wipe_key(&mut self, id: VmpckId) {
        // Vmpck zeroizes on drop.
        self.keys[usize::from(id.get())] = None;
    }
}
