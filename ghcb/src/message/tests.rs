use super::*;
use proptest::prelude::*;

const KEY: [u8; 32] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
];

fn meta(seqno: u64) -> MsgMeta {
    MsgMeta {
        seqno,
        msg_type: MsgType::ReportReq,
        msg_version: 1,
        vmpck_id: VmpckId::ZERO,
    }
}

fn sealed(payload: &[u8]) -> [u8; PAGE_SIZE] {
    let mut page = [0xEEu8; PAGE_SIZE];
    let n = seal(&mut page, &meta(1), &Vmpck::new(KEY), payload).unwrap();
    assert_eq!(n, MSG_HDR_SIZE + payload.len());
    page
}

#[test]
fn round_trip() {
    let payload: [u8; 96] = core::array::from_fn(|i| i as u8);
    let page = sealed(&payload);
    assert!(page[MSG_HDR_SIZE + 96..].iter().all(|&b| b == 0));
    assert_eq!(&page[16..32], &[0; 16], "tag tail stays zero");
    let mut out = [0u8; MAX_PAYLOAD];
    let n = open(&page, &meta(1), &Vmpck::new(KEY), &mut out).unwrap();
    assert_eq!(&out[..n], &payload[..]);
    let h = MsgHeader::decode(&page).unwrap();
    assert_eq!(h.msg_size, 96);
    assert_eq!(h.msg_type, MsgType::ReportReq);
    let mut again = [0u8; MSG_HDR_SIZE];
    h.encode(&mut again).unwrap();
    assert_eq!(&again[..], &page[..MSG_HDR_SIZE]);
}

#[test]
fn empty_payload_and_max_payload() {
    let mut out = [0u8; MAX_PAYLOAD];
    let page = sealed(&[]);
    assert_eq!(open(&page, &meta(1), &Vmpck::new(KEY), &mut out), Ok(0));
    let big = [0x5Au8; MAX_PAYLOAD];
    let page = sealed(&big);
    assert_eq!(
        open(&page, &meta(1), &Vmpck::new(KEY), &mut out),
        Ok(MAX_PAYLOAD)
    );
    let mut p = [0u8; PAGE_SIZE + 1];
    assert_eq!(
        seal(&mut p, &meta(1), &Vmpck::new(KEY), &[0u8; MAX_PAYLOAD + 1]),
        Err(MessageError::PayloadTooLarge {
            len: MAX_PAYLOAD + 1,
            max: MAX_PAYLOAD
        })
    );
    let mut small = [0u8; 0x61];
    assert!(matches!(
        seal(&mut small, &meta(1), &Vmpck::new(KEY), &[0u8; 2]),
        Err(MessageError::BufferTooSmall { .. })
    ));
}

fn open_err(page: &[u8], m: &MsgMeta, key: [u8; 32]) -> MessageError {
    let mut out = [0u8; MAX_PAYLOAD];
    let e = open(page, m, &Vmpck::new(key), &mut out).unwrap_err();
    assert!(out.iter().all(|&b| b == 0), "plaintext leaked on error");
    e
}

#[test]
fn tamper_ciphertext_tag_key_are_auth_failures() {
    let payload = [7u8; 96];
    let page = sealed(&payload);
    let mut ct = page;
    ct[MSG_HDR_SIZE + 10] ^= 1;
    assert_eq!(
        open_err(&ct, &meta(1), KEY),
        MessageError::AuthenticationFailed
    );
    let mut tag = page;
    tag[3] ^= 0x80;
    assert_eq!(
        open_err(&tag, &meta(1), KEY),
        MessageError::AuthenticationFailed
    );
    let mut key = KEY;
    key[31] ^= 1;
    assert_eq!(
        open_err(&page, &meta(1), key),
        MessageError::AuthenticationFailed
    );
}

#[test]
fn tamper_seqno() {
    let page = sealed(&[1u8; 96]);
    let mut t = page;
    t[0x20] ^= 1; // header says seqno 0 now
    assert_eq!(
        open_err(&t, &meta(1), KEY),
        MessageError::SeqnoMismatch {
            expected: 1,
            got: 0
        }
    );
    // Expecting another seqno than the one sealed (e.g. a replay of an old response).
    assert_eq!(
        open_err(&page, &meta(3), KEY),
        MessageError::SeqnoMismatch {
            expected: 3,
            got: 1
        }
    );
}

/// Every single AAD byte change is rejected, and by the check named for that field.
#[test]
fn tamper_each_aad_byte() {
    let page = sealed(&[9u8; 96]);
    for off in AAD_RANGE {
        let mut t = page;
        t[off] ^= 0x01;
        let e = open_err(&t, &meta(1), KEY);
        let expected_kind = match off {
            0x30 => matches!(e, MessageError::BadAlgorithm(_)),
            0x31 => matches!(e, MessageError::BadHeaderVersion(_)),
            0x32 | 0x33 => matches!(e, MessageError::BadHeaderSize(_)),
            0x34 => matches!(e, MessageError::TypeMismatch { .. }),
            0x35 => matches!(e, MessageError::VersionMismatch { .. }),
            // 96 ^ 1 = 97 is in bounds: only the tag can catch it.
            0x36 => matches!(e, MessageError::AuthenticationFailed),
            // 96 + 256 is in bounds of the page, too.
            0x37 => matches!(e, MessageError::AuthenticationFailed),
            0x3C => matches!(e, MessageError::VmpckIdMismatch { .. }),
            _ => {
                e == MessageError::ReservedNonZero {
                    offset: off,
                    value: 1,
                }
            }
        };
        assert!(expected_kind, "offset {off:#x}: {e:?}");
    }
    // MSG_SIZE beyond the page.
    let mut t = page;
    t[0x36..0x38].copy_from_slice(&0x1000u16.to_le_bytes());
    assert_eq!(
        open_err(&t, &meta(1), KEY),
        MessageError::SizeOutOfBounds {
            msg_size: 0x1000,
            available: MAX_PAYLOAD
        }
    );
    // Reserved bytes outside the AAD (0x28..0x30) are checked too.
    let mut t = page;
    t[0x2A] = 4;
    assert_eq!(
        open_err(&t, &meta(1), KEY),
        MessageError::ReservedNonZero {
            offset: 0x2A,
            value: 4
        }
    );
}

#[test]
fn truncated_inputs() {
    let page = sealed(&[9u8; 96]);
    assert_eq!(
        open_err(&page[..0x5F], &meta(1), KEY),
        MessageError::TruncatedHeader { len: 0x5F }
    );
    assert_eq!(
        open_err(&page[..0x60 + 95], &meta(1), KEY),
        MessageError::SizeOutOfBounds {
            msg_size: 96,
            available: 95
        }
    );
    let mut small = [0u8; 10];
    assert_eq!(
        open(&page, &meta(1), &Vmpck::new(KEY), &mut small),
        Err(MessageError::BufferTooSmall {
            needed: 96,
            got: 10
        })
    );
}

#[test]
fn vmpck_hygiene() {
    assert!(Vmpck::new([0; 32]).is_zero());
    assert!(!Vmpck::new(KEY).is_zero());
    let mut k = Vmpck::new(KEY);
    k.zeroize();
    assert!(k.is_zero());
    assert_eq!(VmpckId::new(4), Err(MessageError::InvalidVmpckId(4)));
    assert_eq!(VmpckId::new(3).map(VmpckId::get), Ok(3));
    extern crate std;
    assert_eq!(std::format!("{:?}", Vmpck::new(KEY)), "Vmpck(<redacted>)");
}

#[test]
fn msg_types() {
    for v in 0..=255u8 {
        assert_eq!(MsgType::from_u8(v).to_u8(), v);
    }
    assert_eq!(MsgType::ReportReq.to_u8(), 5);
    assert_eq!(MsgType::KeyReq.response(), Some(MsgType::KeyRsp));
    for t in [1u8, 3, 5, 7, 9, 11, 13, 17] {
        let r = MsgType::from_u8(t).response().unwrap();
        assert_eq!(r.to_u8(), t + 1);
    }
    assert_eq!(MsgType::ReportRsp.response(), None);
}

/// Known-answer test: `kat/report_req.kat` was produced by `kat/gen_kat.py` with Python's
/// `cryptography` (OpenSSL AES-GCM), independently of this crate.
#[test]
fn kat() {
    extern crate std;
    use std::string::String;
    use std::vec::Vec;
    let text = include_str!("../../kat/report_req.kat");
    let mut seen = 0;
    for block in text.split("\n\n") {
        let mut f = std::collections::BTreeMap::<&str, &str>::new();
        for line in block
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (k, v) = line.split_once('=').expect("key=value");
            f.insert(k, v);
        }
        if f.is_empty() {
            continue;
        }
        let name: String = f["name"].into();
        let key: [u8; 32] = hex::decode(f["key"]).unwrap().try_into().unwrap();
        let m = MsgMeta {
            seqno: f["seqno"].parse().unwrap(),
            msg_type: MsgType::from_u8(f["msg_type"].parse().unwrap()),
            msg_version: f["msg_version"].parse().unwrap(),
            vmpck_id: VmpckId::new(f["vmpck"].parse().unwrap()).unwrap(),
        };
        let payload: Vec<u8> = hex::decode(f["payload"]).unwrap();
        let expected: Vec<u8> = hex::decode(f["message"]).unwrap();
        if name == "report_req_seq1" {
            // The payload is a MSG_REPORT_REQ built independently by the script.
            let req = crate::payload::ReportReq {
                report_data: core::array::from_fn(|i| i as u8),
                vmpl: 0,
                key_sel: crate::payload::KEY_SEL_VCEK,
            };
            assert_eq!(&req.to_bytes().unwrap()[..], &payload[..]);
        }
        let mut page = [0u8; PAGE_SIZE];
        let n = seal(&mut page, &m, &Vmpck::new(key), &payload).unwrap();
        assert_eq!(
            hex::encode(&page[..n]),
            hex::encode(&expected),
            "{name}: seal differs"
        );
        let mut out = [0u8; MAX_PAYLOAD];
        let k = open(&expected, &m, &Vmpck::new(key), &mut out).unwrap();
        assert_eq!(&out[..k], &payload[..], "{name}: open differs");
        seen += 1;
    }
    assert_eq!(seen, 3, "expected three vectors in the KAT file");
}

proptest! {
    #[test]
    fn header_decode_and_open_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = MsgHeader::decode(&bytes);
        let mut out = [0u8; 700];
        let _ = open(&bytes, &meta(1), &Vmpck::new(KEY), &mut out);
    }

    #[test]
    fn open_of_valid_header_with_random_body_never_panics(
        mut hdr in proptest::collection::vec(any::<u8>(), MSG_HDR_SIZE..=MSG_HDR_SIZE),
        body in proptest::collection::vec(any::<u8>(), 0..300),
        size in any::<u16>(),
    ) {
        MsgHeader::new(&meta(1), size).encode(&mut hdr[..]).unwrap();
        hdr.extend_from_slice(&body);
        let mut out = [0u8; MAX_PAYLOAD];
        let r = open(&hdr, &meta(1), &Vmpck::new(KEY), &mut out);
        prop_assert!(r.is_err());
    }

    #[test]
    fn seal_open_round_trips(seqno in any::<u64>(), payload in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut page = [0u8; PAGE_SIZE];
        let m = meta(seqno);
        seal(&mut page, &m, &Vmpck::new(KEY), &payload).unwrap();
        let mut out = [0u8; MAX_PAYLOAD];
        let n = open(&page, &m, &Vmpck::new(KEY), &mut out).unwrap();
        prop_assert_eq!(&out[..n], &payload[..]);
    }
}
