//! Negatives built from real bytes: every signed byte, signature encodings, truncation,
//! tampered CA certificates, CRLs, masked chip IDs, and the KDS-side checks.

use super::*;

fn verify_mutated(v: &Verifier, report: &[u8], e: &Endorsements, what: &str) {
    let out = v.verify_detailed(report, e);
    assert!(out.result.is_err(), "{what} must not verify");
    // If the signature check ran it failed; it is skipped only when the report format (version,
    // algorithm) is unusable.
    let sig = out.check(check::REPORT_SIGNATURE).expect("always listed");
    match sig.status {
        CheckStatus::Fail => {}
        CheckStatus::Skipped => assert!(
            out.failed().contains(&check::REPORT_FORMAT) || out.failed().contains(&check::PRODUCT),
            "{what}: {:?}",
            out.checks
        ),
        CheckStatus::Pass | CheckStatus::Warn => panic!("{what}: signature passed"),
    }
}

#[test]
fn every_single_signed_byte_changed_is_rejected() {
    // Milan (v2) and Turin (v5, where TCB reserved bytes sit at other offsets).
    let cases = [(MILAN_REPORT, MILAN_VCEK), (TURIN_REPORT, TURIN_VCEK)];
    for p in providers() {
        // One verifier for the loop: the anchor checks are cached per verifier.
        let v = Verifier::with_provider(TrustAnchors::amd(), p.clone()).at_unix(NOW);
        for (report, vek) in cases {
            let bytes = read(report);
            let e = Endorsements::new(read(vek));
            assert!(v.verify(&bytes, &e).is_ok(), "{report} unmodified verifies");
            for i in 0..SIGNED_LEN {
                let mut m = bytes.clone();
                m[i] ^= 0x01;
                verify_mutated(&v, &m, &e, &format!("{report} byte {i:#05x} ^ 1"));
                let mut m = bytes.clone();
                m[i] = m[i].wrapping_add(0x80);
                verify_mutated(&v, &m, &e, &format!("{report} byte {i:#05x} + 0x80"));
            }
        }
    }
}

#[test]
fn reserved_tcb_bytes_changed_are_rejected_with_the_tcb_reason() {
    // Turin reserved bytes 4..7 of each TCB field; Milan 2..6.
    for p in providers() {
        for (report, vek, reserved) in [
            (TURIN_REPORT, TURIN_VCEK, 4..7),
            (MILAN_REPORT, MILAN_VCEK, 2..6),
        ] {
            for i in reserved {
                let mut m = read(report);
                m[offset::REPORTED_TCB + i] = 1;
                let out = run(
                    &TrustAnchors::amd(),
                    &p,
                    NOW,
                    &m,
                    &Endorsements::new(read(vek)),
                );
                assert!(out.failed().contains(&check::REPORT_SIGNATURE));
                assert!(
                    out.failed().contains(&check::TCB_BINDING),
                    "{report} reserved byte {i}"
                );
            }
        }
    }
}

#[test]
fn signature_encoding_is_strict() {
    let bytes = read(MILAN_REPORT);
    let vek = read(MILAN_VCEK);
    for p in providers() {
        // Junk in the upper 24 bytes of R or S.
        for base in [offset::SIGNATURE_R, offset::SIGNATURE_S] {
            for i in 48..72 {
                let mut m = bytes.clone();
                m[base + i] = 0x01;
                let out = run(
                    &TrustAnchors::amd(),
                    &p,
                    NOW,
                    &m,
                    &Endorsements::new(vek.clone()),
                );
                assert_eq!(out.failed(), [check::REPORT_SIGNATURE]);
                assert!(out
                    .check(check::REPORT_SIGNATURE)
                    .expect("listed")
                    .detail
                    .contains("upper 24 bytes"));
            }
        }
        // Non-canonical R: r + n (same value mod n) must be rejected, not reduced.
        let mut r_be: Vec<u8> = bytes[offset::SIGNATURE_R..offset::SIGNATURE_R + 48]
            .iter()
            .rev()
            .copied()
            .collect();
        let n: [u8; 48] = [
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC7, 0x63, 0x4D, 0x81,
            0xF4, 0x37, 0x2D, 0xDF, 0x58, 0x1A, 0x0D, 0xB2, 0x48, 0xB0, 0xA7, 0x7A, 0xEC, 0xEC,
            0x19, 0x6A, 0xCC, 0xC5, 0x29, 0x73,
        ];
        let mut carry = 0u16;
        for i in (0..48).rev() {
            let s = u16::from(r_be[i]) + u16::from(n[i]) + carry;
            r_be[i] = s as u8;
            carry = s >> 8;
        }
        if carry == 0 {
            let mut m = bytes.clone();
            for (i, b) in r_be.iter().rev().enumerate() {
                m[offset::SIGNATURE_R + i] = *b;
            }
            let out = run(
                &TrustAnchors::amd(),
                &p,
                NOW,
                &m,
                &Endorsements::new(vek.clone()),
            );
            assert_eq!(out.failed(), [check::REPORT_SIGNATURE], "r + n");
        } else {
            eprintln!(
                "r + n overflows 384 bits for this report; non-canonical R covered by S = n below"
            );
        }
        // S = n and S = 0.
        for s_be in [n, [0u8; 48]] {
            let mut m = bytes.clone();
            for (i, b) in s_be.iter().rev().enumerate() {
                m[offset::SIGNATURE_S + i] = *b;
            }
            let out = run(
                &TrustAnchors::amd(),
                &p,
                NOW,
                &m,
                &Endorsements::new(vek.clone()),
            );
            assert_eq!(out.failed(), [check::REPORT_SIGNATURE]);
        }
        // Bytes after the signature (0x330..0x4A0) are not signed: junk there would give one
        // genuine report many byte forms, so anything but zero is refused (issue 17).
        for i in [offset::SIGNATURE_RESERVED, 0x400, REPORT_SIZE - 1] {
            let mut m = bytes.clone();
            m[i] = 0x01;
            let out = run(
                &TrustAnchors::amd(),
                &p,
                NOW,
                &m,
                &Endorsements::new(vek.clone()),
            );
            assert_eq!(out.failed(), [check::REPORT_SIGNATURE], "byte {i:#x}");
            let detail = &out.check(check::REPORT_SIGNATURE).expect("listed").detail;
            assert!(
                detail.contains("reserved signature area") && detail.contains(&format!("{i:#05x}")),
                "{detail}"
            );
        }
    }
}

/// n − s for the 72-byte little-endian S of a report, written back in place.
fn negate_s(report: &mut [u8]) {
    use p384::elliptic_curve::PrimeField;
    let field = &mut report[offset::SIGNATURE_S..offset::SIGNATURE_S + 48];
    let mut be = [0u8; 48];
    for (d, b) in be.iter_mut().zip(field.iter().rev()) {
        *d = *b;
    }
    let s = Option::<p384::Scalar>::from(p384::Scalar::from_repr(be.into())).expect("S < n");
    let neg = (-s).to_repr();
    for (d, b) in field.iter_mut().zip(neg.iter().rev()) {
        *d = *b;
    }
}

#[test]
fn both_s_twins_verify_with_one_identity() {
    // AMD firmware does not normalise S: both (r, s) and (r, n - s) verify and both are
    // accepted, but they are one report, so the documented identity must be equal (issue 17).
    for p in providers() {
        let v = Verifier::with_provider(TrustAnchors::amd(), p.clone()).at_unix(NOW);
        let mut ids = Vec::new();
        for (report, vek) in [(MILAN_REPORT, MILAN_VCEK), (TURIN_REPORT, TURIN_VCEK)] {
            let e = Endorsements::new(read(vek));
            let bytes = read(report);
            let mut twin = bytes.clone();
            negate_s(&mut twin);
            assert_ne!(bytes, twin);
            let a = v.verify(&bytes, &e).expect("as received");
            let b = v.verify(&twin, &e).expect("the S twin verifies too");
            assert_ne!(a.report_bytes(), b.report_bytes(), "two byte forms");
            assert_eq!(a.id(), b.id(), "{report}: one identity");
            // Negating twice gives the received bytes back.
            negate_s(&mut twin);
            assert_eq!(twin, bytes);
            ids.push(a.id());
        }
        assert_ne!(ids[0], ids[1], "different reports, different identities");
        // The identity is the documented hash: label, 0x00, signed bytes, r, min(s, n - s).
        use sha2::Digest;
        let bytes = read(MILAN_REPORT);
        let mut twin = bytes.clone();
        negate_s(&mut twin);
        let be = |b: &[u8]| b.iter().rev().copied().collect::<Vec<u8>>();
        let s1 = be(&bytes[offset::SIGNATURE_S..offset::SIGNATURE_S + 48]);
        let s2 = be(&twin[offset::SIGNATURE_S..offset::SIGNATURE_S + 48]);
        let mut h = sha2::Sha384::new();
        h.update(snp_certs::verify::EVIDENCE_ID_LABEL);
        h.update([0u8]);
        h.update(&bytes[..SIGNED_LEN]);
        h.update(be(&bytes[offset::SIGNATURE_R..offset::SIGNATURE_R + 48]));
        h.update(s1.min(s2));
        assert_eq!(ids[0].as_bytes()[..], h.finalize()[..]);
    }
}

#[test]
fn truncated_and_oversized_reports() {
    let bytes = read(MILAN_REPORT);
    let e = Endorsements::new(read(MILAN_VCEK));
    for p in providers() {
        for len in [0, 1, SIGNED_LEN, REPORT_SIZE - 1] {
            let out = run(&TrustAnchors::amd(), &p, NOW, &bytes[..len], &e);
            assert!(
                matches!(out.result, Err(VerifyError::Report(_))),
                "len {len}"
            );
        }
        let mut long = bytes.clone();
        long.extend_from_slice(&[0; 20]); // like the constellation 1204-byte containers
        let out = run(&TrustAnchors::amd(), &p, NOW, &long, &e);
        assert!(matches!(out.result, Err(VerifyError::Report(_))));
        assert!(out
            .checks
            .iter()
            .skip(1)
            .all(|c| c.status == CheckStatus::Skipped));
    }
}

#[test]
fn tampered_ask_is_rejected_as_anchor_and_as_host_hint() {
    let tampered = read("constellation/azure_neg_malformed_ask_0903a395.der");
    let pem = String::from_utf8(read("go-sev-guest/ask_ark_milan.pem")).expect("utf-8");
    let ders = snp_certs::chain::pem_certificates(pem.as_bytes()).expect("pem");
    let report = read("constellation/azure_success_report_2ca0fafb.bin");
    let vek = read("constellation/azure_vcek_2f52d3cf.der");
    for p in providers() {
        // As an (explicit) anchor: the ARK→ASK signature fails.
        match TrustAnchors::explicit().with_chain(Product::Milan, &ders[1], Some(&tampered), None) {
            Ok(anchors) => {
                let out = run(&anchors, &p, NOW, &report, &Endorsements::new(vek.clone()));
                assert!(
                    out.failed().contains(&check::ASK_SIGNED_BY_ARK),
                    "{:?}",
                    out.checks
                );
                assert!(out.result.is_err());
            }
            Err(e) => eprintln!("tampered ASK does not even parse as an anchor: {e}"),
        }
        // As a host-served hint beside the real chain: reported, evidence rejected.
        let e = Endorsements::new(vek.clone())
            .with_host_chain(Some(tampered.clone()), Some(ders[1].clone()));
        let out = run(&TrustAnchors::amd(), &p, NOW, &report, &e);
        assert_eq!(out.failed(), [check::HOST_CERTIFICATES], "{:?}", out.checks);
        // The genuine host chain passes as a hint.
        let e = Endorsements::new(vek.clone())
            .with_host_chain(Some(ders[0].clone()), Some(ders[1].clone()));
        let out = run(&TrustAnchors::amd(), &p, NOW, &report, &e);
        assert!(out.result.is_ok(), "{:?}", out.checks);
        assert_eq!(
            out.check(check::HOST_CERTIFICATES).map(|c| c.status),
            Some(CheckStatus::Pass)
        );
        // Another product's chain served by the host is not AMD's Milan chain.
        let genoa = snp_certs::chain::pem_certificates(&read("go-sev-guest/ask_ark_genoa.pem"))
            .expect("pem");
        let e = Endorsements::new(vek.clone())
            .with_host_chain(Some(genoa[0].clone()), Some(genoa[1].clone()));
        assert_eq!(
            run(&TrustAnchors::amd(), &p, NOW, &report, &e).failed(),
            [check::HOST_CERTIFICATES]
        );
    }
}

#[test]
fn crl_inside_verification() {
    let report = read("oak/genoa_oc_evidence_report_6d1ceffa.bin");
    let vek = read("oak/genoa_oc_endorsements_vcek_b6563a6c.der");
    let crl = read("cyntrisec-cml-transport/crl_886a378d.crl");
    let milan_crl = read("atakit/milan.crl_53b18266.crl");
    for p in providers() {
        let e = Endorsements::new(vek.clone()).with_crl(crl.clone());
        // Inside the CRL's window (2025-10-24..2026-10-31) and the VCEK's (from 2025-08-07).
        let out = run(&TrustAnchors::amd(), &p, day("2026-01-15"), &report, &e);
        assert!(out.result.is_ok(), "{:?}", out.checks);
        assert_eq!(
            out.check(check::CRL).map(|c| c.status),
            Some(CheckStatus::Pass)
        );
        // Stale at the manifest's now.
        let out = run(&TrustAnchors::amd(), &p, NOW, &report, &e);
        assert_eq!(out.failed(), [check::CRL]);
        assert!(matches!(
            out.result,
            Err(VerifyError::Crl(snp_certs::error::CrlError::Stale { .. }))
        ));
        // The Milan CRL is not signed by ARK-Genoa.
        let e = Endorsements::new(vek.clone()).with_crl(milan_crl.clone());
        let out = run(&TrustAnchors::amd(), &p, day("2026-07-01"), &report, &e);
        assert_eq!(out.failed(), [check::CRL]);
        // Required but missing.
        let v = Verifier::with_provider(TrustAnchors::amd(), p.clone())
            .at_unix(day("2026-01-15"))
            .crl_policy(snp_certs::verify::CrlPolicy::Required);
        assert!(matches!(
            v.verify(&report, &Endorsements::new(vek.clone())),
            Err(VerifyError::CrlMissing)
        ));
    }
}

#[test]
fn masked_chip_id_is_visible_not_silent() {
    // Zeroing CHIP_ID breaks the signature (it is signed), but the check list must say the
    // chip binding was skipped because of the mask, not pass it.
    let mut m = read(MILAN_REPORT);
    m[offset::CHIP_ID..offset::CHIP_ID + 64].fill(0);
    let out = run(
        &TrustAnchors::amd(),
        &providers()[0],
        NOW,
        &m,
        &Endorsements::new(read(MILAN_VCEK)),
    );
    let c = out.check(check::CHIP_ID_BINDING).expect("listed");
    assert_eq!(c.status, CheckStatus::Skipped);
    assert!(c.detail.contains("masked"));
    assert!(out.result.is_err());
}

#[test]
fn report_view_on_real_reports() {
    let mut versions = std::collections::BTreeMap::new();
    for &(report, _, chain, ..) in ACCEPT {
        let bytes = read(report);
        let v = ReportView::new(&bytes).expect("1184 bytes");
        *versions.entry(v.version()).or_insert(0) += 1;
        if v.version() >= 3 {
            assert_eq!(
                v.product_from_cpuid(),
                Some(Ok(chain_product(chain))),
                "{report}"
            );
        } else {
            assert_eq!(v.cpuid(), None);
        }
        let expected_key = if chain_kind(chain) == CertKind::Vlek {
            SigningKey::Vlek
        } else {
            SigningKey::Vcek
        };
        assert_eq!(v.signing_key(), expected_key, "{report}");
        assert_eq!(
            v.chip_id_masked(),
            chain_kind(chain) == CertKind::Vlek,
            "{report}"
        );
    }
    assert!(
        versions.contains_key(&2) && versions.contains_key(&3) && versions.contains_key(&5),
        "{versions:?}"
    );
}

#[test]
fn kds_side_checks_without_a_report() {
    for p in providers() {
        let v = Verifier::with_provider(TrustAnchors::amd(), p.clone()).at_unix(NOW);
        for (chain, product, kind) in [
            ("ask_ark_milan.pem", Product::Milan, CertKind::Vcek),
            ("ask_ark_milan_vlek.pem", Product::Milan, CertKind::Vlek),
            ("ask_ark_genoa.pem", Product::Genoa, CertKind::Vcek),
            ("ask_ark_genoa_vlek.pem", Product::Genoa, CertKind::Vlek),
            ("ask_ark_turin_vcek.pem", Product::Turin, CertKind::Vcek),
            ("ask_ark_turin_vlek.pem", Product::Turin, CertKind::Vlek),
        ] {
            let ders = snp_certs::chain::pem_certificates(&read(&format!("go-sev-guest/{chain}")))
                .expect("pem");
            v.verify_ca_chain(product, kind, &ders[0], &ders[1])
                .unwrap_or_else(|e| panic!("{chain}: {e}"));
            // The other kind's slot, or another product, is refused.
            let other = if kind == CertKind::Vcek {
                CertKind::Vlek
            } else {
                CertKind::Vcek
            };
            assert!(
                v.verify_ca_chain(product, other, &ders[0], &ders[1])
                    .is_err(),
                "{chain}"
            );
            let other_product = if product == Product::Milan {
                Product::Genoa
            } else {
                Product::Milan
            };
            assert!(
                v.verify_ca_chain(other_product, kind, &ders[0], &ders[1])
                    .is_err(),
                "{chain}"
            );
        }
        let milan = snp_certs::chain::pem_certificates(&read("go-sev-guest/ask_ark_milan.pem"))
            .expect("pem");
        let tampered = read("constellation/azure_neg_malformed_ask_0903a395.der");
        assert!(v
            .verify_ca_chain(Product::Milan, CertKind::Vcek, &tampered, &milan[1])
            .is_err());
        // A VCEK with its served ASK as a hint.
        let got = v
            .verify_vek_with_hint(&read(MILAN_VCEK), Product::Milan, Some(&milan[0]))
            .expect("verifies");
        assert_eq!(got.tcb(), Tcb::new(3, 0, 8, 115));
        assert!(v
            .verify_vek_with_hint(&read(MILAN_VCEK), Product::Milan, Some(&tampered))
            .is_err());
        // CRLs: signature checked, freshness reported.
        let crl = read("cyntrisec-cml-transport/crl_886a378d.crl");
        let c = v
            .verify_crl(Product::Genoa, &crl)
            .expect("ARK-Genoa signed");
        assert!(!c.is_current(), "stale at 2026-11-25");
        assert_eq!(c.crl().revoked_serials(), ["020001"]);
        let c = v
            .clone()
            .at_unix(day("2026-01-15"))
            .verify_crl(Product::Genoa, &crl)
            .expect("verifies");
        assert!(c.is_current());
        assert!(
            v.verify_crl(Product::Milan, &crl).is_err(),
            "not ARK-Milan's"
        );
        assert!(v
            .verify_crl(Product::Milan, &read("atakit/milan.crl_53b18266.crl"))
            .is_ok());
    }
}
