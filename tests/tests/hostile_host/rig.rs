//! The rig: a simulated platform behind the hostile hypervisor, the agent's GHCB backend on
//! top, a manual clock, and the per-call bounds and no-reuse invariant every scenario asserts.

use super::*;

/// Exits one call may make at most, whatever the host does: the retry policy's bounds
/// (40 BUSY resends, 3 INVALID_LEN rounds each with a burn) with room for a pending resend.
pub(crate) const MAX_EXITS_PER_CALL: usize = 2 * (40 + 1) + 2 * (3 + 1) + 2;

pub(crate) struct Rig {
    pub(crate) platform: SimPlatform,
    pub(crate) clock: ManualClock,
    pub(crate) backend: SimBackend<Hostile>,
    pub(crate) script: Arc<Mutex<Script>>,
    pub(crate) log: Arc<Mutex<Log>>,
    pub(crate) n: u8,
}

/// One call's outcome and what it cost.
pub(crate) struct Call {
    pub(crate) result: Result<ExtendedReport, BackendError>,
    pub(crate) counters: CountersSnapshot,
    pub(crate) exits: usize,
    pub(crate) elapsed: Duration,
}

impl Rig {
    pub(crate) fn new(faults: Faults) -> Rig {
        Rig::with_product(Product::Genoa, faults)
    }

    pub(crate) fn with_product(product: Product, faults: Faults) -> Rig {
        let clock = ManualClock::new();
        let platform = SimPlatform::builder(product)
            .clock(Arc::new(clock.clone()))
            .faults(faults)
            .build()
            .expect("simulated platform");
        let script: Arc<Mutex<Script>> = Arc::default();
        let log: Arc<Mutex<Log>> = Arc::default();
        let face = Hostile {
            inner: GhcbFace::new(platform.clone()),
            platform: platform.clone(),
            script: script.clone(),
            log: log.clone(),
        };
        let backend = SimBackend::on_face(face, platform.clone(), 0, RetryPolicy::default())
            .expect("guest driver");
        Rig {
            platform,
            clock,
            backend,
            script,
            log,
            n: 0,
        }
    }

    pub(crate) fn before(&self, h: impl FnMut(&mut Exit<'_>) -> Before + Send + 'static) {
        self.script.lock().unwrap().before = Some(Box::new(h));
    }
    pub(crate) fn after(&self, h: impl FnMut(&mut Exit<'_>) + Send + 'static) {
        self.script.lock().unwrap().after = Some(Box::new(h));
    }
    pub(crate) fn on_read(&self, h: impl FnMut(&SimPlatform, Gpa, usize) + Send + 'static) {
        self.script.lock().unwrap().on_read = Some(Box::new(h));
    }
    /// The host behaves again.
    pub(crate) fn behave(&self) {
        *self.script.lock().unwrap() = Script::default();
        self.platform.set_faults(Faults::default());
    }

    /// One extended-report call, with its bounds and the no-reuse invariant checked.
    pub(crate) fn call(&mut self) -> Call {
        self.n = self.n.wrapping_add(1);
        let req = ReportRequest {
            report_data: [self.n; 64],
            vmpl: 0,
        };
        let before = self.platform.counters();
        let exits0 = self.log.lock().unwrap().exits;
        let t0 = self.clock.elapsed();
        let result = self.backend.get_ext_report(&req);
        let elapsed = self.clock.elapsed() - t0;
        let exits = self.log.lock().unwrap().exits - exits0;
        let counters = self.platform.counters().since(&before);
        if let Ok(ext) = &result {
            assert_eq!(ext.report.len(), 0x4A0, "report size");
            assert_eq!(&ext.report[0x50..0x90], &[self.n; 64], "REPORT_DATA");
        }
        assert!(exits <= MAX_EXITS_PER_CALL, "{exits} exits in one call");
        assert!(
            elapsed <= RetryPolicy::default().deadline + RetryPolicy::default().max_backoff,
            "one call took {elapsed:?} of (simulated) time"
        );
        self.assert_no_reuse();
        Call {
            result,
            counters,
            exits,
            elapsed,
        }
    }

    pub(crate) fn assert_no_reuse(&self) {
        let log = self.log.lock().unwrap();
        assert!(
            log.reuse.is_empty(),
            "different messages under one (VMPCK, seqno): {:?}",
            log.reuse
        );
        assert_eq!(
            self.platform.counters().seqno_violations,
            0,
            "the firmware saw a reused or skipped sequence number"
        );
    }

    /// A call that must succeed with the full chain in one firmware request, and verify.
    pub(crate) fn steady_state(&mut self) -> ExtendedReport {
        let c = self.call();
        let ext = c
            .result
            .unwrap_or_else(|e| panic!("the steady state after recovery failed: {e}"));
        assert_eq!(
            c.counters.fw_requests, 1,
            "steady state: one firmware request"
        );
        assert_eq!(ext.cert_table, self.platform.expected_blob().unwrap());
        self.verify(&ext).expect("steady-state evidence verifies");
        ext
    }

    pub(crate) fn verify(
        &self,
        ext: &ExtendedReport,
    ) -> Result<(), snp_certs::verify::VerifyError> {
        self.verify_detailed(ext).result.map(drop)
    }

    /// Verify evidence against the VCEK in its table, chained to the simulator's roots.
    pub(crate) fn verify_detailed(&self, ext: &ExtendedReport) -> VerificationOutcome {
        let table = CertTable::parse(&ext.cert_table).expect("table parses");
        let vcek = table
            .vcek()
            .expect("a VCEK is served")
            .der()
            .expect("VCEK DER");
        let roots = self.platform.roots().unwrap();
        let anchors = TrustAnchors::explicit()
            .with_chain(
                self.platform.product(),
                &roots.ark_der,
                Some(&roots.ask_der),
                Some(&roots.asvk_der),
            )
            .unwrap();
        Verifier::new(anchors).verify_detailed(&ext.report, &Endorsements::new(vcek.to_vec()))
    }

    /// The report verifies against the platform's own VCEK (when the table did not carry one).
    pub(crate) fn verify_report_only(&self, ext: &ExtendedReport) {
        let roots = self.platform.roots().unwrap();
        let anchors = TrustAnchors::explicit()
            .with_chain(
                self.platform.product(),
                &roots.ark_der,
                Some(&roots.ask_der),
                Some(&roots.asvk_der),
            )
            .unwrap();
        Verifier::new(anchors)
            .verify(&ext.report, &Endorsements::new(self.platform.vcek_der()))
            .expect("the report verifies against the platform's VCEK");
    }

    pub(crate) fn key(&self) -> Vmpck {
        Vmpck::new(self.platform.guest_vmpck(0).expect("VMPCK0"))
    }

    pub(crate) fn exits(&self) -> usize {
        self.log.lock().unwrap().exits
    }
}

pub(crate) fn expect_err(mut c: Call) -> (BackendError, Call) {
    let taken = std::mem::replace(&mut c.result, Err(BackendError::Internal(String::new())));
    match taken {
        Ok(_) => panic!("the hostile host was not detected"),
        Err(e) => (e, c),
    }
}

/// The key is gone: the next call is refused without any exit.
pub(crate) fn assert_key_disabled_now(rig: &mut Rig) {
    rig.behave();
    let exits0 = rig.exits();
    let c = rig.call();
    let (e, c) = expect_err(c);
    assert!(
        matches!(
            e,
            BackendError::VmpckDisabled {
                backend: BackendKind::Sim,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_key_disabled());
    assert_eq!(c.exits, 0);
    assert_eq!(rig.exits(), exits0);
}

pub(crate) fn invalid_len(pages: u64) -> Before {
    Before::Answer {
        exit_info_2: INVALID_LEN,
        rbx: Some(pages),
    }
}

/// Re-seal the response on the response page with `meta` changed by `f` (the host, or a
/// firmware bug, producing a response that authenticates but is not the one expected).
pub(crate) fn reseal_response(x: &mut Exit<'_>, key: &Vmpck, f: impl FnOnce(&mut MsgMeta)) {
    let page = x.read(x.resp_gpa(), PAGE_SIZE);
    let req = x.read(x.req_gpa(), PAGE_SIZE);
    let seqno = u64::from_le_bytes(req[0x20..0x28].try_into().unwrap());
    let meta = MsgMeta {
        seqno: seqno + 1,
        msg_type: MsgType::ReportRsp,
        msg_version: 1,
        vmpck_id: VmpckId::ZERO,
    };
    let mut plain = vec![0u8; MAX_PAYLOAD];
    let n = open(&page, &meta, key, &mut plain).expect("the firmware's response opens");
    let mut bad = meta;
    f(&mut bad);
    let mut out = vec![0u8; PAGE_SIZE];
    let len = seal(&mut out, &bad, key, &plain[..n]).expect("reseal");
    assert!(len <= PAGE_SIZE);
    x.write(x.resp_gpa(), &out);
}

pub(crate) fn response_rejected(e: &BackendError) -> bool {
    matches!(
        e,
        BackendError::ResponseRejected {
            backend: BackendKind::Sim,
            ..
        }
    )
}
