//! The AMD Secure Processor model: platform TCB and endorsement keys, guest contexts (VMPCK0–3
//! with their message counters), and the SNP_GUEST_REQUEST command.
//!
//! The firmware sees exactly what the real one sees: a 4 KiB request page (guest message header +
//! AES-256-GCM ciphertext, [`snp_ghcb::message`]) and answers with a response page or a firmware
//! status. It enforces the sequence-number rule (request seqno = count + 1; the response carries
//! request + 1; the count advances by two only when a request is consumed), builds attestation
//! reports at the byte offsets of [`snp_certs::report::offset`], and signs them with the VCEK or
//! VLEK of the *reported* TCB.
//!
//! Which firmware status a bad sequence number or a failed tag produces is not pinned by any source
//! we have (abi-facts §5.6, UNCONFIRMED); the simulator answers `INVALID_PARAM` (0x16) for both and
//! does not advance the counter, which is what matters to a guest: the message was refused and
//! the count is unchanged.

use p384::ecdsa::signature::hazmat::PrehashSigner;
use p384::ecdsa::Signature;
use sha2::{Digest, Sha384};
use snp_certs::product::Product;
use snp_certs::report::{self, offset, signer_info, SigningKey};
use snp_certs::tcb::Tcb;
use snp_ghcb::exit::FwStatus;
use snp_ghcb::message::{self, MsgHeader, MsgMeta, MsgType, Vmpck, VmpckId, MSG_HDR_SIZE};
use snp_ghcb::page::PAGE_SIZE;
use snp_ghcb::payload::{
    KeyReq, KeyRsp, ReportReq, ReportRsp, KEY_SEL_DEFAULT, KEY_SEL_VCEK, KEY_SEL_VLEK,
    REPORT_RSP_SIZE, REPORT_SIZE,
};

use crate::pki::{EndorsementKind, IssuedKey, PkiError, ProductCa};

/// A whole request or response page.
pub type Page = [u8; PAGE_SIZE];

/// Platform-level configuration of the simulated AMD-SP.
#[derive(Debug, Clone)]
pub struct FirmwareConfig {
    /// Product line (decides TCB layout, hwID length, CPUID fields, CA).
    pub product: Product,
    /// CHIP_ID (on Turin only the first 8 bytes are meaningful; the rest is forced to zero).
    pub chip_id: [u8; 64],
    /// Seed from which endorsement keys are derived.
    pub seed: [u8; 32],
    /// Initial TCB (current = committed = reported).
    pub tcb: Tcb,
    /// Firmware version (major, minor, build).
    pub fw_version: (u8, u8, u8),
    /// Attestation report version to emit: 2, 3 or 5.
    pub report_version: u32,
    /// PLATFORM_INFO.
    pub platform_info: u64,
    /// A VLEK loaded for this cloud provider id (e.g. `CN=cc-sim.example`), if any.
    pub vlek_csp: Option<String>,
}

impl FirmwareConfig {
    /// Defaults for `product`: a plausible TCB, firmware 1.55.x, report version 5, no VLEK.
    pub fn new(product: Product) -> Self {
        let tcb = match product {
            Product::Milan => Tcb::new(3, 0, 8, 0x73),
            Product::Genoa => Tcb::new(10, 0, 25, 84),
            Product::Turin => Tcb::with_fmc(0, 1, 0, 3, 9),
        };
        let mut chip_id = [0u8; 64];
        for (i, b) in chip_id.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(0x11);
        }
        Self {
            product,
            chip_id,
            seed: [0x5Eu8; 32],
            tcb,
            fw_version: (1, 55, 43),
            report_version: 5,
            platform_info: 0x3, // SMT_EN | TSME_EN
            vlek_csp: None,
        }
    }
}

/// Per-guest launch configuration: what the report says about the guest.
#[derive(Debug, Clone)]
pub struct GuestConfig {
    /// Guest policy (bit 17 must be 1).
    pub policy: u64,
    /// Launch measurement.
    pub measurement: [u8; 48],
    /// HOST_DATA.
    pub host_data: [u8; 32],
    /// FAMILY_ID.
    pub family_id: [u8; 16],
    /// IMAGE_ID.
    pub image_id: [u8; 16],
    /// GUEST_SVN.
    pub guest_svn: u32,
    /// ID_KEY_DIGEST.
    pub id_key_digest: [u8; 48],
    /// AUTHOR_KEY_DIGEST.
    pub author_key_digest: [u8; 48],
    /// REPORT_ID.
    pub report_id: [u8; 32],
    /// Whether the guest launched with MASK_CHIP_ID (CHIP_ID reported as zeros).
    pub mask_chip_id: bool,
    /// The four VMPCKs.
    pub vmpcks: [[u8; 32]; 4],
}

impl Default for GuestConfig {
    fn default() -> Self {
        let mut vmpcks = [[0u8; 32]; 4];
        for (i, k) in vmpcks.iter_mut().enumerate() {
            let d = Sha384::digest([b"snp-sim vmpck".as_slice(), &[i as u8]].concat());
            k.copy_from_slice(&d[..32]);
        }
        Self {
            policy: 0x3_0000, // SMT allowed, reserved bit 17 set, ABI 0.0
            measurement: [0xA5; 48],
            host_data: [0; 32],
            family_id: [0; 16],
            image_id: [0; 16],
            guest_svn: 0,
            id_key_digest: [0; 48],
            author_key_digest: [0; 48],
            report_id: [0x42; 32],
            mask_chip_id: false,
            vmpcks,
        }
    }
}

/// Result of one SNP_GUEST_REQUEST command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FwOutcome {
    /// The request was consumed; this is the response page.
    Response(Box<Page>),
    /// The firmware refused the request with this status; the guest's count did not advance.
    Error(FwStatus),
}

/// Per-request firmware faults (decided by the platform's fault configuration).
#[derive(Debug, Clone, Copy, Default)]
pub struct FwFaults {
    /// Refuse with this status before looking at the message.
    pub error: Option<u32>,
    /// Seal a truncated MSG_REPORT_RSP payload.
    pub truncate: bool,
}

/// Counter events the caller should record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FwEvents {
    /// A sequence-number violation was refused.
    pub seqno_violation: bool,
    /// Authentication failed.
    pub auth_failure: bool,
    /// A report was signed.
    pub report_signed: bool,
}

/// One launched guest's context inside the firmware.
#[derive(Debug)]
struct GuestContext {
    cfg: GuestConfig,
    vmpcks: [Vmpck; 4],
    /// Last sequence number consumed per VMPCK (the response's); next request must be count + 1.
    counts: [u64; 4],
    launch_tcb: Tcb,
}

/// Handle to a guest context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GuestHandle(usize);

/// The AMD-SP.
#[derive(Debug)]
pub struct Firmware {
    cfg: FirmwareConfig,
    ca: &'static ProductCa,
    current_tcb: Tcb,
    committed_tcb: Tcb,
    reported_tcb: Tcb,
    committed_version: (u8, u8, u8),
    vcek: IssuedKey,
    vlek: Option<IssuedKey>,
    guests: Vec<GuestContext>,
}

impl Firmware {
    /// Boot the firmware: load the product CA and issue the VCEK (and VLEK) for the TCB.
    pub fn new(mut cfg: FirmwareConfig) -> Result<Self, PkiError> {
        let hw = cfg.product.hwid_len();
        cfg.chip_id[hw..].fill(0);
        let ca = ProductCa::get(cfg.product)?;
        let vcek = ca.issue_vcek(&cfg.seed, &cfg.chip_id, &cfg.tcb)?;
        let vlek = match &cfg.vlek_csp {
            Some(csp) => Some(ca.issue_vlek(&cfg.seed, csp, &cfg.tcb)?),
            None => None,
        };
        Ok(Self {
            current_tcb: cfg.tcb,
            committed_tcb: cfg.tcb,
            reported_tcb: cfg.tcb,
            committed_version: cfg.fw_version,
            cfg,
            ca,
            vcek,
            vlek,
            guests: Vec::new(),
        })
    }

    /// Platform configuration.
    pub fn config(&self) -> &FirmwareConfig {
        &self.cfg
    }
    /// The product CA (ARK/ASK/ASVK).
    pub fn ca(&self) -> &'static ProductCa {
        self.ca
    }
    /// The VCEK for the current REPORTED_TCB.
    pub fn vcek(&self) -> &IssuedKey {
        &self.vcek
    }
    /// The loaded VLEK, if any.
    pub fn vlek(&self) -> Option<&IssuedKey> {
        self.vlek.as_ref()
    }
    /// The TCB reports are signed under (REPORTED_TCB).
    pub fn reported_tcb(&self) -> Tcb {
        self.reported_tcb
    }
    /// CHIP_ID as the firmware knows it.
    pub fn chip_id(&self) -> &[u8; 64] {
        &self.cfg.chip_id
    }

    /// Another chip's VCEK at the same TCB (for the "wrong VCEK" fault).
    pub fn foreign_vcek(&self) -> Result<IssuedKey, PkiError> {
        let mut other = self.cfg.chip_id;
        for b in other.iter_mut().take(self.cfg.product.hwid_len()) {
            *b ^= 0xFF;
        }
        self.ca
            .issue_vcek(&self.cfg.seed, &other, &self.reported_tcb)
    }

    /// Operator update (firmware hot-load + SNP_COMMIT + SNP_SET_CONFIG): current, committed and
    /// reported TCB all become `tcb`, which re-derives the VCEK (and VLEK). The caller (the
    /// platform's updater) holds the blob lock exclusively while this runs.
    pub fn update_tcb(&mut self, tcb: Tcb) -> Result<(), PkiError> {
        let vcek = self
            .ca
            .issue_vcek(&self.cfg.seed, &self.cfg.chip_id, &tcb)?;
        let vlek = match &self.cfg.vlek_csp {
            Some(csp) => Some(self.ca.issue_vlek(&self.cfg.seed, csp, &tcb)?),
            None => None,
        };
        tracing::info!(?tcb, "simulated firmware TCB raised (commit + set_config)");
        self.current_tcb = tcb;
        self.committed_tcb = tcb;
        self.reported_tcb = tcb;
        self.committed_version = self.cfg.fw_version;
        self.vcek = vcek;
        self.vlek = vlek;
        Ok(())
    }

    /// SNP_VLEK_LOAD: load (or replace) a VLEK for `csp_id`.
    pub fn load_vlek(&mut self, csp_id: &str) -> Result<(), PkiError> {
        self.vlek = Some(
            self.ca
                .issue_vlek(&self.cfg.seed, csp_id, &self.reported_tcb)?,
        );
        self.cfg.vlek_csp = Some(csp_id.to_owned());
        Ok(())
    }

    /// SNP_LAUNCH_*: create a guest context.
    pub fn launch(&mut self, cfg: GuestConfig) -> GuestHandle {
        let vmpcks = cfg.vmpcks.map(Vmpck::new);
        self.guests.push(GuestContext {
            cfg,
            vmpcks,
            counts: [0; 4],
            launch_tcb: self.current_tcb,
        });
        GuestHandle(self.guests.len() - 1)
    }

    /// The guest's launch configuration (VMPCKs included: the guest's secrets page).
    pub fn guest_config(&self, g: GuestHandle) -> Option<&GuestConfig> {
        self.guests.get(g.0).map(|c| &c.cfg)
    }

    /// The firmware's message count for a guest's VMPCK (last consumed response seqno).
    pub fn message_count(&self, g: GuestHandle, vmpck: u8) -> Option<u64> {
        self.guests
            .get(g.0)?
            .counts
            .get(usize::from(vmpck))
            .copied()
    }

    /// SNP_GUEST_REQUEST: process one request page.
    pub fn guest_request(
        &mut self,
        g: GuestHandle,
        req: &Page,
        faults: FwFaults,
    ) -> (FwOutcome, FwEvents) {
        let mut ev = FwEvents::default();
        if let Some(status) = faults.error {
            return (FwOutcome::Error(FwStatus::from_u32(status)), ev);
        }
        let refuse = |s| FwOutcome::Error(s);
        let Ok(hdr) = MsgHeader::decode(req) else {
            return (refuse(FwStatus::InvalidParam), ev);
        };
        let Ok(vmpck_id) = VmpckId::new(hdr.vmpck) else {
            return (refuse(FwStatus::InvalidParam), ev);
        };
        let idx = usize::from(vmpck_id.get());
        let Some(guest) = self.guests.get(g.0) else {
            return (refuse(FwStatus::InvalidGuest), ev);
        };
        let expected = guest.counts[idx].saturating_add(1);
        if hdr.seqno != expected {
            tracing::warn!(
                got = hdr.seqno,
                expected,
                vmpck = idx,
                "simulated firmware refused a reused or skipped sequence number"
            );
            ev.seqno_violation = true;
            return (refuse(FwStatus::InvalidParam), ev);
        }
        let meta = MsgMeta {
            seqno: hdr.seqno,
            msg_type: hdr.msg_type,
            msg_version: hdr.msg_version,
            vmpck_id,
        };
        let mut plain = [0u8; message::MAX_PAYLOAD];
        let n = match message::open(req, &meta, &guest.vmpcks[idx], &mut plain) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "simulated firmware could not open a guest message");
                ev.auth_failure = matches!(e, message::MessageError::AuthenticationFailed);
                return (refuse(FwStatus::InvalidParam), ev);
            }
        };
        let rsp_type = match hdr.msg_type {
            MsgType::ReportReq => MsgType::ReportRsp,
            MsgType::KeyReq => MsgType::KeyRsp,
            _ => return (refuse(FwStatus::InvalidParam), ev),
        };
        // The request is consumed from here on: the count advances (request n, response n+1).
        let Some(rsp_seqno) = hdr.seqno.checked_add(1) else {
            return (refuse(FwStatus::AeadOflow), ev);
        };
        let mut payload = [0u8; message::MAX_PAYLOAD];
        let len = match hdr.msg_type {
            MsgType::ReportReq => {
                let (rsp, signed) = self.report_response(g, vmpck_id, &plain[..n]);
                ev.report_signed = signed;
                let _ = rsp.encode(&mut payload);
                if faults.truncate {
                    // A validly sealed but short response: header + part of the report.
                    0x20 + 0x100
                } else {
                    REPORT_RSP_SIZE
                }
            }
            _ => {
                let rsp = self.key_response(g, vmpck_id, &plain[..n]);
                rsp.encode(&mut payload).unwrap_or(0)
            }
        };
        let Some(guest) = self.guests.get_mut(g.0) else {
            return (refuse(FwStatus::InvalidGuest), ev);
        };
        guest.counts[idx] = rsp_seqno;
        let mut page = Box::new([0u8; PAGE_SIZE]);
        let rsp_meta = MsgMeta {
            seqno: rsp_seqno,
            msg_type: rsp_type,
            msg_version: hdr.msg_version,
            vmpck_id,
        };
        match message::seal(
            &mut page[..],
            &rsp_meta,
            &guest.vmpcks[idx],
            &payload[..len],
        ) {
            Ok(_) => (FwOutcome::Response(page), ev),
            Err(_) => (refuse(FwStatus::InvalidParam), ev),
        }
    }

    /// MSG_REPORT_REQ → MSG_REPORT_RSP. Bad VMPL / key selection are response statuses (0x16 /
    /// 0x27), not firmware errors.
    fn report_response(&self, g: GuestHandle, vmpck: VmpckId, payload: &[u8]) -> (ReportRsp, bool) {
        let Ok(req) = ReportReq::decode(payload) else {
            return (ReportRsp::failure(FwStatus::InvalidParam), false);
        };
        // A message under VMPCKn comes from VMPLn; it may ask for VMPL >= n only.
        if req.vmpl > 3 || req.vmpl < u32::from(vmpck.get()) {
            return (ReportRsp::failure(FwStatus::InvalidParam), false);
        }
        let key = match (req.key_sel, &self.vlek) {
            (KEY_SEL_DEFAULT, Some(vlek)) => vlek,
            (KEY_SEL_DEFAULT, None) | (KEY_SEL_VCEK, _) => &self.vcek,
            (KEY_SEL_VLEK, Some(vlek)) => vlek,
            (KEY_SEL_VLEK, None) => return (ReportRsp::failure(FwStatus::InvalidKey), false),
            _ => return (ReportRsp::failure(FwStatus::InvalidParam), false),
        };
        match self.build_report(g, &req, key) {
            Some(r) => (ReportRsp::success(r), true),
            None => (ReportRsp::failure(FwStatus::InvalidParam), false),
        }
    }

    /// MSG_KEY_REQ → MSG_KEY_RSP: a key derived from the chip, the guest measurement and the
    /// request's selectors (the simulator's own derivation; only determinism matters).
    fn key_response(&self, g: GuestHandle, vmpck: VmpckId, payload: &[u8]) -> KeyRsp {
        let mut h = Sha384::new();
        h.update(b"snp-sim derived key v1\0");
        h.update(self.cfg.seed);
        h.update(self.cfg.chip_id);
        h.update([vmpck.get()]);
        h.update(payload);
        if let Some(gc) = self.guests.get(g.0) {
            h.update(gc.cfg.measurement);
        }
        let d = h.finalize();
        let mut key = [0u8; 32];
        key.copy_from_slice(&d[..32]);
        let ok = KeyReq::decode(payload).is_ok();
        KeyRsp {
            status: if ok {
                FwStatus::Success
            } else {
                FwStatus::InvalidParam
            },
            derived_key: if ok { key } else { [0; 32] },
        }
    }

    fn build_report(
        &self,
        g: GuestHandle,
        req: &ReportReq,
        key: &IssuedKey,
    ) -> Option<[u8; REPORT_SIZE]> {
        let guest = self.guests.get(g.0)?;
        let p = self.cfg.product;
        let mut r = [0u8; REPORT_SIZE];
        let put = |r: &mut [u8; REPORT_SIZE], off: usize, b: &[u8]| {
            if let Some(dst) = r.get_mut(off..off + b.len()) {
                dst.copy_from_slice(b);
            }
        };
        let v = self.cfg.report_version;
        put(&mut r, offset::VERSION, &v.to_le_bytes());
        put(
            &mut r,
            offset::GUEST_SVN,
            &guest.cfg.guest_svn.to_le_bytes(),
        );
        put(&mut r, offset::POLICY, &guest.cfg.policy.to_le_bytes());
        put(&mut r, offset::FAMILY_ID, &guest.cfg.family_id);
        put(&mut r, offset::IMAGE_ID, &guest.cfg.image_id);
        put(&mut r, offset::VMPL, &req.vmpl.to_le_bytes());
        put(
            &mut r,
            offset::SIGNATURE_ALGO,
            &report::SIG_ALGO_ECDSA_P384_SHA384.to_le_bytes(),
        );
        put(&mut r, offset::CURRENT_TCB, &self.current_tcb.encode(p));
        put(
            &mut r,
            offset::PLATFORM_INFO,
            &self.cfg.platform_info.to_le_bytes(),
        );
        let signing = match key.kind {
            EndorsementKind::Vcek => SigningKey::Vcek,
            EndorsementKind::Vlek => SigningKey::Vlek,
        };
        put(
            &mut r,
            offset::SIGNER_INFO,
            &signer_info::encode(signing, false, false).to_le_bytes(),
        );
        put(&mut r, offset::REPORT_DATA, &req.report_data);
        put(&mut r, offset::MEASUREMENT, &guest.cfg.measurement);
        put(&mut r, offset::HOST_DATA, &guest.cfg.host_data);
        put(&mut r, offset::ID_KEY_DIGEST, &guest.cfg.id_key_digest);
        put(
            &mut r,
            offset::AUTHOR_KEY_DIGEST,
            &guest.cfg.author_key_digest,
        );
        put(&mut r, offset::REPORT_ID, &guest.cfg.report_id);
        put(&mut r, offset::REPORT_ID_MA, &[0xFF; 32]);
        put(&mut r, offset::REPORTED_TCB, &key.tcb.encode(p));
        if v >= report::FIRST_VERSION_WITH_CPUID {
            let c = p.representative_cpuid();
            put(
                &mut r,
                offset::CPUID_FAM_ID,
                &[c.family, c.model, c.stepping],
            );
        }
        if !guest.cfg.mask_chip_id {
            put(&mut r, offset::CHIP_ID, &self.cfg.chip_id);
        }
        put(&mut r, offset::COMMITTED_TCB, &self.committed_tcb.encode(p));
        let (maj, min, build) = self.cfg.fw_version;
        put(&mut r, offset::CURRENT_BUILD, &[build, min, maj]);
        let (cmaj, cmin, cbuild) = self.committed_version;
        put(&mut r, offset::COMMITTED_BUILD, &[cbuild, cmin, cmaj]);
        put(&mut r, offset::LAUNCH_TCB, &guest.launch_tcb.encode(p));
        // v5 mitigation vectors stay zero: no mitigations are modelled.
        let digest = Sha384::digest(&r[..report::SIGNED_LEN]);
        let sig: Signature = key.signing_key.sign_prehash(&digest).ok()?;
        let (rb, sb) = sig.split_bytes();
        let mut le = [0u8; report::SIG_COMPONENT_LEN];
        for (i, b) in rb.iter().rev().enumerate() {
            le[i] = *b;
        }
        put(&mut r, offset::SIGNATURE_R, &le);
        le = [0u8; report::SIG_COMPONENT_LEN];
        for (i, b) in sb.iter().rev().enumerate() {
            le[i] = *b;
        }
        put(&mut r, offset::SIGNATURE_S, &le);
        Some(r)
    }
}

/// Header size re-exported for callers that slice response pages.
pub const RESPONSE_HEADER_SIZE: usize = MSG_HDR_SIZE;

#[cfg(test)]
mod tests {
    use super::*;
    use p384::ecdsa::signature::hazmat::PrehashVerifier;
    use snp_certs::report::ReportView;

    fn fw(product: Product) -> (Firmware, GuestHandle) {
        let mut f = Firmware::new(FirmwareConfig::new(product)).unwrap();
        let g = f.launch(GuestConfig::default());
        (f, g)
    }

    fn request(f: &Firmware, g: GuestHandle, vmpck: u8, seqno: u64, req: &ReportReq) -> Page {
        let key = Vmpck::new(f.guest_config(g).unwrap().vmpcks[usize::from(vmpck)]);
        let mut page = [0u8; PAGE_SIZE];
        let meta = MsgMeta {
            seqno,
            msg_type: MsgType::ReportReq,
            msg_version: 1,
            vmpck_id: VmpckId::new(vmpck).unwrap(),
        };
        message::seal(&mut page, &meta, &key, &req.to_bytes().unwrap()).unwrap();
        page
    }

    fn open_rsp(f: &Firmware, g: GuestHandle, vmpck: u8, seqno: u64, page: &Page) -> ReportRsp {
        let key = Vmpck::new(f.guest_config(g).unwrap().vmpcks[usize::from(vmpck)]);
        let meta = MsgMeta {
            seqno,
            msg_type: MsgType::ReportRsp,
            msg_version: 1,
            vmpck_id: VmpckId::new(vmpck).unwrap(),
        };
        let mut out = [0u8; message::MAX_PAYLOAD];
        let n = message::open(page, &meta, &key, &mut out).unwrap();
        ReportRsp::decode(&out[..n]).unwrap()
    }

    fn req(vmpl: u32, key_sel: u8) -> ReportReq {
        ReportReq {
            report_data: [0x77; 64],
            vmpl,
            key_sel,
        }
    }

    #[test]
    fn report_is_signed_by_vcek_with_product_layout() {
        for p in Product::ALL {
            for version in [2u32, 3, 5] {
                let mut cfg = FirmwareConfig::new(p);
                cfg.report_version = version;
                let mut f = Firmware::new(cfg).unwrap();
                let g = f.launch(GuestConfig::default());
                let page = request(&f, g, 0, 1, &req(0, 0));
                let (out, ev) = f.guest_request(g, &page, FwFaults::default());
                assert!(ev.report_signed);
                let FwOutcome::Response(rsp) = out else {
                    panic!("{out:?}")
                };
                let rsp = open_rsp(&f, g, 0, 2, &rsp);
                assert_eq!(rsp.status, FwStatus::Success);
                let view = ReportView::new(&rsp.report).unwrap();
                assert_eq!(view.version(), version);
                let bytes = view.as_bytes();
                assert_eq!(
                    &bytes[offset::REPORT_DATA..offset::REPORT_DATA + 64],
                    &[0x77; 64]
                );
                assert_eq!(
                    &bytes[offset::REPORTED_TCB..offset::REPORTED_TCB + 8],
                    &f.reported_tcb().encode(p)
                );
                assert_eq!(bytes[offset::CPUID_FAM_ID] != 0, version >= 3);
                let chip = &bytes[offset::CHIP_ID..offset::CHIP_ID + 64];
                assert!(chip[p.hwid_len()..].iter().all(|&b| b == 0));
                assert_eq!(&chip[..p.hwid_len()], &f.chip_id()[..p.hwid_len()]);
                // Signature: R, S little-endian in 72-byte slots over bytes 0..0x2A0.
                let mut r = [0u8; 48];
                let mut s = [0u8; 48];
                for i in 0..48 {
                    r[47 - i] = bytes[offset::SIGNATURE_R + i];
                    s[47 - i] = bytes[offset::SIGNATURE_S + i];
                }
                assert!(bytes[offset::SIGNATURE_R + 48..offset::SIGNATURE_R + 72]
                    .iter()
                    .all(|&b| b == 0));
                let sig = Signature::from_scalars(r, s).unwrap();
                let digest = Sha384::digest(&bytes[..0x2A0]);
                f.vcek()
                    .signing_key
                    .verifying_key()
                    .verify_prehash(&digest, &sig)
                    .unwrap();
            }
        }
    }

    #[test]
    fn seqno_rule_refuses_reuse_and_skip() {
        let (mut f, g) = fw(Product::Milan);
        let page = request(&f, g, 0, 1, &req(0, 0));
        assert!(matches!(
            f.guest_request(g, &page, FwFaults::default()).0,
            FwOutcome::Response(_)
        ));
        assert_eq!(f.message_count(g, 0), Some(2));
        // Replaying the same request (reused seqno 1) is refused and counted.
        let (out, ev) = f.guest_request(g, &page, FwFaults::default());
        assert_eq!(out, FwOutcome::Error(FwStatus::InvalidParam));
        assert!(ev.seqno_violation);
        // Skipping (5 instead of 3) is refused too.
        let skip = request(&f, g, 0, 5, &req(0, 0));
        assert!(
            f.guest_request(g, &skip, FwFaults::default())
                .1
                .seqno_violation
        );
        assert_eq!(f.message_count(g, 0), Some(2));
        // The right one works; VMPCK counters are independent.
        let ok = request(&f, g, 0, 3, &req(0, 0));
        assert!(matches!(
            f.guest_request(g, &ok, FwFaults::default()).0,
            FwOutcome::Response(_)
        ));
        let other = request(&f, g, 2, 1, &req(2, 0));
        assert!(matches!(
            f.guest_request(g, &other, FwFaults::default()).0,
            FwOutcome::Response(_)
        ));
        assert_eq!(f.message_count(g, 0), Some(4));
        assert_eq!(f.message_count(g, 2), Some(2));
    }

    #[test]
    fn bad_tag_and_fw_error_do_not_advance_count() {
        let (mut f, g) = fw(Product::Genoa);
        let mut page = request(&f, g, 0, 1, &req(0, 0));
        page[3] ^= 1;
        let (out, ev) = f.guest_request(g, &page, FwFaults::default());
        assert_eq!(out, FwOutcome::Error(FwStatus::InvalidParam));
        assert!(ev.auth_failure);
        let page = request(&f, g, 0, 1, &req(0, 0));
        let (out, _) = f.guest_request(
            g,
            &page,
            FwFaults {
                error: Some(0x13),
                truncate: false,
            },
        );
        assert_eq!(out, FwOutcome::Error(FwStatus::HwErrorPlatform));
        assert_eq!(f.message_count(g, 0), Some(0));
    }

    #[test]
    fn bad_vmpl_and_key_sel_are_response_statuses() {
        let (mut f, g) = fw(Product::Milan);
        // VMPCK1 asking for a VMPL0 report.
        let page = request(&f, g, 1, 1, &req(0, 0));
        let FwOutcome::Response(p) = f.guest_request(g, &page, FwFaults::default()).0 else {
            panic!()
        };
        assert_eq!(open_rsp(&f, g, 1, 2, &p).status, FwStatus::InvalidParam);
        // VLEK requested, none loaded.
        let page = request(&f, g, 0, 1, &req(0, KEY_SEL_VLEK));
        let FwOutcome::Response(p) = f.guest_request(g, &page, FwFaults::default()).0 else {
            panic!()
        };
        assert_eq!(open_rsp(&f, g, 0, 2, &p).status, FwStatus::InvalidKey);
        // Both consumed the message (the count advanced).
        assert_eq!(f.message_count(g, 0), Some(2));
        assert_eq!(f.message_count(g, 1), Some(2));
    }

    #[test]
    fn vlek_signs_when_loaded_and_tcb_update_changes_vcek() {
        let mut cfg = FirmwareConfig::new(Product::Turin);
        cfg.vlek_csp = Some("CN=cc-sim.example".into());
        let mut f = Firmware::new(cfg).unwrap();
        let g = f.launch(GuestConfig::default());
        let page = request(&f, g, 0, 1, &req(0, KEY_SEL_DEFAULT));
        let FwOutcome::Response(p) = f.guest_request(g, &page, FwFaults::default()).0 else {
            panic!()
        };
        let rsp = open_rsp(&f, g, 0, 2, &p);
        let view = ReportView::new(&rsp.report).unwrap();
        assert_eq!(
            signer_info::signing_key(u32::from_le_bytes(
                view.as_bytes()[0x48..0x4C].try_into().unwrap()
            )),
            SigningKey::Vlek
        );
        let old = f.vcek().cert_der.clone();
        f.update_tcb(Tcb::with_fmc(1, 2, 0, 4, 10)).unwrap();
        assert_ne!(old, f.vcek().cert_der);
        assert_eq!(f.reported_tcb(), Tcb::with_fmc(1, 2, 0, 4, 10));
    }

    #[test]
    fn masked_chip_id_reports_zeros() {
        let mut f = Firmware::new(FirmwareConfig::new(Product::Genoa)).unwrap();
        let g = f.launch(GuestConfig {
            mask_chip_id: true,
            ..GuestConfig::default()
        });
        let page = request(&f, g, 0, 1, &req(0, 0));
        let FwOutcome::Response(p) = f.guest_request(g, &page, FwFaults::default()).0 else {
            panic!()
        };
        let rsp = open_rsp(&f, g, 0, 2, &p);
        assert!(rsp.report[offset::CHIP_ID..offset::CHIP_ID + 64]
            .iter()
            .all(|&b| b == 0));
    }

    #[test]
    fn truncated_response_is_sealed_but_short() {
        let (mut f, g) = fw(Product::Milan);
        let page = request(&f, g, 0, 1, &req(0, 0));
        let FwOutcome::Response(p) = f
            .guest_request(
                g,
                &page,
                FwFaults {
                    error: None,
                    truncate: true,
                },
            )
            .0
        else {
            panic!()
        };
        let key = Vmpck::new(f.guest_config(g).unwrap().vmpcks[0]);
        let meta = MsgMeta {
            seqno: 2,
            msg_type: MsgType::ReportRsp,
            msg_version: 1,
            vmpck_id: VmpckId::ZERO,
        };
        let mut out = [0u8; message::MAX_PAYLOAD];
        let n = message::open(&p[..], &meta, &key, &mut out).unwrap();
        assert_eq!(n, 0x120);
        assert!(ReportRsp::decode(&out[..n]).is_err());
    }
}
