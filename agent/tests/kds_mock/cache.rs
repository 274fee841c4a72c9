//! The disk cache: hits while KDS is down, offline mode, masked chip IDs, tampered entries.

use super::*;

#[test]
fn cache_hit_while_the_server_is_down() {
    let mut server = vcek_server(milan_vcek());
    let dir = tempfile::tempdir().unwrap();
    let r = milan();
    let url = server.url();
    kds(&url, dir.path())
        .kds
        .vcek(r.product, &r.chip_id, &r.tcb)
        .unwrap();
    server.shut_down();
    assert!(TcpStream::connect(server.addr).is_err(), "server still up");
    // A new process (fresh memory) with the same cache: verified from disk, no network.
    let s = kds(&url, dir.path());
    let v = s.kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap();
    assert_eq!(v.source, Source::Disk(vcek_path(dir.path(), &r)));
    assert_eq!(v.der, milan_vcek());
    assert_eq!(server.requests().len(), 1);
    // Something not cached cannot be had: the refused connections exhaust the retries
    // (fake clock, so no real waiting).
    let mut other = milan();
    other.tcb.snp += 1;
    let e = s
        .kds
        .vcek(other.product, &other.chip_id, &other.tcb)
        .unwrap_err();
    assert!(e.is_network(), "{e}");
    assert!(!s.clock.sleeps().is_empty());
}

#[test]
fn offline_serves_the_cache_and_names_what_is_missing() {
    let server = vcek_server(milan_vcek());
    let dir = tempfile::tempdir().unwrap();
    let r = milan();
    // Without a cached entry: a typed error naming the entry and the cache path; no request.
    let s = kds(&server.url(), dir.path());
    let off = s.kds.offline(true);
    let e = off.vcek(r.product, &r.chip_id, &r.tcb).unwrap_err();
    match &e {
        KdsError::NotCached { what, path, url } => {
            assert!(what.contains("Milan VCEK"), "{e}");
            assert_eq!(path, &vcek_path(dir.path(), &r));
            assert!(url.contains("snpSPL=8"));
        }
        other => panic!("{other}"),
    }
    assert!(e
        .to_string()
        .contains(&vcek_path(dir.path(), &r).display().to_string()));
    assert!(server.requests().is_empty());
    // Fill the cache online, then offline succeeds without the network.
    kds(&server.url(), dir.path())
        .kds
        .vcek(r.product, &r.chip_id, &r.tcb)
        .unwrap();
    assert_eq!(server.requests().len(), 1);
    let off = kds(&server.url(), dir.path()).kds.offline(true);
    let v = off.vcek(r.product, &r.chip_id, &r.tcb).unwrap();
    assert!(matches!(v.source, Source::Disk(_)));
    assert_eq!(server.requests().len(), 1);
    // Offline chain and CRL lookups also stay off the network.
    assert!(matches!(
        off.ca_chain(Product::Milan, Endorser::Vcek),
        Err(KdsError::NotCached { .. })
    ));
    assert!(matches!(
        off.crl(Product::Milan, Endorser::Vcek),
        Err(KdsError::NotCached { .. })
    ));
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn masked_chip_id_makes_no_request() {
    let server = vcek_server(milan_vcek());
    let dir = tempfile::tempdir().unwrap();
    let s = kds(&server.url(), dir.path());
    for product in Product::ALL {
        let tcb = if product.has_fmc() {
            Tcb::with_fmc(0, 1, 0, 2, 71)
        } else {
            Tcb::new(3, 0, 8, 115)
        };
        let e = s.kds.vcek(product, &[0u8; 64], &tcb).unwrap_err();
        assert!(
            matches!(e, KdsError::Url(KdsUrlError::ChipIdMasked { .. })),
            "{e}"
        );
        assert!(e.to_string().contains("masked"));
    }
    assert_eq!(server.requests().len(), 0, "the server saw a request");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[test]
fn tampered_cache_entry_is_rejected() {
    // The store is not trusted: a VCEK for another chip placed under this chip's name fails.
    let dir = tempfile::tempdir().unwrap();
    let r = milan();
    let path = vcek_path(dir.path(), &r);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, data("go-sev-guest/vcek.der")).unwrap();
    let s = kds("http://127.0.0.1:9", dir.path());
    let e = s
        .kds
        .offline(true)
        .vcek(r.product, &r.chip_id, &r.tcb)
        .unwrap_err();
    assert!(matches!(e, KdsError::Rejected { .. }), "{e}");
    // Online, the bad entry is replaced by a fetched, verified one.
    let server = vcek_server(milan_vcek());
    let s = kds(&server.url(), dir.path());
    let v = s.kds.vcek(r.product, &r.chip_id, &r.tcb).unwrap();
    assert!(matches!(v.source, Source::Network(_)));
    assert_eq!(std::fs::read(&path).unwrap(), milan_vcek());
    // Same for a damaged chain file.
    let chain_path = DiskCache::new(dir.path()).chain_path(Product::Milan, Endorser::Vcek);
    std::fs::write(
        &chain_path,
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let off = kds(&server.url(), dir.path()).kds.offline(true);
    assert!(off.ca_chain(Product::Milan, Endorser::Vcek).is_err());
}
