//! Scenarios where the exit itself goes wrong: a tampered request, an answer not marked
//! valid, lost exits, GHCB and VMM errors, firmware refusals, truncated responses.

use super::*;

#[test]
fn host_tampers_with_the_request() {
    let mut rig = Rig::new(Faults::default());
    rig.before(|x| {
        let mut req = x.read(x.req_gpa(), PAGE_SIZE);
        req[0x60] ^= 0x01; // first ciphertext byte
        x.write(x.req_gpa(), &req);
        Before::Forward
    });
    let (e, c) = expect_err(rig.call());
    assert_eq!(
        c.counters.auth_failures, 1,
        "the firmware caught the tampering"
    );
    assert!(
        matches!(
            &e,
            BackendError::Firmware {
                backend: BackendKind::Sim,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_key_disabled());
    // The wiretap saw the bytes before the host changed them: no reuse by the guest.
    assert_key_disabled_now(&mut rig);
}

#[test]
fn exit_info_not_marked_valid() {
    let mut rig = Rig::new(Faults::default());
    rig.after(|x| x.ghcb.mark_invalid(Field::SwExitInfo2));
    let (e, c) = expect_err(rig.call());
    assert!(
        matches!(&e, BackendError::HostError { detail, .. } if detail.contains("outcome unknown")),
        "{e:?}"
    );
    assert_eq!(c.counters.fw_requests, 1);
    assert_key_disabled_now(&mut rig);
}

#[test]
fn exit_lost_after_forwarding() {
    // The host forwarded the request (the firmware consumed the sequence number) and then the
    // exit never came back.
    let mut rig = Rig::new(Faults::default());
    let platform = rig.platform.clone();
    rig.before(move |x| {
        let mut ghcb = x.ghcb.clone();
        platform.vmgexit(&mut ghcb).expect("forwarded");
        Before::Lose(PlatformError::Terminated)
    });
    let (e, c) = expect_err(rig.call());
    assert!(
        matches!(&e, BackendError::HostError { detail, .. } if detail.contains("lost the exit")),
        "{e:?}"
    );
    assert_eq!(c.counters.fw_requests, 1);
    assert_key_disabled_now(&mut rig);
}

#[test]
fn exit_failed_before_the_host_saw_it() {
    let mut rig = Rig::new(Faults::default());
    rig.before(|x| {
        if x.index == 0 {
            Before::Lose(PlatformError::ExitNotDelivered("VM is being torn down"))
        } else {
            Before::Forward
        }
    });
    let (e, c) = expect_err(rig.call());
    // The sealed message sat in host-shared memory: whether or not the exit was delivered, the
    // host may hold it, so the key is retired rather than the message kept (issue 16).
    assert!(
        matches!(&e, BackendError::HostError { detail, .. } if detail.contains("never reached the host")),
        "{e:?}"
    );
    assert_eq!(c.counters.fw_requests, 0);
    assert_key_disabled_now(&mut rig);
}

#[test]
fn ghcb_rejected() {
    let mut rig = Rig::new(Faults {
        ghcb_reject: Repeat::Times(1),
        ..Faults::default()
    });
    let (e, c) = expect_err(rig.call());
    assert!(
        matches!(
            &e,
            BackendError::HostError {
                backend: BackendKind::Sim,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(c.counters.fw_requests, 0);
    assert_key_disabled_now(&mut rig);
}

#[test]
fn generic_vmm_error() {
    let mut rig = Rig::new(Faults {
        generic_vmm_error: Repeat::Times(1),
        ..Faults::default()
    });
    let (e, _) = expect_err(rig.call());
    assert!(matches!(&e, BackendError::HostError { .. }), "{e:?}");
    assert_key_disabled_now(&mut rig);
}

#[test]
fn firmware_refuses() {
    let status = FwStatus::HwErrorPlatform;
    let mut rig = Rig::new(Faults {
        fw_error: Some((status.to_u32(), Repeat::Times(1))),
        ..Faults::default()
    });
    let (e, c) = expect_err(rig.call());
    assert!(
        matches!(&e, BackendError::Firmware { backend: BackendKind::Sim, fw, status: None } if *fw == status),
        "{e:?}"
    );
    assert_eq!(c.counters.fw_requests, 1);
    assert_key_disabled_now(&mut rig);
}

#[test]
fn truncated_firmware_response() {
    let mut rig = Rig::new(Faults {
        truncate_response: Repeat::Times(1),
        ..Faults::default()
    });
    let (e, c) = expect_err(rig.call());
    // Authenticated (the firmware sealed it) but shorter than MSG_REPORT_RSP: 0x20 + 0x4A0.
    assert!(
        matches!(&e, BackendError::MalformedResponse(m) if m.contains("need 1216 bytes")),
        "{e:?}"
    );
    assert_eq!(c.counters.fw_requests, 1);
}

#[test]
fn host_rewrites_the_ghcb_exit_code() {
    // The host answers the extended request as if it were a plain one (RBX not marked valid)
    // and wipes the certificate pages: the guest gets a verifiable report and an empty table,
    // never a crash or a reuse.
    let mut rig = Rig::new(Faults::default());
    rig.after(|x| {
        if x.is_extended() {
            x.ghcb.set_rbx(0);
            x.ghcb.mark_invalid(Field::Rbx);
            let pages = x.read(x.cert_gpa(), PAGE_SIZE).len();
            x.write(x.cert_gpa(), &vec![0u8; pages]);
        }
    });
    let c = rig.call();
    let ext = c.result.expect("a report without certificates");
    assert!(ext.cert_table.is_empty());
    rig.verify_report_only(&ext);
    rig.assert_no_reuse();
}
