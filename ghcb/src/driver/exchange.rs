//! One logical request on the wire: sealing under the next sequence number (persisted first),
//! the BUSY/INVALID_LEN loop of the retry policy, burning an unconsumed sequence number, and the
//! GHCB-level checks. Every path out of a call either accounts for the message it exposed or
//! wipes the key (module docs of [`super`]).

use zeroize::Zeroize;

use crate::exit::{ExitInfo2, HvResponse, SNP_EXTENDED_GUEST_REQUEST, SNP_GUEST_REQUEST};
use crate::message::{self, MsgMeta, MsgType, VmpckId, MAX_PAYLOAD, MSG_VERSION_1};
use crate::page::{Field, Ghcb, GHCB_PROTOCOL_VERSION_SNP, GHCB_USAGE_STANDARD, PAGE_SIZE};
use crate::retry::{Action, Answer, Clock, RetryError, RetryState};

use super::certbuf::table_pages;
use super::slot::{Sealed, MAX_SEQNO};
use super::{CertBuf, DriverError, Gpa, GuestDriver, Vmgexit, VmpckStore, WipeReason};

/// How one exchange (with its BUSY resends) ended.
pub(super) enum Exchanged {
    /// SW_EXITINFO2 = 0: the firmware consumed the message.
    Consumed,
    /// INVALID_LEN: not consumed; the policy's decision is attached (pages to grow to, or why
    /// to give up).
    InvalidLen(Result<usize, RetryError>),
}

impl<V: Vmgexit, C: Clock, S: VmpckStore> GuestDriver<V, C, S> {
    fn req_gpa(&self) -> Gpa {
        self.msg_gpa
    }

    fn resp_gpa(&self) -> Gpa {
        self.msg_gpa + PAGE_SIZE as u64
    }

    /// One logical request: seal, send, handle BUSY/INVALID_LEN per the policy, verify and
    /// decrypt the response into `out`. Returns (payload length, certificate bytes).
    pub(super) fn request<B: CertBuf + ?Sized>(
        &mut self,
        msg_type: MsgType,
        payload: &[u8],
        mut certs: Option<&mut B>,
        out: &mut [u8; MAX_PAYLOAD],
    ) -> Result<(usize, usize), DriverError> {
        let id = self.active;
        self.check_key(id)?;
        let mut state = RetryState::new(self.policy, self.clock.now());
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
                        // Decay the hint to what this table really occupies (never below the
                        // policy's cold-start size, which costs nothing extra): a host that once
                        // asked for the maximum (hostile INVALID_LEN) does not keep every later
                        // request sharing and zeroing that many pages.
                        let real = table_pages(&buf.bytes_mut()[..certs_len]);
                        self.hint_pages = real.max(self.cold_hint()).min(n.max(1));
                        buf.finish(certs_len);
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
                Err(reason) => return Err(self.wipe(id, reason)),
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
    /// number belongs to these bytes only. The count that skips it is persisted *first*: the
    /// message can reach the host only after its home knows the number is taken.
    fn seal_new(
        &mut self,
        id: VmpckId,
        msg_type: MsgType,
        payload: &[u8],
    ) -> Result<Sealed, DriverError> {
        if self.slots[id.get() as usize].key.is_none() {
            return Err(DriverError::NoKey { id: id.get() });
        }
        // The home is the truth: another driver on the same guest may have used the key since
        // (its count is then ahead of ours) or wiped it.
        match self.store.load(id) {
            None => return Err(self.wipe(id, WipeReason::KeyGoneFromStore)),
            Some((_, stored)) => {
                let slot = &mut self.slots[id.get() as usize];
                if stored > slot.count {
                    slot.count = stored;
                    slot.last_sealed = slot.last_sealed.max(stored);
                }
            }
        }
        let slot = &self.slots[id.get() as usize];
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
        self.store
            .persist_count(id, seqno + 1)
            .map_err(DriverError::Store)?;
        let slot = &mut self.slots[id.get() as usize];
        let key = slot
            .key
            .as_ref()
            .ok_or(DriverError::NoKey { id: id.get() })?;
        let meta = MsgMeta {
            seqno,
            msg_type,
            msg_version: MSG_VERSION_1,
            vmpck_id: id,
        };
        let mut msg = Sealed {
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
    /// it. Its response is verified (proving the counters are in step) and discarded. Any other
    /// outcome wipes the key.
    fn burn(&mut self, msg: Sealed, state: &mut RetryState) -> Result<(), DriverError> {
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
            Err(reason) => Err(self.wipe(msg.meta.vmpck_id, reason)),
        }
    }

    /// Send `msg` (plain if `certs` is `None`, else extended with that area), resending on
    /// BUSY per the policy. `Err` is why the key must go: the message was exposed and cannot be
    /// accounted for.
    fn exchange(
        &mut self,
        msg: &Sealed,
        certs: Option<(Gpa, usize)>,
        state: &mut RetryState,
    ) -> Result<Exchanged, WipeReason> {
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
                // The request page is host-shared: a partial write may already be visible.
                return Err(WipeReason::PlatformLost(e));
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
                        // "Not forwarded" is only the host's word: option (a), wipe.
                        Answer::Busy => Err(WipeReason::HostStayedBusy(e)),
                        // The firmware may have seen it: the count is unknown.
                        Answer::Error(_) | Answer::Success => Err(WipeReason::HostError(answered)),
                    };
                }
            }
        }
    }

    /// VMGEXIT and the GHCB-level checks; returns SW_EXITINFO2.
    fn vmgexit_checked(&mut self, ghcb: &mut Ghcb) -> Result<ExitInfo2, WipeReason> {
        // Our request GPAs are in SW_EXITINFO1/2; the host overwrites them with its answer (a
        // host that leaves them alone answers "info1 = request GPA", which is not "handled").
        // A failed exit — whether it never reached the host (`ExitNotDelivered`: the request
        // still sat in host-shared memory) or the host failed to complete it (`HostRunFailed`)
        // — leaves a message this call cannot account for.
        self.platform
            .vmgexit(ghcb)
            .map_err(WipeReason::PlatformLost)?;
        let (Some(info1), Some(info2)) = (
            ghcb.get_valid(Field::SwExitInfo1),
            ghcb.get_valid(Field::SwExitInfo2),
        ) else {
            return Err(WipeReason::ExitInfoMissing);
        };
        match HvResponse::from_exit_info(info1, info2) {
            HvResponse::Handled => Ok(ExitInfo2::from_u64(info2)),
            other => Err(WipeReason::GhcbError(other)),
        }
    }
}
