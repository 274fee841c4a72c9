//! Lying hosts (issue 16): the request is forwarded to the firmware, then the guest is told
//! otherwise; afterwards the backend is dropped and re-created on the same guest.

use super::*;

/// The host forwards the request (the firmware consumes it) and then answers the guest with
/// `faults`' lie. Whatever each path makes of that, no (VMPCK, seqno) pair carries two messages,
/// no lie is taken for a report, a key that had to go is zeroed in the secrets page, and a
/// backend re-created on the same guest either refuses (key gone) or continues in step.
fn lying_host(via: Via, faults: Faults) {
    let Some(mut rig) = Rig::new(via, faults) else {
        return;
    };
    rig.lying = true;
    let (r, d) = rig.request();
    assert!(
        d.fw_requests >= 1,
        "{via:?}: the host forwarded the request"
    );
    let e = r.expect_err("a lying host's answer is never taken for a report");
    let wiped = rig.platform.guest_vmpck(0) == Some([0; 32]);
    if via.path != Path::Tsm {
        // (configfs reports most failures as a bare errno, without saying what became of the key)
        assert_eq!(e.is_key_disabled(), wiped, "{via:?}: {e:?}");
    }
    if via.path == Path::Ghcb {
        assert!(
            wiped,
            "{via:?}: the GHCB driver cannot account for the message: {e:?}"
        );
    }
    rig.platform.set_faults(Faults::default());
    match rig.recreate() {
        Err(e) => {
            assert!(
                wiped,
                "{via:?}: re-creation failed with the key intact: {e:?}"
            );
            if via.path == Path::Ghcb {
                assert!(matches!(e, BackendError::VmpckDisabled { .. }), "{e:?}");
            }
            let (r, d) = rig.request();
            assert!(r.is_err());
            assert_eq!(d.fw_requests + d.ext_requests + d.plain_requests, 0);
        }
        Ok(()) if wiped => {
            // Only the tsm path re-opens the same kernel driver, whose key is disabled.
            assert_eq!(via.path, Path::Tsm);
            let (r, d) = rig.request();
            assert!(r.is_err());
            assert_eq!(d.fw_requests, 0);
        }
        Ok(()) => rig.steady_state(),
    }
    rig.check_invariants();
}

fn forwarded_then_busy(via: Via) {
    lying_host(
        via,
        Faults {
            forwarded_then_busy: Repeat::Times(1),
            ..Faults::default()
        },
    );
}

fn forwarded_then_invalid_len(via: Via) {
    lying_host(
        via,
        Faults {
            forwarded_then_invalid_len: Repeat::Times(1),
            ..Faults::default()
        },
    );
}

fn forwarded_then_error(via: Via) {
    lying_host(
        via,
        Faults {
            forwarded_then_error: Some((generic(via.gen), Repeat::Times(1))),
            ..Faults::default()
        },
    );
}

macro_rules! each_path {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                use super::{$case as case};
                use super::super::{Generation::*, Path::*, Via};
                #[test] fn ghcb_merged() { case(Via { path: Ghcb, gen: Merged }) }
                #[test] fn sev_guest_merged() { case(Via { path: SevGuest, gen: Merged }) }
                #[test] fn tsm_merged() { case(Via { path: Tsm, gen: Merged }) }
                #[test] fn ghcb_seed() { case(Via { path: Ghcb, gen: Seed }) }
                #[test] fn sev_guest_seed() { case(Via { path: SevGuest, gen: Seed }) }
                #[test] fn tsm_seed() { case(Via { path: Tsm, gen: Seed }) }
            }
        )*
    };
}
each_path!(
    forwarded_then_busy,
    forwarded_then_invalid_len,
    forwarded_then_error
);
