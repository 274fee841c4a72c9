//! Other products, the CA chains (VCEK and VLEK), the CRL, and sharing one client across
//! threads.

use super::*;

#[test]
fn turin_vcek_url_and_verification() {
    let vcek = data("oak/turin_oc_endorsements_vcek_14889815.der");
    let server = vcek_server(vcek.clone());
    let dir = tempfile::tempdir().unwrap();
    let r = from_report("oak/turin_oc_evidence_report_3f44a09b.bin", Product::Turin);
    let s = kds(&server.url(), dir.path());
    let v = s.kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap();
    assert_eq!(v.der, vcek);
    let hex: String = r.chip_id[..8].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        server.requests(),
        vec![format!(
            "/vcek/v1/Turin/{hex}?blSPL=1&teeSPL=0&snpSPL=2&ucodeSPL=71&fmcSPL=0"
        )]
    );
    assert!(vcek_path(dir.path(), &r)
        .to_string_lossy()
        .ends_with(&format!("Turin/vcek/{hex}/fmc0-bl1-tee0-snp2-ucode71.der")));
}

#[test]
fn cert_chain_fetched_checked_and_cached() {
    let milan_chain = data("virtee-sev/cert_chain_milan");
    let turin_chain = data("virtee-sev/cert_chain_turin");
    let server = MockKds::start(move |path, _| match path {
        "/vcek/v1/Milan/cert_chain" => Reply::ok(milan_chain.clone()),
        // A mirror serving the wrong product's chain.
        "/vcek/v1/Genoa/cert_chain" => Reply::ok(turin_chain.clone()),
        _ => Reply::status(404),
    });
    let dir = tempfile::tempdir().unwrap();
    let s = kds(&server.url(), dir.path());
    let c = s.kds.ca_chain(Product::Milan, Endorser::Vcek).unwrap();
    assert!(matches!(c.source, Source::Network(_)));
    let cached = DiskCache::new(dir.path()).chain_path(Product::Milan, Endorser::Vcek);
    assert_eq!(
        std::fs::read(&cached).unwrap(),
        data("virtee-sev/cert_chain_milan")
    );
    assert_eq!(
        s.kds
            .ca_chain(Product::Milan, Endorser::Vcek)
            .unwrap()
            .source,
        Source::Memory
    );
    let e = s.kds.ca_chain(Product::Genoa, Endorser::Vcek).unwrap_err();
    assert!(matches!(e, KdsError::Rejected { .. }), "{e}");
    assert!(!DiskCache::new(dir.path())
        .chain_path(Product::Genoa, Endorser::Vcek)
        .exists());
    assert_eq!(
        server.requests(),
        vec!["/vcek/v1/Milan/cert_chain", "/vcek/v1/Genoa/cert_chain"]
    );
}

#[test]
fn vlek_and_other_product_chains() {
    let server = MockKds::start(|path, _| {
        let file = match path {
            "/vlek/v1/Milan/cert_chain" => "go-sev-guest/ask_ark_milan_vlek.pem",
            "/vcek/v1/Genoa/cert_chain" => "go-sev-guest/ask_ark_genoa.pem",
            "/vlek/v1/Turin/cert_chain" => "go-sev-guest/ask_ark_turin_vlek.pem",
            // A VCEK chain served where the VLEK chain belongs.
            "/vlek/v1/Genoa/cert_chain" => "go-sev-guest/ask_ark_genoa.pem",
            _ => return Reply::status(404),
        };
        Reply::ok(data(file))
    });
    let dir = tempfile::tempdir().unwrap();
    let s = kds(&server.url(), dir.path());
    for (p, e) in [
        (Product::Milan, Endorser::Vlek),
        (Product::Genoa, Endorser::Vcek),
        (Product::Turin, Endorser::Vlek),
    ] {
        let c = s.kds.ca_chain(p, e).unwrap();
        assert_eq!((c.product, c.endorser), (p, e));
        assert!(DiskCache::new(dir.path()).chain_path(p, e).exists());
    }
    let e = s.kds.ca_chain(Product::Genoa, Endorser::Vlek).unwrap_err();
    assert!(matches!(e, KdsError::Rejected { .. }), "{e}");
    let e = s.kds.ca_chain(Product::Turin, Endorser::Vcek).unwrap_err();
    assert!(matches!(e, KdsError::NotFound { .. }), "{e}");
    assert!(e.to_string().contains("product line"), "{e}");
}

#[test]
fn kds_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Kds>();
    assert_send_sync::<KdsClient>();
}

#[test]
fn crl_fetched_checked_cached_and_refreshed_when_stale() {
    // The real Milan CRL: thisUpdate 2026-06-22, nextUpdate 2026-08-08.
    let crl = data("atakit/milan.crl_53b18266.crl");
    let genoa_crl = data("cyntrisec-cml-transport/crl_886a378d.crl");
    let c2 = crl.clone();
    let server = MockKds::start(move |path, _| match path {
        "/vcek/v1/Milan/crl" => Reply::ok(c2.clone()),
        "/vcek/v1/Turin/crl" => Reply::ok(genoa_crl.clone()),
        _ => Reply::status(404),
    });
    let dir = tempfile::tempdir().unwrap();
    let july = UNIX_EPOCH + Duration::from_secs(1_782_864_000); // 2026-07-01
    let s = kds_at(&server.url(), dir.path(), july);
    let got = s.kds.crl(Product::Milan, Endorser::Vcek).unwrap();
    assert_eq!(got.der, crl);
    assert_eq!(
        s.kds.crl(Product::Milan, Endorser::Vcek).unwrap().source,
        Source::Memory
    );
    assert_eq!(server.requests().len(), 1);
    // Another process in July: current on disk, no request.
    let s2 = kds_at(&server.url(), dir.path(), july);
    assert!(matches!(
        s2.kds.crl(Product::Milan, Endorser::Vcek).unwrap().source,
        Source::Disk(_)
    ));
    assert_eq!(server.requests().len(), 1);
    // In November the cached CRL is past nextUpdate: online, it is fetched again.
    let s3 = kds(&server.url(), dir.path());
    assert!(matches!(
        s3.kds.crl(Product::Milan, Endorser::Vcek).unwrap().source,
        Source::Network(_)
    ));
    assert_eq!(server.requests().len(), 2);
    // Offline, the stale one is handed out (the verifier reports it as stale).
    let s4 = kds(&server.url(), dir.path());
    assert!(matches!(
        s4.kds
            .offline(true)
            .crl(Product::Milan, Endorser::Vcek)
            .unwrap()
            .source,
        Source::Disk(_)
    ));
    // Another product's CRL (signed by another ARK) is rejected.
    let e = s.kds.crl(Product::Turin, Endorser::Vcek).unwrap_err();
    assert!(matches!(e, KdsError::Rejected { .. }), "{e}");
}
