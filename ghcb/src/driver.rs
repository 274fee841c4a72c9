//! The no_std guest driver for (extended) guest requests over a Vmgexit trait.
//!
//! [`Vmgexit`] is the guest's whole view of the platform: host-shared pages addressed by GPA, the
//! VMGEXIT itself, and the GHCB MSR exchange. Real firmware code implements it with page-state
//! changes and the VMGEXIT instruction; tests and the agent's `sim` backend implement it with the
//! simulator. Everything above the trait (GHCB filling, sequence numbers, encryption, the retry
//! policy) is plain safe Rust that runs identically in both.

use thiserror::Error;
use zeroize::Zeroize;

use crate::page::Ghcb;

use crate::exit::{ExitInfo2, FwStatus, HvResponse, SNP_EXTENDED_GUEST_REQUEST, SNP_GUEST_REQUEST};
use crate::message::{
    self, MessageError, MsgMeta, MsgType, Vmpck, VmpckId, MAX_PAYLOAD, MSG_VERSION_1,
};
use crate::msr::{self, MsrError, SevInfo};
use crate::page::{Field, GHCB_PROTOCOL_VERSION_SNP, GHCB_USAGE_STANDARD, PAGE_SIZE};
use crate::payload::{
    KeyReq, KeyRsp, PayloadError, ReportReq, ReportRsp, KEY_REQ_SIZE, REPORT_RSP_HEADER_SIZE,
};
use crate::retry::{Action, Answer, Clock, RetryError, RetryPolicy, RetryState};

/// A guest physical address.
pub type Gpa = u64;

/// Failures of the platform primitives themselves (not of a guest request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PlatformError {
    /// No host-shared memory of that size could be allocated.
    #[error("could not allocate {npages} host-shared pages")]
    OutOfSharedMemory {
        /// Pages requested.
        npages: usize,
    },
    /// A GPA range is not (entirely) host-shared guest memory.
    #[error("GPA range {gpa:#x}+{len:#x} is not host-shared guest memory")]
    InvalidGpa {
        /// Start of the range.
        gpa: Gpa,
        /// Length in bytes.
        len: usize,
    },
    /// The VMGEXIT could not be performed (no GHCB registered with the platform, the VM is
    /// being torn down, …). The host never saw the request.
    #[error("VMGEXIT could not be performed: {0}")]
    ExitFailed(&'static str),
    /// The hypervisor terminated the guest or stopped answering.
    #[error("the hypervisor terminated the guest or stopped answering")]
    Terminated,
}

/// The guest's view of the platform.
pub trait Vmgexit {
    /// Allocate `npages` contiguous page-aligned host-shared pages; GPA of the first.
    fn alloc_shared(&mut self, npages: usize) -> Result<Gpa, PlatformError>;
    /// Return pages obtained from [`Vmgexit::alloc_shared`].
    fn free_shared(&mut self, gpa: Gpa, npages: usize);
    /// Copy `data` into host-shared memory at `gpa`.
    fn write_shared(&mut self, gpa: Gpa, data: &[u8]) -> Result<(), PlatformError>;
    /// Copy host-shared memory at `gpa` into `out`.
    fn read_shared(&mut self, gpa: Gpa, out: &mut [u8]) -> Result<(), PlatformError>;
    /// VMGEXIT with this GHCB; on return `ghcb` holds what the host wrote.
    fn vmgexit(&mut self, ghcb: &mut Ghcb) -> Result<(), PlatformError>;
    /// MSR protocol exchange (write GHCB MSR, VMGEXIT, read GHCB MSR).
    fn msr_exchange(&mut self, value: u64) -> Result<u64, PlatformError>;
}

/// Sequence numbers are kept as u32 in the secrets page (Linux refuses to go past `u32::MAX`), so
/// the driver stops there too: a counter it could not write back would desynchronise the OS.
pub const MAX_SEQNO: u64 = u32::MAX as u64 - 1;

/// Why a VMPCK was disabled. Once disabled, a key is never used again by this driver: the firmware
/// may have consumed a message whose sequence number we cannot account for, and the only IV-safe
/// continuation is to stop using the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum WipeReason {
    /// The host or firmware answered with an error SW_EXITINFO2 (neither success, BUSY nor a
    /// usable INVALID_LEN); the firmware may or may not have processed the message.
    #[error("the host/firmware answered {0}")]
    HostError(ExitInfo2),
    /// The hypervisor rejected the GHCB exchange itself (SW_EXITINFO1 ≠ 0).
    #[error("the hypervisor rejected the GHCB exchange ({0:?})")]
    GhcbError(HvResponse),
    /// The hypervisor did not mark SW_EXITINFO1/2 valid: the outcome is unknown.
    #[error("the hypervisor returned no SW_EXITINFO1/2 (outcome unknown)")]
    ExitInfoMissing,
    /// The firmware's response failed verification (wrong seqno/type/version, bad tag, …).
    #[error("the response failed verification: {0}")]
    BadResponse(MessageError),
    /// The platform lost the exit (the hypervisor stopped answering); the outcome is unknown.
    #[error("the platform lost the exit: {0}")]
    PlatformLost(PlatformError),
}

/// Errors of the guest driver. Each message says what happened to the key and what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DriverError {
    /// A platform primitive failed before the firmware could have consumed the message. The key
    /// is kept; an already-exposed message is re-sent first on the next request.
    #[error("platform failure ({0}); the VMPCK is kept and the next request may succeed")]
    Platform(PlatformError),
    /// An MSR protocol exchange failed during setup.
    #[error("GHCB MSR protocol: {0}")]
    Msr(MsrError),
    /// The hypervisor does not speak GHCB protocol version 2 (needed for SNP guest requests).
    #[error("the hypervisor supports GHCB protocol versions {min}..={max}, SEV-SNP guest requests need version 2")]
    ProtocolUnsupported {
        /// Lowest version offered.
        min: u16,
        /// Highest version offered.
        max: u16,
    },
    /// No (non-zero) key is installed for this VMPCK id.
    #[error("no VMPCK{id} is available (all-zero or not installed): this VMPL has no access to it; use the VMPCK matching the guest's VMPL")]
    NoKey {
        /// Key id.
        id: u8,
    },
    /// This request caused the key to be wiped.
    #[error("VMPCK{id} has been wiped because {reason}; no further guest request can use it (reboot, or use another VMPCK)")]
    Wiped {
        /// Key id.
        id: u8,
        /// Why.
        reason: WipeReason,
    },
    /// The key was wiped by an earlier failure.
    #[error("VMPCK{id} is disabled since an earlier failure ({reason}); no guest request can succeed with it until the guest reboots or another VMPCK is used")]
    KeyDisabled {
        /// Key id.
        id: u8,
        /// Why it was wiped.
        reason: WipeReason,
    },
    /// The retry policy gave up. The key is kept: if a message was left unanswered (BUSY), it is
    /// re-sent unchanged before anything else on the next request.
    #[error("{0}; the VMPCK is kept")]
    Retry(RetryError),
    /// The sequence number space of the key is exhausted.
    #[error(
        "VMPCK{id} has used up its sequence numbers; no further requests are possible with it"
    )]
    SeqnoExhausted {
        /// Key id.
        id: u8,
    },
    /// The caller's certificate buffer cannot grow to what the host needs.
    #[error("the host needs {needed_pages} certificate pages but the buffer holds only {capacity_pages}; pass a larger buffer")]
    CertBufferTooSmall {
        /// Pages needed.
        needed_pages: usize,
        /// Pages the buffer can hold.
        capacity_pages: usize,
    },
    /// The firmware processed the request but refused it (MSG_REPORT_RSP/MSG_KEY_RSP status).
    #[error("the firmware refused the request with status {status}: INVALID_PARAM usually means a VMPL below the guest's, INVALID_KEY a VLEK requested but none loaded")]
    FirmwareRefused {
        /// The status.
        status: FwStatus,
    },
    /// The firmware's (authenticated) response is shorter than its type requires.
    #[error("the firmware response has {len} bytes, at least {needed} are required")]
    ResponseTooShort {
        /// Bytes received.
        len: usize,
        /// Bytes required.
        needed: usize,
    },
    /// Encoding the request payload failed.
    #[error("request payload: {0}")]
    Payload(PayloadError),
    /// Sealing the request failed.
    #[error("sealing the request: {0}")]
    Message(MessageError),
    /// Defence in depth: the driver refused to seal a second message under one (VMPCK, seqno).
    #[error("internal error: refusing to reuse sequence number {seqno} of VMPCK{id}")]
    SeqnoReuse {
        /// Key id.
        id: u8,
        /// The sequence number.
        seqno: u64,
    },
}

impl From<PlatformError> for DriverError {
    fn from(e: PlatformError) -> Self {
        DriverError::Platform(e)
    }
}

impl From<MsrError> for DriverError {
    fn from(e: MsrError) -> Self {
        DriverError::Msr(e)
    }
}

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

/// The decrypted MSG_REPORT_RSP exactly as the firmware sent it. Kept raw so a report that later
/// fails to parse or verify can still be saved and inspected.
#[derive(Clone)]
pub struct ReportResponse {
    bytes: [u8; MAX_PAYLOAD],
    len: usize,
}

impl core::fmt::Debug for ReportResponse {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReportResponse")
            .field("len", &self.len)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl ReportResponse {
    /// The decrypted MSG_REPORT_RSP payload (MSG_SIZE bytes).
    pub fn raw(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// STATUS (the driver only returns responses with at least the 0x20-byte header).
    pub fn status(&self) -> FwStatus {
        let mut s = [0u8; 4];
        s.copy_from_slice(&self.bytes[..4]);
        FwStatus::from_u32(u32::from_le_bytes(s))
    }

    /// Parse into a [`ReportRsp`] (checks REPORT_SIZE).
    pub fn parse(&self) -> Result<ReportRsp, PayloadError> {
        ReportRsp::decode(self.raw())
    }

    /// The raw ATTESTATION_REPORT bytes, as sized by REPORT_SIZE (bounded by what was received).
    pub fn report(&self) -> Result<&[u8], PayloadError> {
        let rsp = self.raw();
        let mut s = [0u8; 4];
        s.copy_from_slice(&rsp[4..8]);
        let size = u32::from_le_bytes(s) as usize;
        rsp.get(REPORT_RSP_HEADER_SIZE..REPORT_RSP_HEADER_SIZE.saturating_add(size))
            .ok_or(PayloadError::Truncated {
                needed: REPORT_RSP_HEADER_SIZE.saturating_add(size),
                got: rsp.len(),
            })
    }
}

/// Result of an extended report request: the raw response and the certificate data length.
#[derive(Debug, Clone)]
pub struct ExtReport {
    /// The raw MSG_REPORT_RSP.
    pub response: ReportResponse,
    /// Bytes of certificate data in the caller's buffer (whole pages as the host filled them;
    /// the certificate table starts at offset 0 and is terminated by a zero entry).
    pub certs_len: usize,
}

struct KeySlot {
    key: Option<Vmpck>,
    /// Message count: the last sequence number used (response). Next request = count + 1.
    count: u64,
    /// Highest sequence number ever sealed (defence in depth against reuse).
    last_sealed: u64,
    wiped: Option<WipeReason>,
}

impl KeySlot {
    const EMPTY: KeySlot = KeySlot {
        key: None,
        count: 0,
        last_sealed: 0,
        wiped: None,
    };

    /// The count whoever uses this key next must continue from. Normally the firmware's count;
    /// but a sealed message that was exposed to the host and never accounted for (still
    /// pending, or lost with a wiped key) owns its sequence number, so the count skips past
    /// it. Like Linux's unconditional `seqno += 2`, that may leave the firmware expecting a
    /// lower number (the next request then fails), but no sequence number ever carries a
    /// second plaintext.
    fn handoff_count(&self) -> u64 {
        if self.last_sealed > self.count {
            self.last_sealed.saturating_add(1)
        } else {
            self.count
        }
    }
}

/// A sealed message that the host has seen but the firmware has (as far as we know) not
/// consumed. Its sequence number is taken: the only IV-safe use of it is to resend these exact
/// bytes, which the driver does before anything else.
struct Pending {
    meta: MsgMeta,
    page: [u8; PAGE_SIZE],
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.page.zeroize();
    }
}

/// How one exchange (with its BUSY resends) ended.
enum Exchanged {
    /// SW_EXITINFO2 = 0: the firmware consumed the message.
    Consumed,
    /// INVALID_LEN: not consumed; the policy's decision is attached (pages to grow to, or why
    /// to give up).
    InvalidLen(Result<usize, RetryError>),
}

enum ExchangeError {
    /// Not consumed (host said BUSY until the policy gave up, or the exit did not happen).
    NotConsumed(DriverError),
    /// The outcome is unknown or an error: the key must be wiped.
    Fatal(WipeReason),
}

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

    fn req_gpa(&self) -> Gpa {
        self.msg_gpa
    }

    fn resp_gpa(&self) -> Gpa {
        self.msg_gpa + PAGE_SIZE as u64
    }

    /// One logical request: re-send a pending message first, then seal, send, handle
    /// BUSY/INVALID_LEN per the policy, verify and decrypt the response into `out`. Returns
    /// (payload length, certificate bytes).
    fn request<B: CertBuf + ?Sized>(
        &mut self,
        msg_type: MsgType,
        payload: &[u8],
        mut certs: Option<&mut B>,
        out: &mut [u8; MAX_PAYLOAD],
    ) -> Result<(usize, usize), DriverError> {
        let id = self.active;
        self.check_key(id)?;
        let mut state = RetryState::new(self.policy, self.clock.now());
        if let Some(p) = self.pending.take() {
            self.burn(p, &mut state)?;
            self.check_key(id)?;
        }
        let mut pages = self.hint_pages;
        loop {
            let area = match certs.as_deref_mut() {
                Some(buf) => {
                    if !buf.ensure_len(pages * PAGE_SIZE) {
                        pages = buf.bytes_mut().len() / PAGE_SIZE;
                        if pages == 0 {
                            return Err(DriverError::CertBufferTooSmall {
                                needed_pages: self.hint_pages,
                                capacity_pages: 0,
                            });
                        }
                    }
                    Some((self.prepare_cert_area(pages)?, pages))
                }
                None => None,
            };
            let msg = self.seal_new(id, msg_type, payload)?;
            match self.exchange(&msg, area, &mut state) {
                Ok(Exchanged::Consumed) => {
                    let len = self.finish_consumed(&msg.meta, out)?;
                    let mut certs_len = 0;
                    if let (Some(buf), Some((gpa, n))) = (certs.as_deref_mut(), area) {
                        certs_len = n * PAGE_SIZE;
                        self.platform
                            .read_shared(gpa, &mut buf.bytes_mut()[..certs_len])?;
                        buf.finish(certs_len);
                        self.hint_pages = n;
                    }
                    return Ok((len, certs_len));
                }
                Ok(Exchanged::InvalidLen(decision)) => {
                    // The firmware never saw this message: burn its sequence number by sending
                    // the identical bytes as a plain request, so the counters stay in step; the
                    // report that produces is verified and thrown away.
                    self.burn(msg, &mut state)?;
                    let p = decision.map_err(DriverError::Retry)?;
                    if let Some(buf) = certs.as_deref_mut() {
                        if !buf.ensure_len(p * PAGE_SIZE) {
                            return Err(DriverError::CertBufferTooSmall {
                                needed_pages: p,
                                capacity_pages: buf.bytes_mut().len() / PAGE_SIZE,
                            });
                        }
                    }
                    pages = p;
                    self.hint_pages = p;
                }
                Err(ExchangeError::NotConsumed(e)) => {
                    self.pending = Some(msg);
                    return Err(e);
                }
                Err(ExchangeError::Fatal(reason)) => return Err(self.wipe(id, reason)),
            }
        }
    }

    /// Allocate (or reuse) a shared certificate area of at least `pages` pages and zero the
    /// first `pages`, so nothing from an earlier answer can be mistaken for this one's.
    fn prepare_cert_area(&mut self, pages: usize) -> Result<Gpa, DriverError> {
        let gpa = match self.cert_area {
            Some((gpa, have)) if have >= pages => gpa,
            other => {
                if let Some((gpa, have)) = other {
                    self.platform.free_shared(gpa, have);
                    self.cert_area = None;
                }
                let gpa = self.platform.alloc_shared(pages)?;
                self.cert_area = Some((gpa, pages));
                gpa
            }
        };
        let zero = [0u8; PAGE_SIZE];
        for i in 0..pages {
            self.platform
                .write_shared(gpa + (i * PAGE_SIZE) as u64, &zero)?;
        }
        Ok(gpa)
    }

    /// Seal a new message under the next sequence number of `id`. From here on that sequence
    /// number belongs to these bytes only.
    fn seal_new(
        &mut self,
        id: VmpckId,
        msg_type: MsgType,
        payload: &[u8],
    ) -> Result<Pending, DriverError> {
        let slot = &mut self.slots[id.get() as usize];
        let key = slot
            .key
            .as_ref()
            .ok_or(DriverError::NoKey { id: id.get() })?;
        // `count` can come from the caller (a secrets page), so it may be anything.
        let seqno = slot
            .count
            .checked_add(1)
            .filter(|&s| s <= MAX_SEQNO)
            .ok_or(DriverError::SeqnoExhausted { id: id.get() })?;
        if seqno <= slot.last_sealed {
            return Err(DriverError::SeqnoReuse {
                id: id.get(),
                seqno,
            });
        }
        let meta = MsgMeta {
            seqno,
            msg_type,
            msg_version: MSG_VERSION_1,
            vmpck_id: id,
        };
        let mut msg = Pending {
            meta,
            page: [0; PAGE_SIZE],
        };
        message::seal(&mut msg.page, &meta, key, payload).map_err(DriverError::Message)?;
        slot.last_sealed = seqno;
        Ok(msg)
    }

    /// The firmware consumed the message `meta`: advance the count, then read, verify and
    /// decrypt the response. Verification failure wipes the key.
    fn finish_consumed(
        &mut self,
        meta: &MsgMeta,
        out: &mut [u8; MAX_PAYLOAD],
    ) -> Result<usize, DriverError> {
        let id = meta.vmpck_id;
        self.slots[id.get() as usize].count = meta.seqno + 1;
        let mut resp = [0u8; PAGE_SIZE];
        self.platform.read_shared(self.resp_gpa(), &mut resp)?;
        let expect = MsgMeta {
            seqno: meta.seqno + 1,
            msg_type: meta.msg_type.response().unwrap_or(MsgType::Invalid),
            msg_version: meta.msg_version,
            vmpck_id: id,
        };
        let slot = &self.slots[id.get() as usize];
        let key = slot
            .key
            .as_ref()
            .ok_or(DriverError::NoKey { id: id.get() })?;
        match message::open(&resp, &expect, key, out) {
            Ok(len) => Ok(len),
            Err(e) => Err(self.wipe(id, WipeReason::BadResponse(e))),
        }
    }

    /// Re-send `msg` unchanged as a plain guest request (BUSY resends included) and account for
    /// it. Its response is verified (proving the counters are in step) and discarded. If the
    /// host still does not forward it, it stays pending for the next request.
    fn burn(&mut self, msg: Pending, state: &mut RetryState) -> Result<(), DriverError> {
        match self.exchange(&msg, None, state) {
            Ok(Exchanged::Consumed) => {
                let mut scratch = [0u8; MAX_PAYLOAD];
                let r = self.finish_consumed(&msg.meta, &mut scratch);
                scratch.zeroize();
                r.map(|_| ())
            }
            // exchange() turns INVALID_LEN on a plain request into a fatal answer; this arm
            // exists for exhaustiveness and is treated the same way.
            Ok(Exchanged::InvalidLen(_)) => Err(self.wipe(
                msg.meta.vmpck_id,
                WipeReason::HostError(ExitInfo2::from_u64(crate::exit::INVALID_LEN)),
            )),
            Err(ExchangeError::NotConsumed(e)) => {
                self.pending = Some(msg);
                Err(e)
            }
            Err(ExchangeError::Fatal(reason)) => Err(self.wipe(msg.meta.vmpck_id, reason)),
        }
    }

    /// Send `msg` (plain if `certs` is `None`, else extended with that area), resending on
    /// BUSY per the policy.
    fn exchange(
        &mut self,
        msg: &Pending,
        certs: Option<(Gpa, usize)>,
        state: &mut RetryState,
    ) -> Result<Exchanged, ExchangeError> {
        loop {
            // Re-write the request from our private copy each time: the host may have scribbled
            // on the shared page, and a changed message would be a different plaintext.
            let write = self
                .platform
                .write_shared(self.req_gpa(), &msg.page)
                .and_then(|_| {
                    self.platform
                        .write_shared(self.resp_gpa(), &[0u8; PAGE_SIZE])
                });
            if let Err(e) = write {
                return Err(ExchangeError::NotConsumed(e.into()));
            }
            let mut ghcb = Ghcb::new();
            ghcb.set_protocol_version(GHCB_PROTOCOL_VERSION_SNP);
            ghcb.set_ghcb_usage(GHCB_USAGE_STANDARD);
            let pages = match certs {
                Some((gpa, n)) => {
                    ghcb.set_sw_exit_code(SNP_EXTENDED_GUEST_REQUEST);
                    ghcb.set_rax(gpa);
                    ghcb.set_rbx(n as u64);
                    n
                }
                None => {
                    ghcb.set_sw_exit_code(SNP_GUEST_REQUEST);
                    0
                }
            };
            ghcb.set_sw_exit_info_1(self.req_gpa());
            ghcb.set_sw_exit_info_2(self.resp_gpa());
            let answered = self.vmgexit_checked(&mut ghcb)?;
            let mut answer = Answer::classify(answered, ghcb.get_valid(Field::Rbx));
            if certs.is_none() && matches!(answer, Answer::InvalidLen { .. }) {
                // INVALID_LEN makes no sense for a plain request (Linux treats it as fatal).
                answer = Answer::Error(answered);
            }
            match state.on_answer(answer, pages, self.clock.now()) {
                Action::Accept => return Ok(Exchanged::Consumed),
                Action::Resend { delay } => self.clock.sleep(delay),
                Action::Grow { pages } => return Ok(Exchanged::InvalidLen(Ok(pages))),
                Action::GiveUp(e) => {
                    return match answer {
                        // Not consumed: the caller burns the sequence number before giving up.
                        Answer::InvalidLen { .. } => Ok(Exchanged::InvalidLen(Err(e))),
                        // Not consumed: the message stays pending and is re-sent next time.
                        Answer::Busy => Err(ExchangeError::NotConsumed(DriverError::Retry(e))),
                        // The firmware may have seen it: the count is unknown.
                        Answer::Error(_) | Answer::Success => {
                            Err(ExchangeError::Fatal(WipeReason::HostError(answered)))
                        }
                    };
                }
            }
        }
    }

    /// VMGEXIT and the GHCB-level checks; returns SW_EXITINFO2.
    fn vmgexit_checked(&mut self, ghcb: &mut Ghcb) -> Result<ExitInfo2, ExchangeError> {
        // Our request GPAs are in SW_EXITINFO1/2; the host overwrites them with its answer (a
        // host that leaves them alone answers "info1 = request GPA", which is not "handled").
        match self.platform.vmgexit(ghcb) {
            Ok(()) => {}
            // The exit never reached the host: nothing consumed.
            Err(e @ PlatformError::ExitFailed(_)) => {
                return Err(ExchangeError::NotConsumed(DriverError::Platform(e)))
            }
            Err(e) => return Err(ExchangeError::Fatal(WipeReason::PlatformLost(e))),
        }
        let (Some(info1), Some(info2)) = (
            ghcb.get_valid(Field::SwExitInfo1),
            ghcb.get_valid(Field::SwExitInfo2),
        ) else {
            return Err(ExchangeError::Fatal(WipeReason::ExitInfoMissing));
        };
        match HvResponse::from_exit_info(info1, info2) {
            HvResponse::Handled => Ok(ExitInfo2::from_u64(info2)),
            other => Err(ExchangeError::Fatal(WipeReason::GhcbError(other))),
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

fn check_report_response(out: &ReportResponse) -> Result<(), DriverError> {
    if out.len < REPORT_RSP_HEADER_SIZE {
        return Err(DriverError::ResponseTooShort {
            len: out.len,
            needed: REPORT_RSP_HEADER_SIZE,
        });
    }
    let status = out.status();
    if status != FwStatus::Success {
        return Err(DriverError::FirmwareRefused { status });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! A scripted fake host + firmware. The fake firmware keeps its own message counter and
    //! accepts only `count + 1`, like the AMD-SP; every message the host ever saw is recorded so
    //! each test can assert that no (VMPCK, seqno) pair carried two different messages.
    extern crate std;

    use super::*;
    use crate::exit::{BUSY, GENERIC, INVALID_LEN};
    use crate::message::MsgHeader;
    use crate::payload::{KEY_SEL_VCEK, REPORT_SIZE};
    use core::time::Duration;
    use std::cell::Cell;
    use std::collections::{BTreeMap, VecDeque};
    use std::rc::Rc;
    use std::vec;
    use std::vec::Vec;

    const KEY: [u8; 32] = [0x42; 32];

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Fault {
        /// Answer BUSY, firmware not called.
        Busy,
        /// Answer the generic VMM error without calling the firmware.
        Generic,
        /// Call the firmware but seal the response with a wrong sequence number.
        BadRespSeqno,
        /// Grow the served blob to this many bytes, then behave normally.
        GrowBlob(usize),
        /// Reject at the GHCB level (SW_EXITINFO1 = 2, missing input).
        GhcbMalformed,
        /// The exit never reaches the host.
        ExitFailed,
        /// Behave normally.
        Normal,
    }

    #[derive(Debug, Clone)]
    struct Sent {
        exit_code: u64,
        vmpck: u8,
        seqno: u64,
        page: Vec<u8>,
    }

    struct Host {
        mem: BTreeMap<u64, [u8; PAGE_SIZE]>,
        next_gpa: u64,
        fw_count: u64,
        blob: Vec<u8>,
        script: VecDeque<Fault>,
        sent: Vec<Sent>,
        fw_requests: u32,
        refuse_registration: bool,
        live_pages: Rc<Cell<i64>>,
    }

    impl Host {
        fn new(blob_len: usize) -> Self {
            Self {
                mem: BTreeMap::new(),
                next_gpa: 0x10_0000,
                fw_count: 0,
                blob: (0..blob_len).map(|i| (i % 251) as u8 + 1).collect(),
                script: VecDeque::new(),
                sent: Vec::new(),
                fw_requests: 0,
                refuse_registration: false,
                live_pages: Rc::new(Cell::new(0)),
            }
        }

        fn with_script(mut self, s: &[Fault]) -> Self {
            self.script = s.iter().copied().collect();
            self
        }

        fn read(&self, gpa: u64, out: &mut [u8]) {
            for (i, b) in out.iter_mut().enumerate() {
                let a = gpa + i as u64;
                *b = self.mem.get(&(a & !0xFFF)).expect("unmapped")[(a & 0xFFF) as usize];
            }
        }

        fn write(&mut self, gpa: u64, data: &[u8]) {
            for (i, b) in data.iter().enumerate() {
                let a = gpa + i as u64;
                self.mem.get_mut(&(a & !0xFFF)).expect("unmapped")[(a & 0xFFF) as usize] = *b;
            }
        }

        /// The firmware: check the request against its own counter, answer a report.
        fn firmware(&mut self, req_gpa: u64, resp_gpa: u64, bad_seqno: bool) -> u64 {
            self.fw_requests += 1;
            let mut page = [0u8; PAGE_SIZE];
            self.read(req_gpa, &mut page);
            let h = MsgHeader::decode(&page).unwrap();
            let expect = MsgMeta {
                seqno: self.fw_count + 1,
                msg_type: h.msg_type,
                msg_version: 1,
                vmpck_id: VmpckId::ZERO,
            };
            let mut pt = [0u8; MAX_PAYLOAD];
            let Ok(n) = message::open(&page, &expect, &Vmpck::new(KEY), &mut pt) else {
                return FwStatus::InvalidParam.to_u32() as u64; // counter untouched
            };
            self.fw_count += 2;
            let mut body = [0u8; MAX_PAYLOAD];
            let len = match h.msg_type {
                MsgType::ReportReq => {
                    let req = ReportReq::decode(&pt[..n]).unwrap();
                    let rsp = if req.vmpl > 3 {
                        ReportRsp::failure(FwStatus::InvalidParam)
                    } else {
                        let mut report = [0u8; REPORT_SIZE];
                        report[0] = 5;
                        report[0x50..0x90].copy_from_slice(&req.report_data);
                        ReportRsp::success(report)
                    };
                    rsp.encode(&mut body).unwrap()
                }
                MsgType::KeyReq => KeyRsp {
                    status: FwStatus::Success,
                    derived_key: [0x77; 32],
                }
                .encode(&mut body)
                .unwrap(),
                _ => panic!("unexpected type"),
            };
            let meta = MsgMeta {
                seqno: h.seqno + if bad_seqno { 3 } else { 1 },
                msg_type: h.msg_type.response().unwrap(),
                msg_version: 1,
                vmpck_id: VmpckId::ZERO,
            };
            let mut out = [0u8; PAGE_SIZE];
            message::seal(&mut out, &meta, &Vmpck::new(KEY), &body[..len]).unwrap();
            self.write(resp_gpa, &out);
            0
        }

        /// No (VMPCK, seqno) ever carried two different messages.
        fn assert_no_seqno_reuse(&self) {
            let mut seen: BTreeMap<(u8, u64), &Vec<u8>> = BTreeMap::new();
            for s in &self.sent {
                if let Some(prev) = seen.insert((s.vmpck, s.seqno), &s.page) {
                    assert_eq!(
                        prev, &s.page,
                        "seqno {} reused with another message",
                        s.seqno
                    );
                }
            }
        }

        fn seqnos(&self) -> Vec<(u64, u64)> {
            self.sent.iter().map(|s| (s.exit_code, s.seqno)).collect()
        }
    }

    impl Vmgexit for Host {
        fn alloc_shared(&mut self, npages: usize) -> Result<Gpa, PlatformError> {
            let gpa = self.next_gpa;
            for i in 0..npages {
                self.mem
                    .insert(gpa + (i * PAGE_SIZE) as u64, [0xCC; PAGE_SIZE]);
            }
            self.next_gpa += (npages as u64 + 1) * PAGE_SIZE as u64;
            self.live_pages.set(self.live_pages.get() + npages as i64);
            Ok(gpa)
        }
        fn free_shared(&mut self, gpa: Gpa, npages: usize) {
            for i in 0..npages {
                self.mem
                    .remove(&(gpa + (i * PAGE_SIZE) as u64))
                    .expect("double free");
            }
            self.live_pages.set(self.live_pages.get() - npages as i64);
        }
        fn write_shared(&mut self, gpa: Gpa, data: &[u8]) -> Result<(), PlatformError> {
            self.write(gpa, data);
            Ok(())
        }
        fn read_shared(&mut self, gpa: Gpa, out: &mut [u8]) -> Result<(), PlatformError> {
            self.read(gpa, out);
            Ok(())
        }
        fn vmgexit(&mut self, ghcb: &mut Ghcb) -> Result<(), PlatformError> {
            assert_eq!(ghcb.protocol_version(), 2);
            let exit_code = ghcb.get_valid(Field::SwExitCode).unwrap();
            let req = ghcb.get_valid(Field::SwExitInfo1).unwrap();
            let resp = ghcb.get_valid(Field::SwExitInfo2).unwrap();
            let fault = self.script.pop_front().unwrap_or(Fault::Normal);
            if fault == Fault::ExitFailed {
                return Err(PlatformError::ExitFailed("scripted"));
            }
            let mut page = vec![0u8; PAGE_SIZE];
            self.read(req, &mut page);
            let h = MsgHeader::decode(&page).unwrap();
            self.sent.push(Sent {
                exit_code,
                vmpck: h.vmpck,
                seqno: h.seqno,
                page,
            });
            let answer = |g: &mut Ghcb, info2: u64| -> Result<(), PlatformError> {
                g.set_sw_exit_info_1(0);
                g.set_sw_exit_info_2(info2);
                Ok(())
            };
            match fault {
                Fault::Busy => return answer(ghcb, BUSY),
                Fault::Generic => return answer(ghcb, GENERIC),
                Fault::GhcbMalformed => {
                    ghcb.set_sw_exit_info_1(2);
                    ghcb.set_sw_exit_info_2(4);
                    return Ok(());
                }
                Fault::GrowBlob(n) => self.blob = (0..n).map(|i| (i % 251) as u8 + 1).collect(),
                _ => {}
            }
            if exit_code == SNP_EXTENDED_GUEST_REQUEST {
                assert!(ghcb.is_valid(Field::Rax) && ghcb.is_valid(Field::Rbx));
                let npages = ghcb.rbx() as usize;
                let need = self.blob.len().div_ceil(PAGE_SIZE);
                if need > npages {
                    ghcb.set_rbx(need as u64);
                    return answer(ghcb, INVALID_LEN);
                }
                let blob = self.blob.clone();
                self.write(ghcb.rax(), &blob);
            } else {
                assert_eq!(exit_code, SNP_GUEST_REQUEST);
            }
            let info2 = self.firmware(req, resp, fault == Fault::BadRespSeqno);
            answer(ghcb, info2)
        }
        fn msr_exchange(&mut self, value: u64) -> Result<u64, PlatformError> {
            Ok(match msr::MsrRequest::decode(value) {
                msr::MsrRequest::SevInfo => SevInfo {
                    max_protocol: 2,
                    min_protocol: 1,
                    c_bit: 51,
                }
                .encode(),
                msr::MsrRequest::RegisterGpa(gpa) if !self.refuse_registration => {
                    msr::register_gpa_response(gpa >> 12)
                }
                msr::MsrRequest::RegisterGpa(_) => {
                    msr::register_gpa_response(msr::REGISTER_GPA_REFUSED_GFN)
                }
                _ => 0,
            })
        }
    }

    #[derive(Clone, Default)]
    struct TestClock {
        now: Rc<Cell<Duration>>,
        sleeps: Rc<Cell<u32>>,
    }

    impl Clock for TestClock {
        fn now(&self) -> Duration {
            self.now.get()
        }
        fn sleep(&mut self, d: Duration) {
            self.now.set(self.now.get() + d);
            self.sleeps.set(self.sleeps.get() + 1);
        }
    }

    type Drv = GuestDriver<Host, TestClock>;

    fn driver_with(host: Host, policy: RetryPolicy) -> (Drv, TestClock) {
        let clock = TestClock::default();
        let d = GuestDriver::new(
            host,
            clock.clone(),
            policy,
            VmpckId::ZERO,
            Vmpck::new(KEY),
            0,
        )
        .unwrap();
        (d, clock)
    }

    fn driver(host: Host) -> (Drv, TestClock) {
        driver_with(host, RetryPolicy::default())
    }

    fn req(tag: u8) -> ReportReq {
        ReportReq {
            report_data: [tag; 64],
            vmpl: 0,
            key_sel: KEY_SEL_VCEK,
        }
    }

    const G: u64 = SNP_GUEST_REQUEST;
    const X: u64 = SNP_EXTENDED_GUEST_REQUEST;

    fn check_report(r: &ReportResponse, tag: u8) {
        let report = r.report().unwrap();
        assert_eq!(report.len(), REPORT_SIZE);
        assert_eq!(&report[0x50..0x90], &[tag; 64]);
        assert_eq!(r.parse().unwrap().status, FwStatus::Success);
    }

    #[test]
    fn plain_report() {
        let (mut d, _) = driver(Host::new(0));
        let r = d.get_report(&req(1)).unwrap();
        check_report(&r, 1);
        assert_eq!(d.message_count(VmpckId::ZERO), 2);
        let r = d.get_report(&req(2)).unwrap();
        check_report(&r, 2);
        assert_eq!(d.platform().seqnos(), vec![(G, 1), (G, 3)]);
        assert_eq!(d.platform().fw_requests, 2);
        assert_eq!(d.platform().fw_count, d.message_count(VmpckId::ZERO));
        d.platform().assert_no_seqno_reuse();
    }

    #[test]
    fn ext_steady_state_is_one_firmware_request() {
        let (mut d, _) = driver(Host::new(5000));
        let mut buf = [0u8; 16 * PAGE_SIZE];
        let r = d.get_ext_report(&req(3), &mut buf[..]).unwrap();
        check_report(&r.response, 3);
        assert_eq!(r.certs_len, 4 * PAGE_SIZE);
        assert_eq!(&buf[..5000], &d.platform().blob[..]);
        assert!(
            buf[5000..r.certs_len].iter().all(|&b| b == 0),
            "area zeroed"
        );
        assert_eq!(d.platform().seqnos(), vec![(X, 1)]);
        assert_eq!(d.platform().fw_requests, 1);
        d.platform().assert_no_seqno_reuse();
    }

    #[test]
    fn invalid_len_once_then_hint_makes_it_one_request() {
        let (mut d, _) = driver(Host::new(5 * PAGE_SIZE - 10));
        let mut certs: Vec<u8> = Vec::new();
        let r = d.get_ext_report(&req(4), &mut certs).unwrap();
        check_report(&r.response, 4);
        assert_eq!(certs.len(), 5 * PAGE_SIZE);
        assert_eq!(&certs[..5 * PAGE_SIZE - 10], &d.platform().blob[..]);
        // ext(4 pages) → INVALID_LEN; same bytes as plain request (burn); new ext with 5 pages.
        assert_eq!(d.platform().seqnos(), vec![(X, 1), (G, 1), (X, 3)]);
        assert_eq!(d.platform().sent[0].page, d.platform().sent[1].page);
        assert_eq!(d.platform().fw_requests, 2);
        assert_eq!(d.size_hint_pages(), 5);
        // Steady state: the hint avoids the round trip.
        let r = d.get_ext_report(&req(5), &mut certs).unwrap();
        check_report(&r.response, 5);
        assert_eq!(d.platform().fw_requests, 3);
        assert_eq!(d.platform().seqnos().last(), Some(&(X, 5)));
        assert_eq!(d.message_count(VmpckId::ZERO), d.platform().fw_count);
        d.platform().assert_no_seqno_reuse();
    }

    #[test]
    fn invalid_len_twice_with_a_growing_blob() {
        let host = Host::new(5 * PAGE_SIZE).with_script(&[
            Fault::Normal,                      // ext 4 pages → INVALID_LEN (5)
            Fault::Normal,                      // burn
            Fault::GrowBlob(8 * PAGE_SIZE - 1), // ext 5 pages → INVALID_LEN (8)
        ]);
        let (mut d, _) = driver(host);
        let mut certs: Vec<u8> = Vec::new();
        let r = d.get_ext_report(&req(6), &mut certs).unwrap();
        check_report(&r.response, 6);
        assert_eq!(
            d.platform().seqnos(),
            vec![(X, 1), (G, 1), (X, 3), (G, 3), (X, 5)]
        );
        assert_eq!(d.platform().fw_requests, 3);
        assert_eq!(certs.len(), 8 * PAGE_SIZE);
        assert_eq!(d.size_hint_pages(), 8);
        d.platform().assert_no_seqno_reuse();
    }

    #[test]
    fn invalid_len_beyond_the_cap_is_a_typed_error_and_keeps_the_key() {
        let policy = RetryPolicy {
            max_cert_pages: 8,
            ..RetryPolicy::default()
        };
        let (mut d, _) = driver_with(Host::new(10 * PAGE_SIZE), policy);
        let mut certs: Vec<u8> = Vec::new();
        let e = d.get_ext_report(&req(7), &mut certs).unwrap_err();
        assert_eq!(
            e,
            DriverError::Retry(RetryError::CertBufferTooLarge {
                needed_pages: 10,
                max_pages: 8
            })
        );
        // The sequence number was burnt, nothing is pending, the key still works.
        assert_eq!(d.platform().seqnos(), vec![(X, 1), (G, 1)]);
        assert!(!d.has_pending_message());
        check_report(&d.get_report(&req(8)).unwrap(), 8);
        assert_eq!(d.platform().seqnos().last(), Some(&(G, 3)));
        d.platform().assert_no_seqno_reuse();
    }

    #[test]
    fn fixed_buffer_too_small() {
        let (mut d, _) = driver(Host::new(3 * PAGE_SIZE));
        let mut buf = [0u8; 2 * PAGE_SIZE];
        let e = d.get_ext_report(&req(9), &mut buf[..]).unwrap_err();
        assert_eq!(
            e,
            DriverError::CertBufferTooSmall {
                needed_pages: 3,
                capacity_pages: 2
            }
        );
        assert_eq!(d.platform().seqnos(), vec![(X, 1), (G, 1)]);
        d.platform().assert_no_seqno_reuse();
        let mut tiny = [0u8; 100];
        assert!(matches!(
            d.get_ext_report(&req(9), &mut tiny[..]),
            Err(DriverError::CertBufferTooSmall {
                capacity_pages: 0,
                ..
            })
        ));
    }

    #[test]
    fn busy_k_times_then_success_resends_identical_bytes() {
        let host = Host::new(100).with_script(&[Fault::Busy, Fault::Busy, Fault::Busy]);
        let (mut d, clock) = driver(host);
        let mut certs: Vec<u8> = Vec::new();
        let r = d.get_ext_report(&req(10), &mut certs).unwrap();
        check_report(&r.response, 10);
        let sent = &d.platform().sent;
        assert_eq!(sent.len(), 4);
        assert!(sent
            .iter()
            .all(|s| s.page == sent[0].page && s.exit_code == X));
        assert_eq!(d.platform().fw_requests, 1);
        assert_eq!(clock.sleeps.get(), 3);
        assert_eq!(clock.now.get(), Duration::from_millis(100 + 200 + 400));
        d.platform().assert_no_seqno_reuse();
    }

    #[test]
    fn busy_forever_hits_the_deadline_and_the_message_is_resent_next_time() {
        let host = Host::new(100).with_script(&[Fault::Busy; 200]);
        let (mut d, clock) = driver(host);
        let e = d.get_report(&req(11)).unwrap_err();
        assert!(
            matches!(
                e,
                DriverError::Retry(RetryError::DeadlineExceeded {
                    deadline_ms: 60_000,
                    ..
                })
            ),
            "{e:?}"
        );
        assert!(clock.now.get() <= Duration::from_secs(60));
        assert_eq!(d.platform().sent.len(), 34, "first send + 33 resends");
        assert_eq!(d.platform().fw_requests, 0);
        assert!(d.has_pending_message());
        assert_eq!(d.wipe_reason(VmpckId::ZERO), None);
        // The host recovers: the stale message goes first, unchanged, then the new one.
        let n = d.platform().sent.len();
        d.platform_mut().script.clear();
        check_report(&d.get_report(&req(12)).unwrap(), 12);
        let sent = &d.platform().sent;
        assert_eq!(
            sent[n].page, sent[0].page,
            "pending message re-sent unchanged"
        );
        assert_eq!(sent[n + 1].seqno, 3);
        assert_eq!(d.platform().fw_requests, 2);
        d.platform().assert_no_seqno_reuse();
    }

    #[test]
    fn busy_count_bound() {
        let policy = RetryPolicy {
            max_busy_retries: 5,
            ..RetryPolicy::default()
        };
        let (mut d, _) = driver_with(Host::new(0).with_script(&[Fault::Busy; 10]), policy);
        assert_eq!(
            d.get_report(&req(1)).unwrap_err(),
            DriverError::Retry(RetryError::BusyRetriesExhausted { count: 6 })
        );
        assert_eq!(d.platform().sent.len(), 6);
        d.platform().assert_no_seqno_reuse();
    }

    #[test]
    fn generic_error_wipes_the_key_for_good() {
        let (mut d, _) = driver(Host::new(0).with_script(&[Fault::Generic]));
        let reason = WipeReason::HostError(ExitInfo2::from_u64(GENERIC));
        assert_eq!(
            d.get_report(&req(1)).unwrap_err(),
            DriverError::Wiped { id: 0, reason }
        );
        let sent = d.platform().sent.len();
        let mut certs: Vec<u8> = Vec::new();
        assert_eq!(
            d.get_ext_report(&req(2), &mut certs).unwrap_err(),
            DriverError::KeyDisabled { id: 0, reason }
        );
        assert_eq!(d.platform().sent.len(), sent, "nothing sent after the wipe");
        assert!(!d.has_pending_message());
        assert_eq!(
            d.add_vmpck(VmpckId::ZERO, Vmpck::new(KEY), 100),
            Err(DriverError::KeyDisabled { id: 0, reason })
        );
    }

    #[test]
    fn bad_response_seqno_wipes_the_key() {
        let (mut d, _) = driver(Host::new(0).with_script(&[Fault::BadRespSeqno]));
        let e = d.get_report(&req(1)).unwrap_err();
        assert_eq!(
            e,
            DriverError::Wiped {
                id: 0,
                reason: WipeReason::BadResponse(MessageError::SeqnoMismatch {
                    expected: 2,
                    got: 4
                })
            }
        );
        assert!(matches!(
            d.get_report(&req(2)),
            Err(DriverError::KeyDisabled { id: 0, .. })
        ));
        d.platform().assert_no_seqno_reuse();
    }

    #[test]
    fn ghcb_level_rejection_wipes_the_key() {
        let (mut d, _) = driver(Host::new(0).with_script(&[Fault::GhcbMalformed]));
        assert_eq!(
            d.get_report(&req(1)).unwrap_err(),
            DriverError::Wiped {
                id: 0,
                reason: WipeReason::GhcbError(HvResponse::MalformedInput(
                    crate::exit::GhcbErr::MissingInput
                ))
            }
        );
    }

    #[test]
    fn exit_failure_keeps_key_and_resends_pending() {
        let (mut d, _) = driver(Host::new(0).with_script(&[Fault::ExitFailed]));
        assert_eq!(
            d.get_report(&req(1)).unwrap_err(),
            DriverError::Platform(PlatformError::ExitFailed("scripted"))
        );
        assert!(d.has_pending_message());
        check_report(&d.get_report(&req(2)).unwrap(), 2);
        assert_eq!(d.platform().seqnos(), vec![(G, 1), (G, 3)]);
        d.platform().assert_no_seqno_reuse();
    }

    #[test]
    fn firmware_status_is_an_error_but_not_a_wipe() {
        let (mut d, _) = driver(Host::new(0));
        let bad = ReportReq { vmpl: 7, ..req(1) };
        assert_eq!(
            d.get_report(&bad).unwrap_err(),
            DriverError::FirmwareRefused {
                status: FwStatus::InvalidParam
            }
        );
        assert_eq!(d.message_count(VmpckId::ZERO), 2);
        check_report(&d.get_report(&req(2)).unwrap(), 2);
    }

    #[test]
    fn derived_key() {
        let (mut d, _) = driver(Host::new(0));
        let k = d
            .get_derived_key(&KeyReq {
                root_key_select: 0,
                guest_field_select: 0,
                vmpl: 0,
                guest_svn: 0,
                tcb_version: 0,
            })
            .unwrap();
        assert_eq!(k.derived_key, [0x77; 32]);
    }

    #[test]
    fn setup_errors() {
        let mut host = Host::new(0);
        host.refuse_registration = true;
        let r = GuestDriver::new(
            host,
            TestClock::default(),
            RetryPolicy::default(),
            VmpckId::ZERO,
            Vmpck::new(KEY),
            0,
        );
        assert!(matches!(
            r,
            Err(DriverError::Msr(MsrError::GpaNotRegistered { .. }))
        ));
        let r = GuestDriver::new(
            Host::new(0),
            TestClock::default(),
            RetryPolicy::default(),
            VmpckId::ZERO,
            Vmpck::new([0; 32]),
            0,
        );
        assert!(matches!(r, Err(DriverError::NoKey { id: 0 })));
        let (mut d, _) = driver(Host::new(0));
        assert_eq!(
            d.use_vmpck(VmpckId::new(2).unwrap()),
            Err(DriverError::NoKey { id: 2 })
        );
    }

    #[test]
    fn seqno_space_is_bounded() {
        let r = GuestDriver::new(
            Host::new(0),
            TestClock::default(),
            RetryPolicy::default(),
            VmpckId::ZERO,
            Vmpck::new(KEY),
            MAX_SEQNO,
        );
        let mut d = r.unwrap();
        assert_eq!(
            d.get_report(&req(1)).unwrap_err(),
            DriverError::SeqnoExhausted { id: 0 }
        );
        assert!(d.platform().sent.is_empty());
    }

    #[test]
    fn message_count_never_hands_out_an_exposed_seqno() {
        // BUSY until the deadline: seqno 1 was shown to the host and is pending.
        let (mut d, _) = driver(Host::new(0).with_script(&[Fault::Busy; 200]));
        d.get_report(&req(1)).unwrap_err();
        assert!(d.has_pending_message());
        let count = d.message_count(VmpckId::ZERO);
        assert!(
            d.platform().sent.iter().all(|s| s.seqno <= count),
            "a later OS continuing from {count} would reuse an exposed seqno"
        );
        // A wipe after the host saw seqno 1 (the firmware may or may not have consumed it).
        let (mut d, _) = driver(Host::new(0).with_script(&[Fault::Generic]));
        d.get_report(&req(1)).unwrap_err();
        assert!(d.wipe_reason(VmpckId::ZERO).is_some());
        let count = d.message_count(VmpckId::ZERO);
        assert!(
            d.platform().sent.iter().all(|s| s.seqno <= count),
            "a later OS continuing from {count} would reuse an exposed seqno"
        );
        // In step with the firmware, the count is exactly the firmware's.
        let (mut d, _) = driver(Host::new(0));
        d.get_report(&req(1)).unwrap();
        assert_eq!(d.message_count(VmpckId::ZERO), d.platform().fw_count);
    }

    #[test]
    fn re_adding_a_key_keeps_an_unused_count() {
        let mut host = Host::new(0);
        host.fw_count = 10;
        let mut d = GuestDriver::new(
            host,
            TestClock::default(),
            RetryPolicy::default(),
            VmpckId::ZERO,
            Vmpck::new(KEY),
            10,
        )
        .unwrap();
        d.add_vmpck(VmpckId::ZERO, Vmpck::new(KEY), 10).unwrap();
        assert_eq!(d.message_count(VmpckId::ZERO), 10);
        check_report(&d.get_report(&req(1)).unwrap(), 1);
        assert_eq!(d.platform().seqnos(), vec![(G, 11)]);
    }

    #[test]
    fn an_absurd_message_count_is_exhaustion_not_a_panic() {
        let mut d = GuestDriver::new(
            Host::new(0),
            TestClock::default(),
            RetryPolicy::default(),
            VmpckId::ZERO,
            Vmpck::new(KEY),
            u64::MAX,
        )
        .unwrap();
        assert_eq!(
            d.get_report(&req(1)).unwrap_err(),
            DriverError::SeqnoExhausted { id: 0 }
        );
        assert!(d.platform().sent.is_empty());
    }

    #[test]
    fn shared_pages_are_bounded_and_freed_on_drop() {
        let host = Host::new(5 * PAGE_SIZE).with_script(&[
            Fault::Normal,
            Fault::Normal,
            Fault::GrowBlob(9 * PAGE_SIZE),
        ]);
        let live = host.live_pages.clone();
        let (mut d, _) = driver(host);
        let mut certs: Vec<u8> = Vec::new();
        d.get_ext_report(&req(1), &mut certs).unwrap();
        // GHCB + 2 message pages + one cert area of the final size (older areas were freed).
        assert_eq!(live.get(), 1 + 2 + 9);
        drop(d);
        // The registered GHCB page stays with the platform; everything else is returned.
        assert_eq!(live.get(), 1);
    }

    fn fault_strategy() -> impl proptest::strategy::Strategy<Value = Fault> {
        use proptest::prelude::*;
        prop_oneof![
            4 => Just(Fault::Normal),
            3 => Just(Fault::Busy),
            1 => Just(Fault::Generic),
            1 => Just(Fault::BadRespSeqno),
            1 => Just(Fault::GhcbMalformed),
            1 => Just(Fault::ExitFailed),
            2 => (0usize..12 * PAGE_SIZE).prop_map(Fault::GrowBlob),
        ]
    }

    proptest::proptest! {
        /// Whatever a host does, the driver never panics, never puts two messages under one
        /// sequence number, returns only reports answering the current call's request, stays in
        /// step with the firmware while its key lives, and sends nothing once the key is wiped.
        #[test]
        fn hostile_host_never_breaks_the_invariants(
            script in proptest::collection::vec(fault_strategy(), 0..40),
            blob in 0usize..8 * PAGE_SIZE,
            calls in proptest::collection::vec(proptest::bool::ANY, 1..8),
        ) {
            let policy = RetryPolicy { max_busy_retries: 3, max_cert_pages: 10, ..RetryPolicy::default() };
            let (mut d, _) = driver_with(Host::new(blob).with_script(&script), policy);
            for (i, ext) in calls.into_iter().enumerate() {
                let tag = i as u8 + 1;
                let sent_before = d.platform().sent.len();
                let was_wiped = d.wipe_reason(VmpckId::ZERO).is_some();
                let r = if ext {
                    let mut certs: Vec<u8> = Vec::new();
                    d.get_ext_report(&req(tag), &mut certs).map(|r| r.response)
                } else {
                    d.get_report(&req(tag))
                };
                if let Ok(rsp) = &r {
                    check_report(rsp, tag);
                }
                if was_wiped {
                    let disabled = matches!(r, Err(DriverError::KeyDisabled { .. }));
                    proptest::prop_assert!(disabled, "wiped key answered {:?}", r);
                    proptest::prop_assert_eq!(d.platform().sent.len(), sent_before);
                }
                if d.wipe_reason(VmpckId::ZERO).is_none() && !d.has_pending_message() {
                    proptest::prop_assert_eq!(d.message_count(VmpckId::ZERO), d.platform().fw_count);
                }
                d.platform().assert_no_seqno_reuse();
            }
        }
    }
}
