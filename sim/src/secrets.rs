//! The simulated guest's secrets page: the firmware writes the VMPCKs into it at launch, guest
//! drivers keep each key's message count in its OS area and zero a key there when they wipe it.
//!
//! The byte layout is `snp_ghcb::secrets` (one definition for guest and simulator); this module
//! builds the page at launch and hands guest drivers a [`SimSecretsStore`], the
//! `snp_ghcb::driver::VmpckStore` a firmware guest would implement over its own mapping. The
//! firmware's copy of each key is separate: wiping the guest's copy does not change what the
//! firmware accepts, exactly as on hardware.

use snp_ghcb::driver::{StoreError, VmpckStore};
use snp_ghcb::message::{Vmpck, VmpckId};
use snp_ghcb::secrets::SecretsPage;

use crate::firmware::Page;
use crate::memory::PAGE_SIZE;
use crate::platform::SimPlatform;

/// The secrets page as the firmware fills it at launch: the four VMPCKs, all counts zero.
pub fn launch_page(vmpcks: &[[u8; 32]; 4]) -> Box<Page> {
    let mut page = Box::new([0u8; PAGE_SIZE]);
    let mut s = SecretsPage(&mut page);
    for (i, key) in vmpcks.iter().enumerate() {
        if let Ok(id) = VmpckId::new(i as u8) {
            s.set_vmpck(id, key);
        }
    }
    page
}

/// A guest driver's handle on the simulated secrets page (clones of the platform share it).
#[derive(Debug, Clone)]
pub struct SimSecretsStore {
    platform: SimPlatform,
}

impl SimSecretsStore {
    /// The store of `platform`'s guest.
    pub fn new(platform: SimPlatform) -> Self {
        Self { platform }
    }
}

impl VmpckStore for SimSecretsStore {
    fn load(&mut self, id: VmpckId) -> Option<(Vmpck, u64)> {
        self.platform.with_secrets(|s| s.load(id))
    }
    fn persist_count(&mut self, id: VmpckId, count: u64) -> Result<(), StoreError> {
        self.platform.with_secrets(|s| s.persist_count(id, count))
    }
    fn wipe_key(&mut self, id: VmpckId) {
        tracing::warn!(
            vmpck = id.get(),
            "guest driver zeroed its VMPCK in the secrets page"
        );
        self.platform.with_secrets(|s| s.wipe_key(id))
    }
}
