//! Scenarios where the response is not the firmware's: re-sealed with a wrong header, edited,
//! replayed, zeroed, or changed between two reads.

use super::*;

/// A response that authenticates but whose header is not the expected one: refused, key wiped.
fn resealed(f: fn(&mut MsgMeta)) {
    let mut rig = Rig::new(Faults::default());
    let key = rig.key();
    rig.after(move |x| reseal_response(x, &key, f));
    let (e, c) = expect_err(rig.call());
    assert!(response_rejected(&e), "{e:?}");
    assert!(e.is_key_disabled());
    assert_eq!(c.counters.fw_requests, 1);
    assert_key_disabled_now(&mut rig);
}

#[test]
fn response_with_wrong_sequence_number() {
    resealed(|m| m.seqno += 2);
}

#[test]
fn response_with_wrong_message_type() {
    resealed(|m| m.msg_type = MsgType::KeyRsp);
}

#[test]
fn response_with_wrong_message_version() {
    resealed(|m| m.msg_version = 2);
}

#[test]
fn response_for_another_vmpck() {
    resealed(|m| m.vmpck_id = VmpckId::new(1).unwrap());
}

/// The host rewrites bytes of the response page after the firmware wrote it.
fn response_edited(edit: fn(&mut Vec<u8>)) {
    let mut rig = Rig::new(Faults::default());
    rig.after(move |x| {
        let mut page = x.read(x.resp_gpa(), PAGE_SIZE);
        edit(&mut page);
        x.write(x.resp_gpa(), &page);
    });
    let (e, c) = expect_err(rig.call());
    assert!(response_rejected(&e), "{e:?}");
    assert_eq!(c.counters.fw_requests, 1);
    assert_key_disabled_now(&mut rig);
}

#[test]
fn response_length_past_the_page() {
    // MSG_SIZE (0x3E..0x40) claims more than a page can hold.
    response_edited(|p| p[0x3E..0x40].copy_from_slice(&0xFFFFu16.to_le_bytes()));
}

#[test]
fn response_with_bad_tag() {
    response_edited(|p| p[0x05] ^= 0x80);
}

#[test]
fn response_page_zeroed() {
    response_edited(|p| p.fill(0));
}

#[test]
fn response_replayed_from_earlier_request() {
    let mut rig = Rig::new(Faults::default());
    rig.steady_state();
    rig.platform.set_faults(Faults {
        replay_response: Repeat::Times(1),
        ..Faults::default()
    });
    let (e, c) = expect_err(rig.call());
    assert!(response_rejected(&e), "{e:?}");
    assert_eq!(c.counters.fw_requests, 1);
    assert_key_disabled_now(&mut rig);
}

#[test]
fn response_changed_between_two_reads() {
    // After the guest's first read of the response page, the host replaces it with garbage. A
    // guest that read the page twice (check, then use) would see different bytes the second
    // time; ours reads it once into private memory.
    let mut rig = Rig::new(Faults::default());
    let resp: Arc<Mutex<Option<Gpa>>> = Arc::default();
    let r = resp.clone();
    rig.after(move |x| *r.lock().unwrap() = Some(x.resp_gpa()));
    let r = resp.clone();
    rig.on_read(move |p, gpa, _| {
        if Some(gpa) == *r.lock().unwrap() {
            p.write_shared(gpa, &[0x5A; PAGE_SIZE]).unwrap();
        }
    });
    let c = rig.call();
    let ext = c.result.expect("the first read is what counts");
    rig.verify(&ext)
        .expect("evidence from the first read verifies");
    let gpa = resp.lock().unwrap().expect("response GPA");
    assert_eq!(
        rig.log.lock().unwrap().reads.get(&gpa),
        Some(&1),
        "read once"
    );
    rig.behave();
    rig.steady_state();
}

#[test]
fn cert_pages_changed_after_the_guest_read_them() {
    let mut rig = Rig::new(Faults::default());
    let certs: Arc<Mutex<Option<Gpa>>> = Arc::default();
    let cg = certs.clone();
    rig.after(move |x| *cg.lock().unwrap() = Some(x.cert_gpa()));
    let cg = certs.clone();
    rig.on_read(move |p, gpa, len| {
        if Some(gpa) == *cg.lock().unwrap() {
            p.write_shared(gpa, &vec![0xEE; len]).unwrap();
        }
    });
    let ext = rig.call().result.expect("success");
    assert_eq!(ext.cert_table, rig.platform.expected_blob().unwrap());
    rig.verify(&ext).expect("verifies");
}
