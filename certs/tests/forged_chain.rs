//! Forged certificates: AMD's real ARK, ASK and VCEK re-keyed with our own keys and re-signed,
//! keeping AMD's names and the genuine extensions. The forgery is otherwise perfect — it
//! verifies when its own root is supplied explicitly — so a rejection against AMD's pinned
//! roots is for the right reason. The same machinery isolates single binding failures (TCB,
//! signer) with a valid signature, which real data cannot.
//!
//! RSA-2048 keys for the forged ARK/ASK (generated once per test binary): AMD's roots are
//! pinned by key, so the key size of a forgery is irrelevant to the outcome.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use der::asn1::{BitString, OctetString};
use der::{Decode, Encode};
use p384::ecdsa::signature::hazmat::PrehashSigner;
use rsa::pkcs8::EncodePublicKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::RsaPrivateKey;
use snp_certs::chain::{pem_certificates, CertKind};
use snp_certs::crypto::{available_providers, CryptoProvider};
use snp_certs::error::CertError;
use snp_certs::product::Product;
use snp_certs::report::{offset, signer_info, SigningKey, SIGNED_LEN};
use snp_certs::roots::{AnchorSource, TrustAnchors};
use snp_certs::verify::{
    check, CheckStatus, Endorsements, VerificationOutcome, Verifier, VerifyError,
};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::crl::CertificateList;
use x509_cert::{Certificate, TbsCertificate};

const NOW: u64 = 1_795_564_800; // 2026-11-25

fn read(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/real")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

struct Keys {
    ark: RsaPrivateKey,
    ask: RsaPrivateKey,
    vcek: p384::ecdsa::SigningKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = rand::thread_rng();
        Keys {
            ark: RsaPrivateKey::new(&mut rng, 2048).expect("RSA keygen"),
            ask: RsaPrivateKey::new(&mut rng, 2048).expect("RSA keygen"),
            vcek: p384::ecdsa::SigningKey::random(&mut rng),
        }
    })
}

fn rsa_spki(k: &RsaPrivateKey) -> SubjectPublicKeyInfoOwned {
    let der = k.to_public_key().to_public_key_der().expect("spki");
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).expect("spki")
}

fn p384_spki(k: &p384::ecdsa::SigningKey) -> SubjectPublicKeyInfoOwned {
    let der = p384::PublicKey::from(k.verifying_key())
        .to_public_key_der()
        .expect("spki");
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).expect("spki")
}

/// RSASSA-PSS AlgorithmIdentifier with the given hash OID and salt length.
fn pss_alg(hash: der::asn1::ObjectIdentifier, salt: u8) -> AlgorithmIdentifierOwned {
    use const_oid::db::rfc5912::{ID_MGF_1, ID_RSASSA_PSS};
    let params = rsa::pkcs1::RsaPssParams {
        hash: spki::AlgorithmIdentifierRef {
            oid: hash,
            parameters: Some(der::asn1::AnyRef::NULL),
        },
        mask_gen: spki::AlgorithmIdentifier {
            oid: ID_MGF_1,
            parameters: Some(spki::AlgorithmIdentifierRef {
                oid: hash,
                parameters: Some(der::asn1::AnyRef::NULL),
            }),
        },
        salt_len: salt,
        trailer_field: Default::default(),
    };
    let any = der::Any::from_der(&params.to_der().expect("encode")).expect("any");
    AlgorithmIdentifierOwned {
        oid: ID_RSASSA_PSS,
        parameters: Some(any),
    }
}

/// Re-key and re-sign a real certificate. `alg` replaces the signature algorithm (both
/// copies) when given; `salt` is the salt actually used to sign.
fn forge(
    template: &[u8],
    spki: SubjectPublicKeyInfoOwned,
    signer: &RsaPrivateKey,
    alg: Option<AlgorithmIdentifierOwned>,
    salt: usize,
    edit: impl FnOnce(&mut TbsCertificate),
) -> Vec<u8> {
    let mut cert = Certificate::from_der(template).expect("template parses");
    cert.tbs_certificate.subject_public_key_info = spki;
    if let Some(alg) = alg {
        cert.tbs_certificate.signature = alg.clone();
        cert.signature_algorithm = alg;
    }
    edit(&mut cert.tbs_certificate);
    let tbs = cert.tbs_certificate.to_der().expect("tbs");
    let sk = rsa::pss::SigningKey::<sha2::Sha384>::new_with_salt_len(signer.clone(), salt);
    let sig = sk.sign_with_rng(&mut rand::thread_rng(), &tbs);
    cert.signature = BitString::from_bytes(&sig.to_bytes()).expect("bits");
    cert.to_der().expect("cert")
}

/// Sign report bytes 0..0x2A0 with `key`, writing R and S little-endian.
fn sign_report(report: &mut [u8], key: &p384::ecdsa::SigningKey) {
    use sha2::Digest;
    let digest = sha2::Sha384::digest(&report[..SIGNED_LEN]);
    let sig: p384::ecdsa::Signature = key.sign_prehash(&digest).expect("sign");
    let (r, s) = sig.split_bytes();
    report[offset::SIGNATURE_R..offset::SIGNATURE_R + 72].fill(0);
    report[offset::SIGNATURE_S..offset::SIGNATURE_S + 72].fill(0);
    for (i, b) in r.iter().rev().enumerate() {
        report[offset::SIGNATURE_R + i] = *b;
    }
    for (i, b) in s.iter().rev().enumerate() {
        report[offset::SIGNATURE_S + i] = *b;
    }
}

fn set_ext(tbs: &mut TbsCertificate, oid: &str, value: Vec<u8>) {
    let oid = der::asn1::ObjectIdentifier::new_unwrap(oid);
    let exts = tbs.extensions.as_mut().expect("extensions");
    let e = exts
        .iter_mut()
        .find(|e| e.extn_id == oid)
        .expect("extension present");
    e.extn_value = OctetString::new(value).expect("octets");
}

struct Forgery {
    ark: Vec<u8>,
    ask: Vec<u8>,
    vcek: Vec<u8>,
    report: Vec<u8>,
}

/// A complete forged Milan chain + report (AMD names, genuine VCEK extensions of virtee's chip).
fn forgery_with(
    edit_vcek: impl FnOnce(&mut TbsCertificate),
    edit_report: impl FnOnce(&mut Vec<u8>),
) -> Forgery {
    let k = keys();
    let chain = pem_certificates(&read("go-sev-guest/ask_ark_milan.pem")).expect("pem");
    let ark = forge(&chain[1], rsa_spki(&k.ark), &k.ark, None, 48, |_| {});
    let ask = forge(&chain[0], rsa_spki(&k.ask), &k.ark, None, 48, |_| {});
    let vcek = forge(
        &read("virtee-sev/vcek_milan.der"),
        p384_spki(&k.vcek),
        &k.ask,
        None,
        48,
        edit_vcek,
    );
    let mut report = read("virtee-sev/report_milan.bin");
    edit_report(&mut report);
    sign_report(&mut report, &k.vcek);
    Forgery {
        ark,
        ask,
        vcek,
        report,
    }
}

fn forgery() -> Forgery {
    forgery_with(|_| {}, |_| {})
}

fn forged_anchors(f: &Forgery) -> TrustAnchors {
    TrustAnchors::explicit()
        .with_chain(Product::Milan, &f.ark, Some(&f.ask), None)
        .expect("forged anchors parse")
}

fn run(
    anchors: &TrustAnchors,
    p: &Arc<dyn CryptoProvider>,
    report: &[u8],
    e: &Endorsements,
) -> VerificationOutcome {
    Verifier::with_provider(anchors.clone(), p.clone())
        .at_unix(NOW)
        .verify_detailed(report, e)
}

#[test]
fn forged_chain_with_amd_names_is_rejected_by_pinned_roots() {
    let f = forgery();
    for p in available_providers() {
        // The forgery is well-formed: with its own root supplied explicitly it verifies, and
        // the evidence says which roots anchored it.
        let out = run(
            &forged_anchors(&f),
            &p,
            &f.report,
            &Endorsements::new(f.vcek.clone()),
        );
        let ev = out
            .result
            .unwrap_or_else(|e| panic!("forgery should verify under its own root: {e}"));
        assert_eq!(ev.anchor_source(), AnchorSource::Explicit);
        // Against AMD's pinned roots: the VCEK is not signed by AMD's ASK.
        let out = run(
            &TrustAnchors::amd(),
            &p,
            &f.report,
            &Endorsements::new(f.vcek.clone()),
        );
        assert_eq!(out.failed(), [check::VEK_SIGNED_BY_ASK], "{:?}", out.checks);
        // Serving the forged ASK/ARK as the host's chain does not help; it is reported.
        let e = Endorsements::new(f.vcek.clone())
            .with_host_chain(Some(f.ask.clone()), Some(f.ark.clone()));
        let out = run(&TrustAnchors::amd(), &p, &f.report, &e);
        assert_eq!(
            out.failed(),
            [check::HOST_CERTIFICATES, check::VEK_SIGNED_BY_ASK]
        );
        assert!(matches!(
            out.result,
            Err(VerifyError::HostCertificate { role: "ARK", .. })
        ));
    }
}

#[test]
fn isolated_tcb_mismatch() {
    // VCEK issued for snpSPL 9 while the report says 8: only the TCB binding fails.
    let f = forgery_with(
        |tbs| set_ext(tbs, "1.3.6.1.4.1.3704.1.3.3", vec![2, 1, 9]),
        |_| {},
    );
    for p in available_providers() {
        let out = run(
            &forged_anchors(&f),
            &p,
            &f.report,
            &Endorsements::new(f.vcek.clone()),
        );
        assert_eq!(out.failed(), [check::TCB_BINDING]);
        assert!(matches!(out.result, Err(VerifyError::TcbMismatch { .. })));
    }
}

#[test]
fn isolated_chip_id_mismatch() {
    let f = forgery_with(
        |tbs| set_ext(tbs, "1.3.6.1.4.1.3704.1.4", vec![0x5A; 64]),
        |_| {},
    );
    for p in available_providers() {
        let out = run(
            &forged_anchors(&f),
            &p,
            &f.report,
            &Endorsements::new(f.vcek.clone()),
        );
        assert_eq!(out.failed(), [check::CHIP_ID_BINDING]);
        assert!(matches!(
            out.result,
            Err(VerifyError::ChipIdMismatch { .. })
        ));
    }
    // A Turin-length (8-byte) hwID on a Milan VCEK cannot bind a Milan chip.
    let f = forgery_with(
        |tbs| set_ext(tbs, "1.3.6.1.4.1.3704.1.4", vec![0x5A; 8]),
        |_| {},
    );
    let out = run(
        &forged_anchors(&f),
        &available_providers()[0],
        &f.report,
        &Endorsements::new(f.vcek.clone()),
    );
    assert_eq!(out.failed(), [check::CHIP_ID_BINDING]);
    let names: Vec<&str> = out.checks.iter().map(|c| c.name).collect();
    assert_eq!(names, check::ALL);
}

#[test]
fn isolated_signer_mismatch() {
    for (key, mask) in [
        (SigningKey::Vlek, false),
        (SigningKey::None, false),
        (SigningKey::Vcek, true),
    ] {
        let f = forgery_with(
            |_| {},
            |r| {
                r[offset::SIGNER_INFO..offset::SIGNER_INFO + 4]
                    .copy_from_slice(&signer_info::encode(key, false, mask).to_le_bytes())
            },
        );
        for p in available_providers() {
            let out = run(
                &forged_anchors(&f),
                &p,
                &f.report,
                &Endorsements::new(f.vcek.clone()),
            );
            assert_eq!(out.failed(), [check::SIGNER_BINDING], "{key} mask {mask}");
        }
    }
}

#[test]
fn hw_id_wrapped_in_octet_string_is_accepted() {
    let report = read("virtee-sev/report_milan.bin");
    let mut wrapped = vec![0x04, 0x40];
    wrapped.extend_from_slice(&report[offset::CHIP_ID..offset::CHIP_ID + 64]);
    let f = forgery_with(|tbs| set_ext(tbs, "1.3.6.1.4.1.3704.1.4", wrapped), |_| {});
    let p = &available_providers()[0];
    let out = run(
        &forged_anchors(&f),
        p,
        &f.report,
        &Endorsements::new(f.vcek.clone()),
    );
    assert!(out.result.is_ok(), "{:?}", out.checks);
}

#[test]
fn unknown_critical_extension_is_rejected() {
    let f = forgery_with(
        |tbs| {
            let exts = tbs.extensions.as_mut().expect("extensions");
            exts.push(x509_cert::ext::Extension {
                extn_id: der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.99"),
                critical: true,
                extn_value: OctetString::new(vec![5, 0]).expect("octets"),
            });
        },
        |_| {},
    );
    let p = &available_providers()[0];
    let out = run(
        &forged_anchors(&f),
        p,
        &f.report,
        &Endorsements::new(f.vcek.clone()),
    );
    assert!(matches!(
        out.result,
        Err(VerifyError::Certificate(
            CertError::UnknownCriticalExtension { .. }
        ))
    ));
    // The same extension, non-critical, is ignored.
    let f = forgery_with(
        |tbs| {
            let exts = tbs.extensions.as_mut().expect("extensions");
            exts.push(x509_cert::ext::Extension {
                extn_id: der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.99"),
                critical: false,
                extn_value: OctetString::new(vec![5, 0]).expect("octets"),
            });
        },
        |_| {},
    );
    assert!(run(
        &forged_anchors(&f),
        p,
        &f.report,
        &Endorsements::new(f.vcek.clone())
    )
    .result
    .is_ok());
}

#[test]
fn pss_parameters_must_be_exact() {
    use const_oid::db::rfc5912::{ID_SHA_256, ID_SHA_384, SHA_384_WITH_RSA_ENCRYPTION};
    let k = keys();
    let base = forgery();
    let report = base.report.clone();
    let anchors = forged_anchors(&base);
    let p = &available_providers()[0];
    let vcek_template = read("virtee-sev/vcek_milan.der");
    let cases: Vec<(&str, AlgorithmIdentifierOwned, usize)> = vec![
        ("salt 32", pss_alg(ID_SHA_384, 32), 32),
        ("SHA-256", pss_alg(ID_SHA_256, 48), 48),
        (
            "PKCS#1 v1.5 OID",
            AlgorithmIdentifierOwned {
                oid: SHA_384_WITH_RSA_ENCRYPTION,
                parameters: Some(der::Any::null()),
            },
            48,
        ),
    ];
    for (what, alg, salt) in cases {
        let vcek = forge(
            &vcek_template,
            p384_spki(&k.vcek),
            &k.ask,
            Some(alg),
            salt,
            |_| {},
        );
        let out = run(&anchors, p, &report, &Endorsements::new(vcek));
        assert!(
            matches!(
                out.result,
                Err(VerifyError::Certificate(
                    CertError::SignatureAlgorithm { .. }
                ))
            ),
            "{what}: {:?}",
            out.result
        );
    }
    // The exact parameters written without the trailerField (67 bytes) verify.
    let vcek = forge(
        &vcek_template,
        p384_spki(&k.vcek),
        &k.ask,
        Some(pss_alg(ID_SHA_384, 48)),
        48,
        |_| {},
    );
    let alg_len = Certificate::from_der(&vcek)
        .expect("parses")
        .signature_algorithm
        .to_der()
        .expect("der")
        .len();
    assert_eq!(alg_len, 67);
    assert!(run(&anchors, p, &report, &Endorsements::new(vcek))
        .result
        .is_ok());
    // Signed with a salt other than the declared 48: the signature does not verify.
    let vcek = forge(&vcek_template, p384_spki(&k.vcek), &k.ask, None, 32, |_| {});
    let out = run(&anchors, p, &report, &Endorsements::new(vcek));
    assert_eq!(out.failed(), [check::VEK_SIGNED_BY_ASK]);
}

#[test]
fn anchor_profile_is_enforced() {
    let k = keys();
    let chain = pem_certificates(&read("go-sev-guest/ask_ark_milan.pem")).expect("pem");
    let f = forgery();
    let p = &available_providers()[0];
    // An ASK without basicConstraints CA:TRUE cannot sign.
    let ask_no_ca = forge(&chain[0], rsa_spki(&k.ask), &k.ark, None, 48, |tbs| {
        tbs.extensions
            .as_mut()
            .expect("extensions")
            .retain(|e| e.extn_id != const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS);
    });
    let anchors = TrustAnchors::explicit()
        .with_chain(Product::Milan, &f.ark, Some(&ask_no_ca), None)
        .expect("parses");
    let out = run(&anchors, p, &f.report, &Endorsements::new(f.vcek.clone()));
    assert_eq!(out.failed(), [check::ASK_SIGNED_BY_ARK]);
    // An "ARK" that is not self-signed (signed by the ASK key).
    let ark_bad = forge(&chain[1], rsa_spki(&k.ark), &k.ask, None, 48, |_| {});
    let anchors = TrustAnchors::explicit()
        .with_chain(Product::Milan, &ark_bad, Some(&f.ask), None)
        .expect("parses");
    let out = run(&anchors, p, &f.report, &Endorsements::new(f.vcek.clone()));
    assert_eq!(out.failed(), [check::ARK_SELF_SIGNATURE]);
    // The CA certificate used as the report's key certificate is refused.
    let out = run(
        &forged_anchors(&f),
        p,
        &f.report,
        &Endorsements::new(f.ask.clone()),
    );
    assert!(matches!(out.result, Err(VerifyError::Certificate(_))));
}

#[test]
fn crl_revoking_the_intermediate() {
    let k = keys();
    let f = forgery();
    let anchors = forged_anchors(&f);
    // Template: the real Genoa CRL; re-issued by the forged (Milan-named) ARK, revoking the
    // ASK's serial, with a window around NOW.
    let mut crl =
        CertificateList::from_der(&read("cyntrisec-cml-transport/crl_886a378d.crl")).expect("crl");
    let ark = Certificate::from_der(&f.ark).expect("ark");
    let ask = Certificate::from_der(&f.ask).expect("ask");
    crl.tbs_cert_list.issuer = ark.tbs_certificate.subject.clone();
    let t = |secs: u64| {
        x509_cert::time::Time::UtcTime(
            der::asn1::UtcTime::from_unix_duration(std::time::Duration::from_secs(secs))
                .expect("time"),
        )
    };
    crl.tbs_cert_list.this_update = t(NOW - 86_400);
    crl.tbs_cert_list.next_update = Some(t(NOW + 86_400));
    let sign = |crl: &mut CertificateList| {
        let tbs = crl.tbs_cert_list.to_der().expect("tbs");
        let sk = rsa::pss::SigningKey::<sha2::Sha384>::new_with_salt_len(k.ark.clone(), 48);
        crl.signature =
            BitString::from_bytes(&sk.sign_with_rng(&mut rand::thread_rng(), &tbs).to_bytes())
                .expect("bits");
        crl.to_der().expect("der")
    };
    let mut clean = crl.clone();
    clean.tbs_cert_list.revoked_certificates = None;
    let clean = sign(&mut clean);
    if let Some(list) = crl.tbs_cert_list.revoked_certificates.as_mut() {
        list[0].serial_number = ask.tbs_certificate.serial_number.clone();
    }
    let revoking = sign(&mut crl);
    for p in available_providers() {
        let out = run(
            &anchors,
            &p,
            &f.report,
            &Endorsements::new(f.vcek.clone()).with_crl(clean.clone()),
        );
        assert!(out.result.is_ok(), "{:?}", out.checks);
        let out = run(
            &anchors,
            &p,
            &f.report,
            &Endorsements::new(f.vcek.clone()).with_crl(revoking.clone()),
        );
        assert_eq!(out.failed(), [check::CRL]);
        assert!(matches!(
            out.result,
            Err(VerifyError::Crl(snp_certs::error::CrlError::Revoked {
                role: "ASK",
                ..
            }))
        ));
        // The KDS-side CRL check refuses a CRL revoking an anchor outright.
        let v = Verifier::with_provider(anchors.clone(), p.clone()).at_unix(NOW);
        assert!(v.verify_crl(Product::Milan, &revoking).is_err());
        assert!(v
            .verify_crl(Product::Milan, &clean)
            .expect("verifies")
            .is_current());
        // The real ARK-Milan did not sign it.
        let amd = Verifier::with_provider(TrustAnchors::amd(), p.clone()).at_unix(NOW);
        assert!(amd.verify_crl(Product::Milan, &clean).is_err());
    }
}

/// A CRL issued by the forgery's ARK for thisUpdate..nextUpdate, revoking the ASK or nothing.
fn forged_crl(f: &Forgery, this_update: u64, next_update: u64, revoke_ask: bool) -> Vec<u8> {
    let k = keys();
    let mut crl =
        CertificateList::from_der(&read("cyntrisec-cml-transport/crl_886a378d.crl")).expect("crl");
    let ark = Certificate::from_der(&f.ark).expect("ark");
    let ask = Certificate::from_der(&f.ask).expect("ask");
    crl.tbs_cert_list.issuer = ark.tbs_certificate.subject.clone();
    let t = |secs: u64| {
        x509_cert::time::Time::UtcTime(
            der::asn1::UtcTime::from_unix_duration(std::time::Duration::from_secs(secs))
                .expect("time"),
        )
    };
    crl.tbs_cert_list.this_update = t(this_update);
    crl.tbs_cert_list.next_update = Some(t(next_update));
    if revoke_ask {
        if let Some(list) = crl.tbs_cert_list.revoked_certificates.as_mut() {
            list[0].serial_number = ask.tbs_certificate.serial_number.clone();
        }
    } else {
        crl.tbs_cert_list.revoked_certificates = None;
    }
    let tbs = crl.tbs_cert_list.to_der().expect("tbs");
    let sk = rsa::pss::SigningKey::<sha2::Sha384>::new_with_salt_len(k.ark.clone(), 48);
    crl.signature =
        BitString::from_bytes(&sk.sign_with_rng(&mut rand::thread_rng(), &tbs).to_bytes())
            .expect("bits");
    crl.to_der().expect("der")
}

#[test]
fn host_crl_stale_warns_revoking_fails() {
    // Issue 17: a CRL the host serves is enforced for its signature and revocations, but being
    // past nextUpdate is only a warning unless the relying party asked for CRL checking.
    let f = forgery();
    let anchors = forged_anchors(&f);
    const DAY: u64 = 86_400;
    let current = forged_crl(&f, NOW - DAY, NOW + DAY, false);
    let stale = forged_crl(&f, NOW - 40 * DAY, NOW - 10 * DAY, false);
    let stale_revoking = forged_crl(&f, NOW - 40 * DAY, NOW - 10 * DAY, true);
    let current_revoking = forged_crl(&f, NOW - DAY, NOW + DAY, true);
    let host = |crl: &[u8]| Endorsements::new(f.vcek.clone()).with_host_crl(crl.to_vec());
    for p in available_providers() {
        let required = |e: &Endorsements| {
            Verifier::with_provider(anchors.clone(), p.clone())
                .at_unix(NOW)
                .crl_policy(snp_certs::verify::CrlPolicy::Required)
                .verify_detailed(&f.report, e)
        };
        // A current host CRL passes.
        let out = run(&anchors, &p, &f.report, &host(&current));
        assert!(out.result.is_ok(), "{:?}", out.checks);
        assert_eq!(
            out.check(check::CRL).map(|c| c.status),
            Some(CheckStatus::Pass)
        );

        // A stale host CRL: verified, with a warning that names it.
        let out = run(&anchors, &p, &f.report, &host(&stale));
        let verified = out.result.as_ref().expect("stale host CRL only warns");
        assert_eq!(out.warnings(), [check::CRL]);
        assert!(out.failed().is_empty());
        let c = out.check(check::CRL).expect("listed");
        assert_eq!(c.status, CheckStatus::Warn);
        assert!(
            c.detail.contains("host-served CRL") && c.detail.contains("not current"),
            "{}",
            c.detail
        );
        assert_eq!(
            verified.warnings().map(|c| c.name).collect::<Vec<_>>(),
            [check::CRL]
        );
        // ... but a failure when the relying party asked for CRL checking.
        let out = required(&host(&stale));
        assert_eq!(out.failed(), [check::CRL]);
        assert!(matches!(
            out.result,
            Err(VerifyError::Crl(snp_certs::error::CrlError::Stale { .. }))
        ));
        // ... and a current CRL of the relying party's does not excuse it then.
        let out = required(&host(&stale).with_crl(current.clone()));
        assert_eq!(out.failed(), [check::CRL]);
        // Without CRL checking asked for, the relying party's current CRL passes and the stale
        // host one still warns.
        let out = run(
            &anchors,
            &p,
            &f.report,
            &host(&stale).with_crl(current.clone()),
        );
        assert!(out.result.is_ok());
        assert_eq!(out.warnings(), [check::CRL]);

        // A host CRL revoking the chain fails, stale or current, whatever the policy.
        for crl in [&stale_revoking, &current_revoking] {
            for out in [
                run(&anchors, &p, &f.report, &host(crl)),
                required(&host(crl)),
            ] {
                assert_eq!(out.failed(), [check::CRL]);
                assert!(matches!(
                    out.result,
                    Err(VerifyError::Crl(snp_certs::error::CrlError::Revoked {
                        role: "ASK",
                        ..
                    }))
                ));
                let c = out.check(check::CRL).expect("listed");
                assert!(c.detail.starts_with("host-served CRL: "), "{}", c.detail);
            }
        }
        // Also beside a clean CRL of the relying party's: every CRL present counts.
        let out = run(
            &anchors,
            &p,
            &f.report,
            &host(&current_revoking).with_crl(current.clone()),
        );
        assert_eq!(out.failed(), [check::CRL]);

        // A host CRL the anchor ARK did not sign fails (here AMD's real Genoa CRL).
        let out = run(
            &anchors,
            &p,
            &f.report,
            &host(&read("cyntrisec-cml-transport/crl_886a378d.crl")),
        );
        assert_eq!(out.failed(), [check::CRL]);

        // The relying party's own stale CRL still fails (unchanged).
        let out = run(
            &anchors,
            &p,
            &f.report,
            &Endorsements::new(f.vcek.clone()).with_crl(stale.clone()),
        );
        assert_eq!(out.failed(), [check::CRL]);
    }
}

#[test]
fn turin_forgery_binds_fmc_and_8_byte_hw_id() {
    let k = keys();
    let chain = pem_certificates(&read("go-sev-guest/ask_ark_turin_vcek.pem")).expect("pem");
    let ark = forge(&chain[1], rsa_spki(&k.ark), &k.ark, None, 48, |_| {});
    let ask = forge(&chain[0], rsa_spki(&k.ask), &k.ark, None, 48, |_| {});
    let anchors = TrustAnchors::explicit()
        .with_chain(Product::Turin, &ark, Some(&ask), None)
        .expect("anchors");
    let template = read("oak/turin_oc_endorsements_vcek_14889815.der");
    let mut report = read("oak/turin_oc_evidence_report_3f44a09b.bin");
    sign_report(&mut report, &k.vcek);
    let p = &available_providers()[0];
    let genuine = forge(&template, p384_spki(&k.vcek), &k.ask, None, 48, |_| {});
    let ev = run(&anchors, p, &report, &Endorsements::new(genuine))
        .result
        .expect("verifies");
    assert_eq!(ev.chip_id().map(<[u8]>::len), Some(8));
    assert_eq!(ev.tcb().fmc, Some(0));
    assert_eq!(ev.cert_kind(), CertKind::Vcek);
    // fmcSPL 1 in the certificate vs FMC 0 in the report.
    let fmc = forge(&template, p384_spki(&k.vcek), &k.ask, None, 48, |tbs| {
        set_ext(tbs, "1.3.6.1.4.1.3704.1.3.9", vec![2, 1, 1])
    });
    assert_eq!(
        run(&anchors, p, &report, &Endorsements::new(fmc)).failed(),
        [check::TCB_BINDING]
    );
    // Another chip's 8-byte hwID.
    let chip = forge(&template, p384_spki(&k.vcek), &k.ask, None, 48, |tbs| {
        set_ext(tbs, "1.3.6.1.4.1.3704.1.4", vec![1, 2, 3, 4, 5, 6, 7, 8])
    });
    assert_eq!(
        run(&anchors, p, &report, &Endorsements::new(chip)).failed(),
        [check::CHIP_ID_BINDING]
    );
}
