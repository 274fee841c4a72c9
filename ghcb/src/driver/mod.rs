//! The no_std guest driver for (extended) guest requests over a Vmgexit trait.
//!
//! [`Vmgexit`] is the guest's whole view of the platform: host-shared pages addressed by GPA, the
//! VMGEXIT itself, and the GHCB MSR exchange. Real firmware code implements it with page-state
//! changes and the VMGEXIT instruction; tests and the agent's `sim` backend implement it with the
//! simulator. Everything above the trait (GHCB filling, sequence numbers, encryption, the retry
//! policy) is plain safe Rust that runs identically in both.
//!
//! # Sequence numbers: one plaintext per (VMPCK, seqno), across restarts
//!
//! AES-GCM under a VMPCK takes its IV from the message sequence number, so two different
//! messages under one number leak their XOR and the GHASH key. The firmware only accepts the
//! next number and only advances on a consumed request, so after a failure the guest may either
//! re-send the identical bytes or stop using the key. The rules here:
//!
//! - **A sequence number is persisted before it is exposed.** The count a successor must
//!   continue from (`last sealed + 1`) goes to the key's home ([`VmpckStore`], the secrets page)
//!   before the message is sealed, so before every VMGEXIT that carries it. A driver that is
//!   dropped, crashes or is re-created finds that count — not the count a caller remembered —
//!   and never seals a second plaintext under a number the host has seen.
//! - **Every call ends accounted for.** A message is either consumed (the count advances), or
//!   burnt by re-sending the identical bytes as a plain request (INVALID_LEN, as Linux does), or
//!   the key is wiped — in the driver *and* in its home ([`VmpckStore::wipe_key`]). No message
//!   is kept for a later call.
//! - **BUSY past the deadline wipes the key (option (a) of issue 16).** BUSY says "not
//!   forwarded", but that is the host's claim: a hostile host can forward message N, keep the
//!   response, and answer BUSY until the guest gives up. Keeping N for a later call (the earlier
//!   design) was IV-safe only while that driver lived: its `Drop` discarded the message, and a
//!   second driver on the same guest — say a second `SimBackend` on a shared `SimPlatform`,
//!   given the firmware's count N-1 — sealed a *different* plaintext at N. Linux (60 s of BUSY →
//!   `ETIMEDOUT`, VMPCK disabled) and coconut-svsm (one re-send, then wipe VMPCK0) stop using the
//!   key; so does this driver. The alternative, (b) keeping the message behind a persisting
//!   platform hook, would add state every implementor must get right for a case that only a
//!   throttling or hostile host produces, and still leaves the firmware possibly one message
//!   ahead; wiping needs nothing but the store every caller implements anyway.

mod certbuf;
mod error;
mod exchange;
mod platform;
mod response;
mod slot;
mod store;
#[cfg(test)]
mod tests;

pub use certbuf::CertBuf;
pub use error::{DriverError, PlatformError, WipeReason};
pub use platform::{Gpa, Vmgexit};
pub use response::{ExtReport, ReportResponse};
pub use slot::MAX_SEQNO;
pub use store::{StoreError, VmpckStore, VolatileStore};

use zeroize::Zeroize;

use crate::exit::FwStatus;
use crate::message::{MsgType, Vmpck, VmpckId, MAX_PAYLOAD};
use crate::msr::{self, SevInfo};
use crate::page::GHCB_PROTOCOL_VERSION_SNP;
use crate::payload::{KeyReq, KeyRsp, ReportReq, KEY_REQ_SIZE};
use crate::retry::{Clock, RetryPolicy};

use response::check_report_response;
use slot::KeySlot;

/// The guest side of SNP guest requests over a [`Vmgexit`] platform.
///
/// Owns the driver's copies of the VMPCKs and their message counters, and keeps their home
/// ([`VmpckStore`]) up to date: a sequence number is used for exactly one plaintext, ever, even
/// across drivers. Construct with [`GuestDriver::open`] over the secrets page (or
/// [`GuestDriver::new`] with a key in memory), then call [`GuestDriver::get_report`] /
/// [`GuestDriver::get_ext_report`].
pub struct GuestDriver<V: Vmgexit, C: Clock, S: VmpckStore = VolatileStore> {
    platform: V,
    clock: C,
    store: S,
    policy: RetryPolicy,
    ghcb_gpa: Gpa,
    /// Two shared pages: request at `msg_gpa`, response at `msg_gpa + PAGE_SIZE`.
    msg_gpa: Gpa,
    cert_area: Option<(Gpa, usize)>,
    slots: [KeySlot; 4],
    active: VmpckId,
    hint_pages: usize,
}

impl<V: Vmgexit, C: Clock> GuestDriver<V, C, VolatileStore> {
    /// [`GuestDriver::open`] with `vmpck` and `message_count` held in a [`VolatileStore`]: for
    /// callers whose key has no other home. The count is then only as good as the caller's
    /// memory of it — prefer [`GuestDriver::open`] over the secrets page.
    pub fn new(
        platform: V,
        clock: C,
        policy: RetryPolicy,
        id: VmpckId,
        vmpck: Vmpck,
        message_count: u64,
    ) -> Result<Self, DriverError> {
        if vmpck.is_zero() {
            return Err(DriverError::NoKey { id: id.get() });
        }
        let mut store = VolatileStore::default();
        store.insert(id, vmpck, message_count);
        Self::open(platform, store, clock, policy, id)
    }

    /// Install another VMPCK (e.g. a lower-privilege key) with its current message count, in
    /// the in-memory store.
    pub fn add_vmpck(
        &mut self,
        id: VmpckId,
        vmpck: Vmpck,
        message_count: u64,
    ) -> Result<(), DriverError> {
        if vmpck.is_zero() {
            return Err(DriverError::NoKey { id: id.get() });
        }
        if let Some(reason) = self.slots[id.get() as usize].wiped {
            return Err(DriverError::KeyDisabled {
                id: id.get(),
                reason,
            });
        }
        self.store.insert(id, vmpck, message_count);
        self.load_vmpck(id)
    }
}

impl<V: Vmgexit, C: Clock, S: VmpckStore> GuestDriver<V, C, S> {
    /// Negotiate the GHCB protocol, register a GHCB, allocate the message pages and install
    /// VMPCK `id` from `store` (key and message count, as the secrets page holds them) as the
    /// active key.
    pub fn open(
        mut platform: V,
        mut store: S,
        clock: C,
        policy: RetryPolicy,
        id: VmpckId,
    ) -> Result<Self, DriverError> {
        let Some((vmpck, message_count)) = store.load(id) else {
            return Err(DriverError::NoKey { id: id.get() });
        };
        let info = SevInfo::decode(platform.msr_exchange(msr::sev_info_request())?)?;
        if !info.supports(GHCB_PROTOCOL_VERSION_SNP) {
            return Err(DriverError::ProtocolUnsupported {
                min: info.min_protocol,
                max: info.max_protocol,
            });
        }
        let ghcb_gpa = platform.alloc_shared(1)?;
        let registered = msr::register_gpa_request(ghcb_gpa)
            .map_err(DriverError::from)
            .and_then(|v| Ok(platform.msr_exchange(v)?))
            .and_then(|r| Ok(msr::check_register_gpa_response(r, ghcb_gpa)?));
        if let Err(e) = registered {
            platform.free_shared(ghcb_gpa, 1);
            return Err(e);
        }
        let msg_gpa = match platform.alloc_shared(2) {
            Ok(g) => g,
            Err(e) => {
                platform.free_shared(ghcb_gpa, 1);
                return Err(e.into());
            }
        };
        let mut slots = [
            KeySlot::EMPTY,
            KeySlot::EMPTY,
            KeySlot::EMPTY,
            KeySlot::EMPTY,
        ];
        slots[id.get() as usize] = KeySlot {
            key: Some(vmpck),
            count: message_count,
            last_sealed: message_count,
            wiped: None,
        };
        Ok(Self {
            platform,
            clock,
            store,
            policy,
            ghcb_gpa,
            msg_gpa,
            cert_area: None,
            slots,
            active: id,
            hint_pages: cold_hint(&policy),
        })
    }

    /// The certificate buffer size of a first request: the policy's initial size.
    fn cold_hint(&self) -> usize {
        cold_hint(&self.policy)
    }

    /// (Re-)install VMPCK `id` from the store. The count never moves backwards: the larger of
    /// the store's and this driver's own hand-off count wins.
    pub fn load_vmpck(&mut self, id: VmpckId) -> Result<(), DriverError> {
        let slot = &self.slots[id.get() as usize];
        if let Some(reason) = slot.wiped {
            return Err(DriverError::KeyDisabled {
                id: id.get(),
                reason,
            });
        }
        let Some((vmpck, stored)) = self.store.load(id) else {
            return Err(DriverError::NoKey { id: id.get() });
        };
        let count = stored.max(slot.handoff_count());
        let last_sealed = slot.last_sealed.max(count);
        self.slots[id.get() as usize] = KeySlot {
            key: Some(vmpck),
            count,
            last_sealed,
            wiped: None,
        };
        Ok(())
    }

    /// The store holding the keys' home copies and counts.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Choose the VMPCK used by subsequent requests.
    pub fn use_vmpck(&mut self, id: VmpckId) -> Result<(), DriverError> {
        self.check_key(id)?;
        self.active = id;
        Ok(())
    }

    /// The active VMPCK id.
    pub fn active_vmpck(&self) -> VmpckId {
        self.active
    }

    /// The message count a later user of the key must continue from (what the driver persists).
    /// A message the host saw but the firmware (as far as we know) did not consume — lost when
    /// the key was wiped — keeps its sequence number: the count skips past it.
    pub fn message_count(&self, id: VmpckId) -> u64 {
        self.slots[id.get() as usize].handoff_count()
    }

    /// Why a key was wiped, if it was.
    pub fn wipe_reason(&self, id: VmpckId) -> Option<WipeReason> {
        self.slots[id.get() as usize].wiped
    }

    /// Certificate buffer size (pages) the next extended request starts with: the size of the
    /// last table the host served (after a success; at least the policy's initial size) or asked
    /// for (after INVALID_LEN), so the steady state costs one firmware request and a hostile
    /// INVALID_LEN does not keep the buffer at its maximum.
    pub fn size_hint_pages(&self) -> usize {
        self.hint_pages
    }

    /// The retry policy in force.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// GPA of the registered GHCB.
    pub fn ghcb_gpa(&self) -> Gpa {
        self.ghcb_gpa
    }

    /// The platform (e.g. for a simulator's counters).
    pub fn platform(&self) -> &V {
        &self.platform
    }

    /// The platform, mutably (e.g. to inject faults in a simulator).
    pub fn platform_mut(&mut self) -> &mut V {
        &mut self.platform
    }

    /// MSG_REPORT_REQ through a plain guest request (no certificates).
    pub fn get_report(&mut self, req: &ReportReq) -> Result<ReportResponse, DriverError> {
        let payload = req.to_bytes().map_err(DriverError::Payload)?;
        let mut out = ReportResponse {
            bytes: [0; MAX_PAYLOAD],
            len: 0,
        };
        let (len, _) = self.request::<[u8]>(MsgType::ReportReq, &payload, None, &mut out.bytes)?;
        out.len = len;
        check_report_response(&out)?;
        Ok(out)
    }

    /// MSG_REPORT_REQ through an extended guest request: the report and the host's certificate
    /// data (into `certs`, growing it where the buffer allows and the policy permits).
    pub fn get_ext_report<B: CertBuf + ?Sized>(
        &mut self,
        req: &ReportReq,
        certs: &mut B,
    ) -> Result<ExtReport, DriverError> {
        let payload = req.to_bytes().map_err(DriverError::Payload)?;
        let mut out = ReportResponse {
            bytes: [0; MAX_PAYLOAD],
            len: 0,
        };
        let (len, certs_len) =
            self.request(MsgType::ReportReq, &payload, Some(certs), &mut out.bytes)?;
        out.len = len;
        check_report_response(&out)?;
        Ok(ExtReport {
            response: out,
            certs_len,
        })
    }

    /// MSG_KEY_REQ: a key derived by the firmware.
    pub fn get_derived_key(&mut self, req: &KeyReq) -> Result<KeyRsp, DriverError> {
        let mut payload = [0u8; KEY_REQ_SIZE];
        req.encode(&mut payload).map_err(DriverError::Payload)?;
        let mut out = [0u8; MAX_PAYLOAD];
        let r = self.request::<[u8]>(MsgType::KeyReq, &payload, None, &mut out);
        let decoded = r.and_then(|(len, _)| {
            KeyRsp::decode(&out[..len]).map_err(|_| DriverError::ResponseTooShort {
                len,
                needed: crate::payload::KEY_RSP_SIZE,
            })
        });
        out.zeroize();
        let rsp = decoded?;
        if rsp.status != FwStatus::Success {
            return Err(DriverError::FirmwareRefused { status: rsp.status });
        }
        Ok(rsp)
    }

    fn check_key(&self, id: VmpckId) -> Result<(), DriverError> {
        let slot = &self.slots[id.get() as usize];
        if let Some(reason) = slot.wiped {
            return Err(DriverError::KeyDisabled {
                id: id.get(),
                reason,
            });
        }
        if slot.key.is_none() {
            return Err(DriverError::NoKey { id: id.get() });
        }
        Ok(())
    }

    /// Wipe a key for good: the driver's copy and the key's home, after persisting the count
    /// that skips every sequence number the host has seen.
    fn wipe(&mut self, id: VmpckId, reason: WipeReason) -> DriverError {
        let slot = &mut self.slots[id.get() as usize];
        slot.key = None; // Vmpck zeroizes on drop
        slot.wiped = Some(reason);
        let count = slot.handoff_count();
        // The key is going regardless; a count that cannot be written only matters to a key
        // that can still be used, and this one cannot.
        let _ = self.store.persist_count(id, count);
        self.store.wipe_key(id);
        DriverError::Wiped {
            id: id.get(),
            reason,
        }
    }
}

fn cold_hint(policy: &RetryPolicy) -> usize {
    policy
        .initial_cert_pages
        .clamp(1, policy.max_cert_pages.max(1))
}

impl<V: Vmgexit, C: Clock, S: VmpckStore> Drop for GuestDriver<V, C, S> {
    fn drop(&mut self) {
        // The counts are persisted before every exposure; this covers a caller that installed
        // a key and never used it with a count the store did not have.
        for (i, slot) in self.slots.iter().enumerate() {
            if slot.key.is_some() {
                if let Ok(id) = VmpckId::new(i as u8) {
                    let _ = self.store.persist_count(id, slot.handoff_count());
                }
            }
        }
        if let Some((gpa, n)) = self.cert_area.take() {
            self.platform.free_shared(gpa, n);
        }
        self.platform.free_shared(self.msg_gpa, 2);
    }
}
