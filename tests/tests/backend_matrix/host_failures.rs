//! More host failures, each decoded into its own error on every path.

use super::*;

/// Whether the first error is the expected one for this path.
type FirstError = fn(Via, &BackendError) -> bool;

/// A one-off host failure that costs the key: the first request fails with the path's error
/// (`fw` firmware requests made), every later one is refused as `VmpckDisabled` without
/// reaching the host.
fn fatal_then_disabled(via: Via, faults: Faults, fw: u64, first: FirstError) {
    let Some(mut rig) = Rig::new(via, faults) else {
        return;
    };
    let (r, d) = rig.request();
    let e = r.expect_err("the host failure must surface");
    assert!(first(via, &e), "{via:?}: unexpected {e:?}");
    assert_eq!(d.fw_requests, fw, "{via:?}: firmware requests");
    assert_eq!(
        rig.platform.guest_vmpck(0),
        Some([0; 32]),
        "{via:?}: the key is zeroed in the secrets page"
    );
    rig.platform.set_faults(Faults::default());
    let (r, d) = rig.request();
    let e = r.expect_err("the key is wiped");
    assert!(
        matches!(e, BackendError::VmpckDisabled { .. }),
        "{via:?}: {e:?}"
    );
    assert_eq!(d.fw_requests + d.ext_requests + d.plain_requests, 0);
}

fn ghcb_rejection(via: Via) {
    let faults = Faults {
        ghcb_reject: Repeat::Times(1),
        ..Faults::default()
    };
    fatal_then_disabled(via, faults, 0, |via, e| match via.path {
        Path::Ghcb => matches!(
            e,
            BackendError::HostError {
                backend: BackendKind::Sim,
                ..
            }
        ),
        // A positive ioctl return without errno, exitinfo2 = SEV_RET_NO_FW_CALL.
        Path::SevGuest => matches!(e, BackendError::GhcbRejected { ret: 2, status }
            if status.errno.is_none() && status.exitinfo2 == Some(u64::MAX)),
        // configfs passes the positive value as "success": an empty outblob.
        Path::Tsm => matches!(e, BackendError::TsmEmptyReport { .. }),
    });
}

fn tampered_response(via: Via) {
    let faults = Faults {
        tamper_tag: Repeat::Times(1),
        ..Faults::default()
    };
    fatal_then_disabled(via, faults, 1, |via, e| match via.path {
        Path::Ghcb => matches!(
            e,
            BackendError::ResponseRejected {
                backend: BackendKind::Sim,
                ..
            }
        ),
        Path::SevGuest => matches!(
            e,
            BackendError::ResponseRejected {
                backend: BackendKind::SevGuest,
                ..
            }
        ),
        Path::Tsm => matches!(e, BackendError::ProviderFailed { status }
            if status.errno == Some(nix::errno::Errno::EBADMSG)),
    });
}

fn generic_vmm_error(via: Via) {
    let faults = Faults {
        generic_vmm_error: Repeat::Times(1),
        ..Faults::default()
    };
    fatal_then_disabled(via, faults, 0, |via, e| match via.path {
        Path::Ghcb => matches!(
            e,
            BackendError::HostError {
                backend: BackendKind::Sim,
                ..
            }
        ),
        Path::SevGuest => {
            matches!(e, BackendError::HostError { backend: BackendKind::SevGuest, status: Some(st), .. }
            if st.errno == Some(nix::errno::Errno::EIO) && st.exitinfo2 == Some(generic(via.gen)))
        }
        Path::Tsm => matches!(e, BackendError::ProviderFailed { status }
            if status.errno == Some(nix::errno::Errno::EIO)),
    });
}

/// A host asking for an absurd number of pages: refused with a typed error, the sequence number
/// burnt properly (one plain re-send reaches the firmware), the key kept.
fn absurd_page_count(via: Via) {
    let pages: u64 = 0xFFFF_FFFF;
    let Some(mut rig) = Rig::new(
        via,
        Faults {
            absurd_pages: Some(pages),
            ..Faults::default()
        },
    ) else {
        return;
    };
    let (r, d) = rig.request();
    let e = r.expect_err("absurd page count");
    assert_eq!(
        (d.invalid_len_answers, d.plain_requests, d.fw_requests),
        (1, 1, 1)
    );
    match via.path {
        Path::Ghcb => assert!(
            matches!(&e, BackendError::CertsTooLarge { backend: BackendKind::Sim, needed, max, status: None }
                if *needed == pages * 4096 && *max == 64 * 4096),
            "{e:?}"
        ),
        // The kernel writes `npages << 12` into the u32 certs_len: the value wraps, and is
        // still more than 16 KiB.
        Path::SevGuest => assert!(
            matches!(&e, BackendError::CertsTooLarge { backend: BackendKind::SevGuest, needed, .. }
                if *needed == u64::from((pages << 12) as u32)),
            "{e:?}"
        ),
        Path::Tsm => assert!(matches!(&e, BackendError::ProviderFailed { .. }), "{e:?}"),
    }
    assert!(!e.is_key_disabled());
    rig.platform.set_faults(Faults::default());
    rig.steady_state();
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
    ghcb_rejection,
    tampered_response,
    generic_vmm_error,
    absurd_page_count
);
