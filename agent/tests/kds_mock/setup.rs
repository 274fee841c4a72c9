//! Configuration and inputs: snpguest directory import, the KDS URL from the environment,
//! the request derived from a report, and the CLI flags.

use super::*;

#[test]
fn snpguest_directory_import_then_offline() {
    // snpguest layout: ark.pem + ask.pem (from the KDS chain) and vcek.der.
    let chain = String::from_utf8(data("virtee-sev/cert_chain_milan")).unwrap();
    let blocks: Vec<&str> = chain
        .split_inclusive("-----END CERTIFICATE-----")
        .filter(|b| b.contains("BEGIN"))
        .collect();
    assert_eq!(blocks.len(), 2);
    let certs = tempfile::tempdir().unwrap();
    std::fs::write(certs.path().join("ask.pem"), blocks[0].trim_start()).unwrap();
    std::fs::write(certs.path().join("ark.pem"), blocks[1].trim_start()).unwrap();
    std::fs::write(certs.path().join("vcek.der"), milan_vcek()).unwrap();

    let cache = tempfile::tempdir().unwrap();
    let s = kds("http://127.0.0.1:9", cache.path());
    let off = s.kds.offline(true);
    let rep = off.import_snpguest_dir(certs.path()).unwrap();
    let r = milan();
    assert!(rep.stored.contains(&vcek_path(cache.path(), &r)), "{rep:?}");
    assert!(rep
        .stored
        .contains(&DiskCache::new(cache.path()).chain_path(Product::Milan, Endorser::Vcek)));
    let v = off.vcek(r.product, &r.chip_id, &r.tcb).unwrap();
    assert_eq!(v.der, milan_vcek());
    let c = off.ca_chain(Product::Milan, Endorser::Vcek).unwrap();
    assert!(matches!(c.source, Source::Disk(_)));

    // A directory whose ARK is not AMD's is refused.
    let bad = tempfile::tempdir().unwrap();
    std::fs::write(bad.path().join("ark.der"), milan_vcek()).unwrap();
    assert!(off.import_snpguest_dir(bad.path()).is_err());
    // An empty directory says what it expected.
    let empty = tempfile::tempdir().unwrap();
    let e = off.import_snpguest_dir(empty.path()).unwrap_err();
    assert!(e.to_string().contains("ark.pem"), "{e}");
}

#[test]
fn kds_url_from_environment() {
    // --kds-url wins over SNP_AGENT_KDS_URL, which wins over AMD's KDS. (Only this test in
    // this binary touches the variable.)
    std::env::set_var("SNP_AGENT_KDS_URL", "http://127.0.0.1:1234/");
    let c = KdsClient::from_env_or(None).unwrap();
    assert_eq!(c.urls().base(), "http://127.0.0.1:1234");
    let c = KdsClient::from_env_or(Some("https://mirror.example")).unwrap();
    assert_eq!(c.urls().base(), "https://mirror.example");
    std::env::set_var("SNP_AGENT_KDS_URL", "");
    let c = KdsClient::from_env_or(None).unwrap();
    assert!(c.urls().is_amd());
    std::env::set_var("SNP_AGENT_KDS_URL", "not a url");
    assert!(KdsClient::from_env_or(None).is_err());
    std::env::remove_var("SNP_AGENT_KDS_URL");
}

#[test]
fn vcek_for_report_derives_the_request() {
    use snp_certs::report::ReportView;
    let turin_vcek = data("oak/turin_oc_endorsements_vcek_14889815.der");
    let milan = milan_vcek();
    let server = MockKds::start(move |path, _| {
        if path.starts_with("/vcek/v1/Turin/") {
            Reply::ok(turin_vcek.clone())
        } else if path.starts_with("/vcek/v1/Milan/") {
            Reply::ok(milan.clone())
        } else {
            Reply::status(404)
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let s = kds(&server.url(), dir.path());
    // v5 Turin report: the product comes from its CPUID fields.
    let turin = data("oak/turin_oc_evidence_report_3f44a09b.bin");
    let v = s
        .kds
        .vcek_for_report(&ReportView::new(&turin).unwrap(), None)
        .unwrap();
    assert_eq!(v.hwid.product(), Product::Turin);
    assert_eq!(v.tcb, Tcb::with_fmc(0, 1, 0, 2, 71));
    // v2 Milan report: no CPUID, so the product must be given…
    let m = data("virtee-sev/report_milan.bin");
    let view = ReportView::new(&m).unwrap();
    let e = s.kds.vcek_for_report(&view, None).unwrap_err();
    assert!(
        matches!(e, KdsError::Report(_)) && e.to_string().contains("product"),
        "{e}"
    );
    let v = s.kds.vcek_for_report(&view, Some(Product::Milan)).unwrap();
    assert_eq!(v.der, milan_vcek());
    // …and a given product must agree with the CPUID one.
    let e = s
        .kds
        .vcek_for_report(&ReportView::new(&turin).unwrap(), Some(Product::Genoa))
        .unwrap_err();
    assert!(matches!(e, KdsError::Report(_)), "{e}");
    assert_eq!(server.requests().len(), 2);
    // A VLEK-signed report has no VCEK to fetch: no request.
    let vlek_report = data("constellation/report_0216f1ce.bin");
    let e = s
        .kds
        .vcek_for_report(&ReportView::new(&vlek_report).unwrap(), None)
        .unwrap_err();
    assert!(e.to_string().contains("VLEK"), "{e}");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn from_options_applies_flags() {
    use snp_agent::kds::KdsOptions;
    let server = vcek_server(milan_vcek());
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(0usize));
    let s2 = seen.clone();
    let kds = Kds::from_options(KdsOptions {
        kds_url: Some(server.url()),
        cache_dir: Some(dir.path().to_path_buf()),
        offline: false,
        deadline: Some(Duration::from_secs(30)),
        progress: Some(Arc::new(move |_: &Progress| *s2.lock().unwrap() += 1)),
        anchors: None,
    })
    .unwrap();
    assert_eq!(kds.cache().root(), dir.path());
    assert!(!kds.is_offline());
    let r = milan();
    kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap();
    assert!(*seen.lock().unwrap() >= 3);
    assert!(vcek_path(dir.path(), &r).exists());
    let off = Kds::from_options(KdsOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        offline: true,
        ..KdsOptions::default()
    })
    .unwrap();
    assert!(off.is_offline());
    off.vcek(r.product, &r.chip_id, &r.tcb).unwrap();
    assert_eq!(server.requests().len(), 1);
}
