//! The no_std guest driver for (extended) guest requests over a Vmgexit trait.
//!
//! [`Vmgexit`] is the guest's whole view of the platform: host-shared pages addressed by GPA, the
//! VMGEXIT itself, and the GHCB MSR exchange. Real firmware code implements it with page-state
//! changes and the VMGEXIT instruction; tests and the agent's `sim` backend implement it with the
//! simulator. Everything above the trait (GHCB filling, sequence numbers, encryption, the retry
//! policy) is plain safe Rust that runs identically in both.

mod certbuf;
mod error;
mod exchange;
mod platform;
mod response;
mod slot;
#[cfg(test)]
mod tests;

pub use certbuf::CertBuf;
pub use error::{DriverError, PlatformError, WipeReason};
pub use platform::{Gpa, Vmgexit};
pub use response::{ExtReport, ReportResponse};
pub use slot::MAX_SEQNO;

use zeroize::Zeroize;

use crate::exit::FwStatus;
use crate::message::{MsgType, Vmpck, VmpckId, MAX_PAYLOAD};
use crate::msr::{self, SevInfo};
use crate::page::GHCB_PROTOCOL_VERSION_SNP;
use crate::payload::{KeyReq, KeyRsp, ReportReq, KEY_REQ_SIZE};
use crate::retry::{Clock, RetryPolicy};

use response::check_report_response;
use slot::{KeySlot, Pending};

/// The guest side of SNP guest requests over a [`Vmgexit`] platform.
///
/// Owns the VMPCKs and their message counters: a sequence number is used for exactly one
/// plaintext, ever. Construct with [`GuestDriver::new`] (which registers the GHCB), then call
/// [`GuestDriver::get_report`] / [`GuestDriver::get_ext_report`].
pub struct GuestDriver<V: Vmgexit, C: Clock> {
    platform: V,
    clock: C,
    policy: RetryPolicy,
    ghcb_gpa: Gpa,
    /// Two shared pages: request at `msg_gpa`, response at `msg_gpa + PAGE_SIZE`.
    msg_gpa: Gpa,
    cert_area: Option<(Gpa, usize)>,
    slots: [KeySlot; 4],
    active: VmpckId,
    hint_pages: usize,
    pending: Option<Pending>,
}

impl<V: Vmgexit, C: Clock> GuestDriver<V, C> {
    /// Negotiate the GHCB protocol, register a GHCB, allocate the message pages and install
    /// `vmpck` as the active key. `message_count` is the key's current count (Linux keeps it in
    /// the secrets page OS area; 0 for a key nobody has used).
    pub fn new(
        mut platform: V,
        clock: C,
        policy: RetryPolicy,
        id: VmpckId,
        vmpck: Vmpck,
        message_count: u64,
    ) -> Result<Self, DriverError> {
        if vmpck.is_zero() {
            return Err(DriverError::NoKey { id: id.get() });
        }
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
            policy,
            ghcb_gpa,
            msg_gpa,
            cert_area: None,
            slots,
            active: id,
            hint_pages: policy
                .initial_cert_pages
                .clamp(1, policy.max_cert_pages.max(1)),
            pending: None,
        })
    }

    /// Install another VMPCK (e.g. a lower-privilege key) with its current message count.
    pub fn add_vmpck(
        &mut self,
        id: VmpckId,
        vmpck: Vmpck,
        message_count: u64,
    ) -> Result<(), DriverError> {
        if vmpck.is_zero() {
            return Err(DriverError::NoKey { id: id.get() });
        }
        let slot = &mut self.slots[id.get() as usize];
        if let Some(reason) = slot.wiped {
            return Err(DriverError::KeyDisabled {
                id: id.get(),
                reason,
            });
        }
        // Never move a counter backwards: that would reuse sequence numbers.
        let count = message_count.max(slot.handoff_count());
        *slot = KeySlot {
            key: Some(vmpck),
            count,
            last_sealed: slot.last_sealed.max(count),
            wiped: None,
        };
        Ok(())
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

    /// The message count of a key, to write back to the secrets page OS area so that a later OS
    /// continues from here instead of reusing sequence numbers. A message the host saw but the
    /// firmware (as far as we know) did not consume — pending after BUSY, or lost when the key
    /// was wiped — keeps its sequence number: the count skips past it.
    pub fn message_count(&self, id: VmpckId) -> u64 {
        self.slots[id.get() as usize].handoff_count()
    }

    /// Why a key was wiped, if it was.
    pub fn wipe_reason(&self, id: VmpckId) -> Option<WipeReason> {
        self.slots[id.get() as usize].wiped
    }

    /// Certificate buffer size (pages) the next extended request starts with: the last size the
    /// host needed, so the steady state costs one firmware request.
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

    /// Whether an unanswered message is waiting to be re-sent (after BUSY exhaustion).
    pub fn has_pending_message(&self) -> bool {
        self.pending.is_some()
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

    /// Wipe a key for good; any pending message under it is dropped with it.
    fn wipe(&mut self, id: VmpckId, reason: WipeReason) -> DriverError {
        let slot = &mut self.slots[id.get() as usize];
        slot.key = None; // Vmpck zeroizes on drop
        slot.wiped = Some(reason);
        if self.pending.as_ref().is_some_and(|p| p.meta.vmpck_id == id) {
            self.pending = None;
        }
        DriverError::Wiped {
            id: id.get(),
            reason,
        }
    }
}

impl<V: Vmgexit, C: Clock> Drop for GuestDriver<V, C> {
    fn drop(&mut self) {
        if let Some((gpa, n)) = self.cert_area.take() {
            self.platform.free_shared(gpa, n);
        }
        self.platform.free_shared(self.msg_gpa, 2);
    }
}
