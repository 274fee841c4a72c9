//! Criterion benchmark (issue 8): sealing a guest request and opening a response with
//! AES-256-GCM, at the sizes the guest actually sends (a 96-byte MSG_REPORT_REQ) and receives
//! (a 0x4C0-byte MSG_REPORT_RSP: 32-byte header + 1184-byte report).
//!
//! `cargo bench -p snp-ghcb --bench message`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use snp_ghcb::message::{open, seal, MsgMeta, MsgType, Vmpck, VmpckId, MSG_HDR_SIZE};

fn message(c: &mut Criterion) {
    let vmpck = Vmpck::new([0x42; 32]);
    for (name, msg_type, len) in [
        ("report_req_96B", MsgType::ReportReq, 96usize),
        ("report_rsp_1216B", MsgType::ReportRsp, 0x20 + 0x4A0),
    ] {
        let meta = MsgMeta {
            seqno: 7,
            msg_type,
            msg_version: 1,
            vmpck_id: VmpckId::ZERO,
        };
        let payload = vec![0xA5u8; len];
        let mut page = vec![0u8; 4096];
        c.bench_function(&format!("seal/{name}"), |b| {
            b.iter(|| seal(&mut page, &meta, &vmpck, black_box(&payload)).expect("seal"))
        });
        let n = seal(&mut page, &meta, &vmpck, &payload).expect("seal");
        assert_eq!(n, MSG_HDR_SIZE + len);
        let mut out = vec![0u8; 4096];
        c.bench_function(&format!("open/{name}"), |b| {
            b.iter(|| open(black_box(&page), &meta, &vmpck, &mut out).expect("open"))
        });
    }
}

criterion_group!(benches, message);
criterion_main!(benches);
