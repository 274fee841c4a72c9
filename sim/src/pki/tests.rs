use super::*;
use x509_cert::ext::pkix::BasicConstraints;

const SEED: [u8; 32] = [7u8; 32];

fn chip(n: u8) -> [u8; 64] {
    let mut c = [0u8; 64];
    for (i, b) in c.iter_mut().enumerate() {
        *b = n.wrapping_mul(31).wrapping_add(i as u8);
    }
    c
}

fn ext(cert: &Certificate, oid: ObjectIdentifier) -> Option<&Extension> {
    cert.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == oid)
}

#[test]
fn ca_certificates_have_amd_shape() {
    for p in Product::ALL {
        let ca = ProductCa::get(p).unwrap();
        let ark = Certificate::from_der(ca.ark_der()).unwrap();
        assert_eq!(ark.tbs_certificate.issuer, ark.tbs_certificate.subject);
        assert_eq!(
            ark.tbs_certificate.subject.to_string(),
            format!(
                "CN={},O=Advanced Micro Devices,ST=CA,L=Santa Clara,C=US,OU=Engineering",
                p.ark_common_name()
            )
        );
        // RSASSA-PSS with explicit SHA-384 / MGF1-SHA-384 / salt 48 parameters.
        assert_eq!(
            ark.signature_algorithm.oid,
            ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10")
        );
        let params = ark
            .signature_algorithm
            .parameters
            .as_ref()
            .unwrap()
            .to_der()
            .unwrap();
        let pss = rsa::pkcs1::RsaPssParams::from_der(&params).unwrap();
        assert_eq!(pss.salt_len, 48);
        assert_eq!(pss.hash.oid, const_oid::db::rfc5912::ID_SHA_384);
        assert_eq!(
            pss.mask_gen.parameters.unwrap().oid,
            const_oid::db::rfc5912::ID_SHA_384
        );
        let ask = Certificate::from_der(ca.ask_der()).unwrap();
        assert_eq!(ask.tbs_certificate.issuer, ark.tbs_certificate.subject);
        let bc = ext(&ask, BasicConstraints::OID).unwrap();
        assert!(bc.critical);
        let bc = BasicConstraints::from_der(bc.extn_value.as_bytes()).unwrap();
        assert!(bc.ca);
        assert_eq!(bc.path_len_constraint, Some(0));
        let asvk = Certificate::from_der(ca.asvk_der()).unwrap();
        assert!(asvk
            .tbs_certificate
            .subject
            .to_string()
            .starts_with(&format!("CN=SEV-VLEK-{}", p.kds_name())));
    }
}

#[test]
fn vcek_extensions_per_product() {
    for p in Product::ALL {
        let ca = ProductCa::get(p).unwrap();
        let tcb = if p.has_fmc() {
            Tcb::with_fmc(1, 2, 0, 3, 200)
        } else {
            Tcb::new(3, 0, 8, 0x73)
        };
        let k = ca.issue_vcek(&SEED, &chip(1), &tcb).unwrap();
        let cert = Certificate::from_der(&k.cert_der).unwrap();
        assert_eq!(cert.tbs_certificate.serial_number.as_bytes(), &[0]);
        assert!(cert
            .tbs_certificate
            .subject
            .to_string()
            .starts_with("CN=SEV-VCEK,"));
        assert_eq!(
            cert.tbs_certificate.issuer,
            ca.ask().tbs_certificate.subject
        );
        let sv = ext(&cert, oid::STRUCT_VERSION)
            .unwrap()
            .extn_value
            .as_bytes();
        assert_eq!(
            sv,
            if p == Product::Turin {
                &[2u8, 1, 1][..]
            } else {
                &[2u8, 1, 0][..]
            }
        );
        let hwid = ext(&cert, oid::HW_ID).unwrap().extn_value.as_bytes();
        assert_eq!(hwid, &chip(1)[..p.hwid_len()]);
        assert_eq!(ext(&cert, oid::SPL_4).is_some(), p != Product::Turin);
        assert_eq!(ext(&cert, oid::FMC_SPL).is_some(), p == Product::Turin);
        let ucode = ext(&cert, oid::UCODE_SPL).unwrap().extn_value.as_bytes();
        let expect_ucode: &[u8] = if p == Product::Turin {
            &[2, 2, 0, 200]
        } else {
            &[2, 1, 0x73]
        };
        assert_eq!(ucode, expect_ucode);
        assert!(ext(&cert, oid::CSP_ID).is_none());
        // The certified key is the one the firmware signs with.
        let spki = p384::PublicKey::from_public_key_der(
            &cert
                .tbs_certificate
                .subject_public_key_info
                .to_der()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(spki, p384::PublicKey::from(k.signing_key.verifying_key()));
    }
}

use p384::pkcs8::DecodePublicKey;

#[test]
fn vcek_key_depends_on_chip_and_tcb_and_is_deterministic() {
    let ca = ProductCa::get(Product::Milan).unwrap();
    let t1 = Tcb::new(3, 0, 8, 0x73);
    let t2 = Tcb::new(3, 0, 9, 0x73);
    let a = ca.issue_vcek(&SEED, &chip(1), &t1).unwrap();
    let a2 = ca.issue_vcek(&SEED, &chip(1), &t1).unwrap();
    let b = ca.issue_vcek(&SEED, &chip(1), &t2).unwrap();
    let c = ca.issue_vcek(&SEED, &chip(2), &t1).unwrap();
    assert_eq!(a.cert_der, a2.cert_der);
    assert_ne!(a.signing_key.verifying_key(), b.signing_key.verifying_key());
    assert_ne!(a.signing_key.verifying_key(), c.signing_key.verifying_key());
}

#[test]
fn vlek_carries_csp_id_and_no_hwid() {
    let ca = ProductCa::get(Product::Genoa).unwrap();
    let k = ca
        .issue_vlek(&SEED, "CN=cc-sim.example", &Tcb::new(10, 0, 25, 84))
        .unwrap();
    let cert = Certificate::from_der(&k.cert_der).unwrap();
    assert_eq!(
        cert.tbs_certificate.issuer,
        ca.asvk().tbs_certificate.subject
    );
    assert!(ext(&cert, oid::HW_ID).is_none());
    let csp = ext(&cert, oid::CSP_ID).unwrap().extn_value.as_bytes();
    assert_eq!(
        Ia5String::from_der(csp).unwrap().as_str(),
        "CN=cc-sim.example"
    );
    let pn = ext(&cert, oid::PRODUCT_NAME).unwrap().extn_value.as_bytes();
    assert_eq!(Ia5String::from_der(pn).unwrap().as_str(), "Genoa");
}

#[test]
fn sim_roots_pem_bundle() {
    let pem = SimRoots::for_product(Product::Turin)
        .unwrap()
        .to_pem()
        .unwrap();
    assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), 3);
    let chain = ProductCa::get(Product::Turin)
        .unwrap()
        .vcek_chain_pem()
        .unwrap();
    assert_eq!(chain.matches("-----BEGIN CERTIFICATE-----").count(), 2);
}
