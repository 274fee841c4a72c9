//! Harnesses for `snp-ghcb` decoders of host- and firmware-controlled bytes. Uses only
//! `snp_ghcb` and `std`, because `ghcb/tests/fuzz_corpus_replay.rs` includes this file as a
//! module.
//!
//! A harness must never panic on any input; where it asserts, the assertion states an invariant
//! of the decoder (a panic found by the fuzzer is a bug in the decoder, not in the input).

use snp_ghcb::exit::{ExitInfo2, FwStatus, GhcbErr, HvResponse, VmmError};
use snp_ghcb::message::{
    open, seal, MsgHeader, MsgMeta, MsgType, Vmpck, VmpckId, AUTHTAG_FIELD_LEN, AUTHTAG_LEN,
    MAX_PAYLOAD, MSG_HDR_SIZE,
};
use snp_ghcb::msr::{self, MsrRequest, SevInfo, Termination};
use snp_ghcb::payload::{KeyReq, KeyRsp, ReportReq, ReportRsp, KEY_REQ_SIZE, REPORT_REQ_SIZE};

/// The key every harness message is sealed and opened with (a fixed test key: the point is the
/// parser, not secrecy).
const KEY: [u8; 32] = [0x42; 32];

fn meta(sel: u8) -> MsgMeta {
    MsgMeta {
        seqno: u64::from(sel >> 4),
        msg_type: if sel & 0x08 != 0 {
            MsgType::KeyRsp
        } else {
            MsgType::ReportRsp
        },
        msg_version: 1,
        vmpck_id: VmpckId::ZERO,
    }
}

/// Guest messages and their payloads as a hostile host or firmware could return them. The
/// first byte picks the mode (bits 0–1) and the expected header (bits 3–7); the rest is:
/// mode 0 a raw response message to `open`, mode 1 a plaintext that is sealed, opened, decoded
/// and then tampered with, mode 2 a raw payload for the request/response decoders. Every mode
/// also feeds the rest, 8 bytes at a time, to the SW_EXITINFO and GHCB MSR decoders.
pub fn guest_message(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let key = Vmpck::new(KEY);
    match sel & 0x03 {
        0 => open_raw(body, &meta(sel), &key),
        1 => seal_open_tamper(body, &meta(sel), &key),
        _ => payloads(body),
    }
    for chunk in body.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        words(u64::from_le_bytes(w), sel);
    }
}

fn open_raw(msg: &[u8], expect: &MsgMeta, key: &Vmpck) {
    match MsgHeader::decode(msg) {
        Ok(h) => {
            assert!(msg.len() >= MSG_HDR_SIZE);
            assert_eq!(&h.authtag[..], &msg[..AUTHTAG_FIELD_LEN]);
            let mut again = [0u8; MSG_HDR_SIZE];
            h.encode(&mut again)
                .expect("a header encodes into 0x60 bytes");
            assert_eq!(MsgHeader::decode(&again), Ok(h), "header round trip");
        }
        Err(e) => {
            assert!(msg.len() < MSG_HDR_SIZE, "complete header refused: {e}");
            let _ = e.to_string();
        }
    }
    for out_len in [0, 64, MAX_PAYLOAD] {
        let mut out = vec![0xAA; out_len];
        match open(msg, expect, key, &mut out) {
            Ok(n) => {
                let h = MsgHeader::decode(msg).expect("opened without a header");
                assert_eq!(n, usize::from(h.msg_size));
                assert!(n <= out_len && n <= MAX_PAYLOAD);
                decode_plaintext(&out[..n]);
            }
            Err(e) => {
                let _ = e.to_string();
                assert!(
                    out.iter().all(|&b| b == 0),
                    "unauthenticated bytes left in out"
                );
            }
        }
    }
}

fn seal_open_tamper(plain: &[u8], meta: &MsgMeta, key: &Vmpck) {
    let plain = &plain[..plain.len().min(MAX_PAYLOAD)];
    let mut msg = vec![0u8; MSG_HDR_SIZE + plain.len()];
    let n = seal(&mut msg, meta, key, plain).expect("a payload within the page seals");
    assert_eq!(n, msg.len());
    let mut out = vec![0u8; MAX_PAYLOAD];
    let got = open(&msg, meta, key, &mut out).expect("what is sealed opens");
    assert_eq!(&out[..got], plain, "plaintext changed in transit");
    decode_plaintext(plain);

    // Any change to the tag, the authenticated header or the ciphertext must be refused.
    // Bytes 0x10..0x20 (the unused half of the AUTHTAG field) are neither, so skip them.
    let covered: Vec<usize> = (0..AUTHTAG_LEN)
        .chain(AUTHTAG_FIELD_LEN..msg.len())
        .collect();
    let seed = plain
        .iter()
        .fold(plain.len(), |a, &b| a.wrapping_mul(31) ^ usize::from(b));
    let at = covered[seed % covered.len()];
    msg[at] ^= 1 << (seed % 8);
    let mut out = vec![0xAA; MAX_PAYLOAD];
    assert!(
        open(&msg, meta, key, &mut out).is_err(),
        "message with byte {at:#x} changed still opens"
    );
    assert!(out.iter().all(|&b| b == 0));
    // The same message for another key id, sequence number or type is refused too.
    for other in [
        MsgMeta {
            seqno: meta.seqno.wrapping_add(1),
            ..*meta
        },
        MsgMeta {
            vmpck_id: VmpckId::new(1).expect("id 1"),
            ..*meta
        },
    ] {
        msg[at] ^= 1 << (seed % 8);
        assert!(open(&msg, &other, key, &mut out).is_err());
        msg[at] ^= 1 << (seed % 8);
    }
}

/// Decode an opened plaintext the way the guest driver does.
fn decode_plaintext(p: &[u8]) {
    if let Ok(r) = ReportRsp::decode(p) {
        let _ = format!("{r:?}");
    }
    if let Ok(k) = KeyRsp::decode(p) {
        let _ = format!("{k:?}");
    }
}

fn payloads(b: &[u8]) {
    match ReportRsp::decode(b) {
        Ok(r) => {
            let _ = (format!("{r:?}"), r.status.to_string());
            if r.status != FwStatus::Success {
                assert!(
                    r.report.iter().all(|&x| x == 0),
                    "failed response carries a report"
                );
            }
            let mut out = vec![0u8; snp_ghcb::payload::REPORT_RSP_SIZE];
            r.encode(&mut out).expect("encode");
            assert_eq!(
                ReportRsp::decode(&out).as_ref(),
                Ok(&r),
                "ReportRsp round trip"
            );
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    match KeyRsp::decode(b) {
        Ok(k) => {
            let mut out = [0u8; snp_ghcb::payload::KEY_RSP_SIZE];
            k.encode(&mut out).expect("encode");
            assert!(KeyRsp::decode(&out).as_ref() == Ok(&k), "KeyRsp round trip");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Ok(r) = ReportReq::decode(b) {
        let bytes = r.to_bytes().expect("a decoded request encodes");
        assert_eq!(&bytes[..], &b[..REPORT_REQ_SIZE], "ReportReq round trip");
    }
    if let Ok(k) = KeyReq::decode(b) {
        let mut out = [0u8; KEY_REQ_SIZE];
        k.encode(&mut out).expect("encode");
        assert_eq!(&out[..], &b[..KEY_REQ_SIZE], "KeyReq round trip");
    }
}

/// SW_EXITINFO1/2 and GHCB MSR protocol values.
fn words(v: u64, sel: u8) {
    let e = ExitInfo2::from_u64(v);
    assert_eq!(e.to_u64(), v, "ExitInfo2 round trip");
    assert_eq!(e.is_success(), v == 0);
    let _ = e.to_string();
    assert_eq!(VmmError::from_u32((v >> 32) as u32), e.vmm);
    assert_eq!(FwStatus::from_u32(e.fw.to_u32()), e.fw);
    let _ = e.fw.name();
    assert_eq!(GhcbErr::from_u64(v).to_u64(), v, "GhcbErr round trip");
    let _ = format!(
        "{:?}",
        HvResponse::from_exit_info(v, v.rotate_left(u32::from(sel)))
    );
    let t = MsgType::from_u8(v as u8);
    assert_eq!(t.to_u8(), v as u8);
    if let Some(r) = t.response() {
        assert_eq!(r.to_u8(), t.to_u8() + 1);
    }
    assert_eq!(VmpckId::new(v as u8).is_ok(), (v as u8) <= 3);

    let _ = msr::info(v);
    match SevInfo::decode(v) {
        Ok(i) => {
            assert!(i.min_protocol <= i.max_protocol);
            assert!(i.supports(i.min_protocol) && i.supports(i.max_protocol));
            assert_eq!(SevInfo::decode(i.encode()), Ok(i));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Ok(gpa) = msr::decode_register_gpa_request(v) {
        assert_eq!(msr::register_gpa_request(gpa), Ok(v));
    }
    let _ = msr::check_register_gpa_response(v, v & !0xFFF);
    if let Ok(t) = Termination::decode(v) {
        assert_eq!(
            Termination::decode(t.encode().expect("decoded set fits")),
            Ok(t)
        );
    }
    match MsrRequest::decode(v) {
        MsrRequest::RegisterGpa(gpa) => assert_eq!(gpa & msr::INFO_MASK, 0),
        other => {
            let _ = format!("{other:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// report_rsp
// ---------------------------------------------------------------------------------------------

use snp_ghcb::message::MsgHeader as Header;
use snp_ghcb::payload::{REPORT_RSP_HEADER_SIZE, REPORT_RSP_SIZE, REPORT_SIZE};

/// MSG_REPORT_RSP as the guest decodes it, on its own: the rest of the input is a decrypted
/// payload (what the firmware signed and sealed), and also — sealed under the harness key with
/// the header the guest expects (first byte: sequence number and key id) — a whole response
/// message that must open to exactly that payload before it is decoded. The header of the
/// sealed message is then altered at the offset the first byte names (sequence number, type,
/// version, size, key id, reserved bytes): the guest must refuse every such message and leave
/// no plaintext behind.
pub fn report_rsp(data: &[u8]) {
    let Some((&sel, payload)) = data.split_first() else {
        return;
    };
    let payload = &payload[..payload.len().min(MAX_PAYLOAD)];
    report_rsp_payload(payload);

    let vmpck_id = VmpckId::new(sel & 0x03).expect("ids 0..=3 exist");
    let meta = MsgMeta {
        seqno: u64::from(sel >> 2).wrapping_mul(2).wrapping_add(2),
        msg_type: MsgType::ReportRsp,
        msg_version: 1,
        vmpck_id,
    };
    let key = Vmpck::new(KEY);
    let mut msg = vec![0u8; MSG_HDR_SIZE + payload.len()];
    seal(&mut msg, &meta, &key, payload).expect("a payload within the page seals");
    let mut out = vec![0u8; MAX_PAYLOAD];
    let n = open(&msg, &meta, &key, &mut out).expect("what is sealed opens");
    assert_eq!(
        &out[..n],
        payload,
        "the opened payload is not what was sealed"
    );
    report_rsp_payload(&out[..n]);

    // A header byte the guest checks, changed after sealing: refused, nothing left in `out`.
    // (0x10..0x20 is the unused half of the AUTHTAG field: not covered, skipped.)
    let at = AUTHTAG_FIELD_LEN + usize::from(sel) % (MSG_HDR_SIZE - AUTHTAG_FIELD_LEN);
    msg[at] ^= 0x01 | (sel & 0xF0);
    let mut out = vec![0xAAu8; MAX_PAYLOAD];
    let r = open(&msg, &meta, &key, &mut out);
    assert!(
        r.is_err(),
        "response with header byte {at:#x} changed opened"
    );
    assert!(
        out.iter().all(|&b| b == 0),
        "plaintext left after a refusal"
    );
    if let Ok(h) = Header::decode(&msg) {
        let _ = format!("{h:?}");
    }
}

fn report_rsp_payload(p: &[u8]) {
    match ReportRsp::decode(p) {
        Ok(r) => {
            assert!(
                p.len() >= REPORT_RSP_HEADER_SIZE,
                "decoded without a header"
            );
            assert_eq!(r.status.to_u32().to_le_bytes(), p[0..4], "STATUS");
            assert_eq!(r.report_size.to_le_bytes(), p[4..8], "REPORT_SIZE");
            if r.status == FwStatus::Success {
                assert_eq!(
                    r.report_size as usize, REPORT_SIZE,
                    "success with a short report"
                );
                assert!(
                    p.len() >= REPORT_RSP_SIZE,
                    "success without the whole report"
                );
                assert_eq!(&r.report[..], &p[REPORT_RSP_HEADER_SIZE..REPORT_RSP_SIZE]);
            } else {
                assert!(
                    r.report.iter().all(|&b| b == 0),
                    "a refusal carries a report"
                );
            }
        }
        Err(e) => {
            let _ = e.to_string();
            let status = p
                .get(0..4)
                .map(|s| u32::from_le_bytes(s.try_into().expect("4")));
            let size = p
                .get(4..8)
                .map(|s| u32::from_le_bytes(s.try_into().expect("4")));
            // Only a short header, or a success without a whole 0x4A0-byte report, is refused.
            assert!(
                p.len() < REPORT_RSP_HEADER_SIZE
                    || (status == Some(0)
                        && (size != Some(REPORT_SIZE as u32) || p.len() < REPORT_RSP_SIZE)),
                "refused a well-formed MSG_REPORT_RSP: {e}"
            );
        }
    }
}
