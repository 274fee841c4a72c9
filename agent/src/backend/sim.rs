//! The simulator backends (feature `sim`).
//!
//! [`SimBackend`] is `--backend sim`: the in-process simulated platform reached through the
//! `snp-ghcb` guest driver — the same no_std driver and retry policy firmware code would use, over
//! the simulator's [`GhcbFace`], with the simulated guest's secrets page as the home of its VMPCK
//! and message count ([`SimSecretsStore`]). It is only ever chosen explicitly.
//!
//! Because the count lives in the secrets page, any number of `SimBackend`s (and the simulated
//! `/dev/sev-guest`) on one [`SimPlatform`] continue from one another's counts, and a key one of
//! them wiped is gone for all of them — as for drivers sharing a real guest.
//!
//! [`SimDeviceIoctl`] is the [`GuestIoctl`] that hands the `/dev/sev-guest` backend's buffers to
//! the simulator's model of the Linux driver, so the real ioctl marshalling is exercised with
//! only the syscall swapped.

use std::sync::Arc;
use std::time::Duration;

use snp_certs::product::Product;
use snp_ghcb::driver::{DriverError, GuestDriver, Vmgexit, WipeReason};
use snp_ghcb::message::VmpckId;
use snp_ghcb::payload::{ReportReq, KEY_SEL_DEFAULT};
use snp_ghcb::retry::{Clock, RetryError, RetryPolicy};
use snp_sim::clock::ClockRef;
use snp_sim::face::ghcb::GhcbFace;
use snp_sim::face::sev_guest::SevGuestDevice;
use snp_sim::firmware::GuestConfig;
use snp_sim::kvm::Generation;
use snp_sim::platform::SimPlatform;
use snp_sim::secrets::SimSecretsStore;
use tracing::info;

use super::error::BackendError;
use super::sev_guest::{ExtReportCall, GuestIoctl, IoctlReturn, SevGuestBackend};
use super::{cert_table_extent, Backend, BackendKind, ExtendedReport, ReportRequest};

/// How `--backend sim` builds its platform.
#[derive(Debug, Clone)]
pub struct SimSettings {
    /// Product line of the simulated AMD-SP (default Genoa).
    pub product: Product,
    /// KVM host interface of the simulated VM (default: what merged upstream).
    pub generation: Generation,
    /// What the report says about the guest (policy, measurement, host data, …).
    pub guest: GuestConfig,
    /// The VMPCK the guest driver uses (default 0, as for a guest at VMPL 0).
    pub vmpck_id: u8,
    /// Use this platform instead of building one (e.g. to share it with a verifier or a test).
    pub platform: Option<SimPlatform>,
}

impl Default for SimSettings {
    fn default() -> Self {
        SimSettings {
            product: Product::Genoa,
            generation: Generation::Merged,
            guest: GuestConfig::default(),
            vmpck_id: 0,
            platform: None,
        }
    }
}

impl SimSettings {
    /// The platform these settings describe (the given one, or a freshly built one).
    pub fn platform(&self) -> Result<SimPlatform, BackendError> {
        match &self.platform {
            Some(p) => Ok(p.clone()),
            None => SimPlatform::builder(self.product)
                .generation(self.generation)
                .guest(self.guest.clone())
                .build()
                .map_err(|e| BackendError::SimSetup(e.to_string())),
        }
    }
}

/// The simulator's clock, seen through the driver's [`Clock`] trait: a test's manual clock
/// moves for host and guest alike, so backoffs and deadlines take no real time.
#[derive(Debug, Clone)]
pub struct SimClock(pub ClockRef);

impl Clock for SimClock {
    fn now(&self) -> Duration {
        self.0.now()
    }
    fn sleep(&mut self, d: Duration) {
        self.0.sleep(d)
    }
}

/// `--backend sim`: the `snp-ghcb` guest driver over the simulator's GHCB face (or any
/// [`Vmgexit`] wrapping it, e.g. a test's wiretap).
pub struct SimBackend<V: Vmgexit = GhcbFace> {
    driver: GuestDriver<V, SimClock, SimSecretsStore>,
    platform: SimPlatform,
    certs: Vec<u8>,
}

impl<V: Vmgexit> std::fmt::Debug for SimBackend<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimBackend")
            .field("product", &self.platform.product())
            .field("vmpck", &self.driver.active_vmpck().get())
            .finish_non_exhaustive()
    }
}

impl SimBackend<GhcbFace> {
    /// Build (or take) the platform from `settings` and bring up the guest driver on it.
    pub fn new(settings: &SimSettings, policy: RetryPolicy) -> Result<Self, BackendError> {
        let platform = settings.platform()?;
        info!(
            product = ?platform.product(),
            "using the SIMULATED SEV-SNP platform: the evidence proves nothing about this machine"
        );
        Self::on(platform, settings.vmpck_id, policy)
    }

    /// The guest driver on `platform`, using VMPCK `vmpck_id` and the count the platform's
    /// secrets page holds for it.
    pub fn on(
        platform: SimPlatform,
        vmpck_id: u8,
        policy: RetryPolicy,
    ) -> Result<Self, BackendError> {
        Self::on_face(GhcbFace::new(platform.clone()), platform, vmpck_id, policy)
    }
}

impl<V: Vmgexit> SimBackend<V> {
    /// The guest driver over `face`, which must lead to `platform` (whose secrets page provides
    /// the VMPCK and its message count).
    pub fn on_face(
        face: V,
        platform: SimPlatform,
        vmpck_id: u8,
        policy: RetryPolicy,
    ) -> Result<Self, BackendError> {
        let setup =
            |what: &str, e: &dyn std::fmt::Display| BackendError::SimSetup(format!("{what}: {e}"));
        let id = VmpckId::new(vmpck_id).map_err(|e| setup("VMPCK id", &e))?;
        let clock = SimClock(platform.clock());
        let driver = GuestDriver::open(face, platform.vmpck_store(), clock, policy, id).map_err(
            |e| match e {
                // The secrets page holds zeros: an earlier driver on this guest wiped the key.
                DriverError::NoKey { id } => BackendError::VmpckDisabled {
                    backend: BackendKind::Sim,
                    status: None,
                    detail: Some(format!(
                        "VMPCK{id} is zero in the simulated guest's secrets page (wiped by an earlier driver)"
                    )),
                },
                e => setup("starting the guest driver", &e),
            },
        )?;
        Ok(SimBackend {
            driver,
            platform,
            certs: Vec::new(),
        })
    }

    /// The simulated platform (counters, faults, roots).
    pub fn platform(&self) -> &SimPlatform {
        &self.platform
    }

    /// The certificate buffer size (pages) the next request starts with.
    pub fn size_hint_pages(&self) -> usize {
        self.driver.size_hint_pages()
    }

    /// The message count the driver hands on for its key (what the secrets page holds).
    pub fn message_count(&self) -> u64 {
        self.driver.message_count(self.driver.active_vmpck())
    }
}

impl<V: Vmgexit + Send> Backend for SimBackend<V> {
    fn kind(&self) -> BackendKind {
        BackendKind::Sim
    }

    fn get_ext_report(&mut self, req: &ReportRequest) -> Result<ExtendedReport, BackendError> {
        if req.vmpl > 3 {
            return Err(BackendError::BadVmpl { vmpl: req.vmpl });
        }
        let rr = ReportReq {
            report_data: req.report_data,
            vmpl: req.vmpl,
            key_sel: KEY_SEL_DEFAULT,
        };
        self.certs.clear();
        let ext = self
            .driver
            .get_ext_report(&rr, &mut self.certs)
            .map_err(map_driver_error)?;
        let report = ext
            .response
            .report()
            .map_err(|e| BackendError::MalformedResponse(e.to_string()))?
            .to_vec();
        let certs = self.certs.get(..ext.certs_len).unwrap_or(&self.certs);
        let extent = cert_table_extent(certs);
        Ok(ExtendedReport {
            report,
            cert_table: certs[..extent].to_vec(),
        })
    }
}

/// The driver's errors in the backend vocabulary (same variant as the kernel paths where the
/// meaning is the same).
fn map_driver_error(e: DriverError) -> BackendError {
    let backend = BackendKind::Sim;
    match e {
        DriverError::Retry(r) => match r {
            RetryError::DeadlineExceeded { .. } | RetryError::BusyRetriesExhausted { .. } => {
                BackendError::HostBusy {
                    backend,
                    detail: r.to_string(),
                }
            }
            RetryError::CertBufferTooLarge {
                needed_pages,
                max_pages,
            } => BackendError::CertsTooLarge {
                backend,
                needed: needed_pages.saturating_mul(4096),
                max: (max_pages as u64).saturating_mul(4096),
                status: None,
            },
            other => BackendError::HostMisbehaved {
                backend,
                detail: other.to_string(),
            },
        },
        DriverError::Wiped { reason, .. } => match reason {
            // Firmware or host, in the encodings of both KVM generations.
            WipeReason::HostError(x) => match x.firmware_error() {
                Some(fw) => BackendError::Firmware {
                    backend,
                    fw,
                    status: None,
                },
                None => BackendError::HostError {
                    backend,
                    detail: x.to_string(),
                    status: None,
                },
            },
            // Option (a): BUSY past the deadline costs the key, as on Linux.
            WipeReason::HostStayedBusy(r) => BackendError::BusyTimeout {
                backend,
                status: None,
                detail: Some(r.to_string()),
            },
            WipeReason::BadResponse(m) => BackendError::ResponseRejected {
                backend,
                detail: m.to_string(),
            },
            other => BackendError::HostError {
                backend,
                detail: other.to_string(),
                status: None,
            },
        },
        DriverError::KeyDisabled { id, reason } => BackendError::VmpckDisabled {
            backend,
            status: None,
            detail: Some(format!("VMPCK{id}: {reason}")),
        },
        DriverError::FirmwareRefused { status } => BackendError::ReportRefused { status },
        DriverError::ResponseTooShort { .. } => BackendError::MalformedResponse(e.to_string()),
        other => BackendError::Driver(other.to_string()),
    }
}

/// The `/dev/sev-guest` backend's syscall, answered by the simulator's Linux-driver model.
#[derive(Debug, Clone)]
pub struct SimDeviceIoctl {
    dev: Arc<SevGuestDevice>,
}

impl SimDeviceIoctl {
    /// Wrap a simulated device.
    pub fn new(dev: Arc<SevGuestDevice>) -> Self {
        SimDeviceIoctl { dev }
    }
}

impl GuestIoctl for SimDeviceIoctl {
    fn get_ext_report(&mut self, call: &mut ExtReportCall<'_>) -> IoctlReturn {
        let len = (call.certs_len as usize).min(call.certs.len());
        let out = self.dev.ioctl_get_ext_report(
            call.msg_version,
            call.req,
            call.resp,
            Some(&mut call.certs[..len]),
        );
        // The kernel copies these back only when it has something to say.
        if let Some(x) = out.exitinfo2 {
            call.exitinfo2 = x;
        }
        if let Some(l) = out.certs_len {
            call.certs_len = l;
        }
        IoctlReturn {
            ret: out.ret,
            errno: out.errno,
        }
    }
}

/// The `/dev/sev-guest` backend on the simulator's device model ("load the driver" with
/// `vmpck_id` on `platform`).
pub fn sev_guest_on(
    platform: SimPlatform,
    vmpck_id: u8,
    msg_version: u8,
) -> Result<(SevGuestBackend, Arc<SevGuestDevice>), BackendError> {
    let dev = Arc::new(
        SevGuestDevice::open(platform, vmpck_id)
            .map_err(|e| BackendError::SimSetup(e.to_string()))?,
    );
    let backend =
        SevGuestBackend::with_ioctl(Box::new(SimDeviceIoctl::new(dev.clone())), msg_version);
    Ok((backend, dev))
}

#[cfg(test)]
mod tests {
    use super::*;
    use snp_sim::clock::ManualClock;

    fn platform() -> (SimPlatform, ManualClock) {
        let clock = ManualClock::new();
        let p = SimPlatform::builder(Product::Milan)
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        (p, clock)
    }

    #[test]
    fn sim_backend_returns_report_and_table() {
        let (p, _) = platform();
        let mut b = SimBackend::on(p.clone(), 0, RetryPolicy::default()).unwrap();
        let req = ReportRequest {
            report_data: [9; 64],
            vmpl: 0,
        };
        let out = b.get_ext_report(&req).unwrap();
        assert_eq!(out.report.len(), 0x4A0);
        assert_eq!(&out.report[0x50..0x90], &[9; 64]);
        assert_eq!(out.cert_table, p.expected_blob().unwrap());
        assert_eq!(p.counters().fw_requests, 1);
    }

    #[test]
    fn sim_device_backend_returns_report_and_table() {
        let (p, _) = platform();
        let (mut b, dev) = sev_guest_on(p.clone(), 0, 1).unwrap();
        let out = b.get_ext_report(&ReportRequest::default()).unwrap();
        assert_eq!(out.report.len(), 0x4A0);
        assert_eq!(out.cert_table, p.expected_blob().unwrap());
        assert_eq!(p.counters().fw_requests, 1);
        assert!(!dev.vmpck_disabled());
    }

    fn platform_gen(gen: Generation) -> SimPlatform {
        SimPlatform::builder(Product::Milan)
            .generation(gen)
            .clock(Arc::new(ManualClock::new()))
            .build()
            .unwrap()
    }

    fn ask(b: &mut SimBackend, tag: u8) -> Result<ExtendedReport, BackendError> {
        b.get_ext_report(&ReportRequest {
            report_data: [tag; 64],
            vmpl: 0,
        })
    }

    /// Issue 16's scenario: a host answers BUSY past the deadline, then a second `SimBackend`
    /// is brought up on the same platform. With the message kept for a later call and the
    /// count taken from the firmware, the second backend sealed a different plaintext under the
    /// sequence number the host was holding. Now the first backend wiped the key in the secrets
    /// page, so the second one cannot start, and the host never saw two messages under one number.
    #[test]
    fn second_sim_backend_after_a_busy_deadline_cannot_reuse_the_seqno() {
        for gen in [Generation::Seed, Generation::Merged] {
            let p = platform_gen(gen);
            let mut first = SimBackend::on(p.clone(), 0, RetryPolicy::default()).unwrap();
            ask(&mut first, 1).unwrap();
            p.update_faults(|f| f.busy = snp_sim::faults::Repeat::Always);
            let e = ask(&mut first, 2).unwrap_err();
            assert!(
                matches!(
                    e,
                    BackendError::BusyTimeout {
                        backend: BackendKind::Sim,
                        ..
                    }
                ),
                "{e:?}"
            );
            assert_eq!(p.guest_vmpck(0), Some([0; 32]));
            assert_eq!(p.secrets_message_count(0), Some(4), "seqno 3 skipped");
            p.set_faults(snp_sim::faults::Faults::default());
            let second = SimBackend::on(p.clone(), 0, RetryPolicy::default());
            assert!(
                matches!(second, Err(BackendError::VmpckDisabled { .. })),
                "{second:?}"
            );
            assert!(matches!(
                ask(&mut first, 3),
                Err(BackendError::VmpckDisabled { .. })
            ));
            assert_eq!(p.seqno_reuses(), vec![]);
        }
    }

    /// Backends on a shared platform continue from the count in the secrets page, whichever of
    /// them (or the simulated `/dev/sev-guest`) used the key last.
    #[test]
    fn sim_backends_on_a_shared_platform_continue_from_the_secrets_page() {
        let p = platform_gen(Generation::Merged);
        let mut a = SimBackend::on(p.clone(), 0, RetryPolicy::default()).unwrap();
        let mut b = SimBackend::on(p.clone(), 0, RetryPolicy::default()).unwrap();
        ask(&mut a, 1).unwrap();
        ask(&mut b, 2).unwrap();
        ask(&mut a, 3).unwrap();
        let (mut dev, _) = sev_guest_on(p.clone(), 0, 1).unwrap();
        dev.get_ext_report(&ReportRequest::default()).unwrap();
        drop(a);
        let mut c = SimBackend::on(p.clone(), 0, RetryPolicy::default()).unwrap();
        ask(&mut c, 4).unwrap();
        assert_eq!(p.secrets_message_count(0), p.firmware_message_count(0));
        assert_eq!(p.firmware_message_count(0), Some(10));
        assert_eq!(p.seqno_reuses(), vec![]);
        assert_eq!(p.counters().seqno_violations, 0);
    }

    /// Every way the GHCB driver loses a key zeroes it in the simulated secrets page.
    #[test]
    fn every_wipe_cause_zeroes_the_simulated_secrets_page() {
        use snp_sim::faults::{Faults, Repeat};
        let causes: Vec<(&str, Faults)> = vec![
            (
                "generic VMM error",
                Faults {
                    generic_vmm_error: Repeat::Times(1),
                    ..Faults::default()
                },
            ),
            (
                "firmware error",
                Faults {
                    fw_error: Some((0x13, Repeat::Times(1))),
                    ..Faults::default()
                },
            ),
            (
                "GHCB-level rejection",
                Faults {
                    ghcb_reject: Repeat::Times(1),
                    ..Faults::default()
                },
            ),
            (
                "tampered response",
                Faults {
                    tamper_tag: Repeat::Times(1),
                    ..Faults::default()
                },
            ),
            (
                "replayed response",
                Faults {
                    replay_response: Repeat::Times(1),
                    ..Faults::default()
                },
            ),
            (
                "BUSY past the deadline",
                Faults {
                    busy: Repeat::Always,
                    ..Faults::default()
                },
            ),
            (
                "forwarded, then BUSY",
                Faults {
                    forwarded_then_busy: Repeat::Times(1),
                    ..Faults::default()
                },
            ),
            (
                "forwarded, then INVALID_LEN",
                Faults {
                    forwarded_then_invalid_len: Repeat::Times(1),
                    ..Faults::default()
                },
            ),
            (
                "forwarded, then an error",
                Faults {
                    forwarded_then_error: Some((u64::MAX << 32, Repeat::Times(1))),
                    ..Faults::default()
                },
            ),
            (
                "KVM_RUN failed (bogus VMM completion)",
                Faults {
                    bogus_completion: Repeat::Times(1),
                    ..Faults::default()
                },
            ),
        ];
        for (what, faults) in causes {
            let p = platform_gen(Generation::Merged);
            let mut b = SimBackend::on(p.clone(), 0, RetryPolicy::default()).unwrap();
            // One good request first, so the replay has something to replay.
            ask(&mut b, 1).unwrap();
            p.set_faults(faults);
            let e = ask(&mut b, 2).unwrap_err();
            assert!(e.is_key_disabled(), "{what}: {e:?}");
            assert_eq!(
                p.guest_vmpck(0),
                Some([0; 32]),
                "{what}: key left in the secrets page"
            );
            assert_eq!(p.seqno_reuses(), vec![], "{what}");
        }
    }

    /// Host error vs firmware error, in each generation's own encoding, on the sim path.
    #[test]
    fn both_kvm_generations_classify_host_and_firmware_errors() {
        use snp_sim::faults::{Faults, Repeat};
        for gen in [Generation::Seed, Generation::Merged] {
            let p = platform_gen(gen);
            p.set_faults(Faults {
                fw_error: Some((0x13, Repeat::Times(1))),
                ..Faults::default()
            });
            let mut b = SimBackend::on(p.clone(), 0, RetryPolicy::default()).unwrap();
            let e = ask(&mut b, 1).unwrap_err();
            assert!(
                matches!(
                    e,
                    BackendError::Firmware {
                        fw: snp_ghcb::exit::FwStatus::HwErrorPlatform,
                        ..
                    }
                ),
                "{gen:?}: {e:?}"
            );
            let p = platform_gen(gen);
            p.set_faults(Faults {
                generic_vmm_error: Repeat::Times(1),
                ..Faults::default()
            });
            let mut b = SimBackend::on(p.clone(), 0, RetryPolicy::default()).unwrap();
            let e = ask(&mut b, 1).unwrap_err();
            assert!(
                matches!(e, BackendError::HostError { .. }),
                "{gen:?}: {e:?}"
            );
        }
    }

    #[test]
    fn open_sim_builds_a_platform() {
        let opts = super::super::BackendOptions::default();
        let mut b = super::super::open(BackendKind::Sim, &opts).unwrap();
        assert_eq!(b.kind(), BackendKind::Sim);
        assert_eq!(
            b.get_ext_report(&ReportRequest::default())
                .unwrap()
                .report
                .len(),
            0x4A0
        );
    }
}
