//! Harnesses for `snp-certs` parsers. Uses only `snp_certs` and `std`, because
//! `certs/tests/fuzz_corpus_replay.rs` includes this file as a module.
//!
//! A harness must never panic on any input; where it asserts, the assertion states an invariant
//! of the parser (a panic found by the fuzzer is a bug in the parser, not in the input).

use snp_certs::table::{CertTable, CertTableBuilder, PAGE_SIZE};

/// Parse a host-served certificate table, use every accessor and `der()`, and check that what
/// parsed rebuilds to a table that parses to the same entries.
pub fn cert_table(data: &[u8]) {
    let table = match CertTable::parse(data) {
        Ok(t) => t,
        Err(e) => {
            // Error messages are shown to operators: rendering them must not panic either.
            let _ = e.to_string();
            return;
        }
    };
    let header_len = table.header_len();
    assert!(header_len <= data.len(), "header past the buffer");
    assert!(table.used_len() <= data.len(), "payload past the buffer");
    let _ = (
        table.vcek(),
        table.vlek(),
        table.ask(),
        table.ark(),
        table.is_empty(),
    );

    let mut rebuilt = CertTableBuilder::new();
    for entry in table.entries() {
        let start = entry.offset as usize;
        assert!(start >= header_len, "payload inside the header");
        assert!(!entry.bytes.is_empty(), "zero-length entry accepted");
        assert_eq!(
            data.get(start..start + entry.bytes.len()),
            Some(entry.bytes),
            "entry bytes are not the buffer's bytes at its offset"
        );
        let _ = entry.is_pem();
        match entry.der() {
            Ok(der) => assert!(!der.is_empty(), "empty DER accepted"),
            Err(e) => {
                let _ = e.to_string();
            }
        }
        let _ = entry.kind.to_string();
        let _ = entry.guid.to_string().parse::<snp_certs::table::Guid>();
        rebuilt.push(entry.guid, entry.bytes);
    }

    // Anything the parser accepts, the builder can serve again, and it parses identically.
    let bytes = rebuilt
        .build_padded(PAGE_SIZE)
        .expect("a parsed table must rebuild");
    let again = CertTable::parse(&bytes).expect("a rebuilt table must parse");
    assert_eq!(again.len(), table.len());
    for (a, b) in again.entries().iter().zip(table.entries()) {
        assert_eq!((a.guid, a.kind, a.bytes), (b.guid, b.kind, b.bytes));
    }
}

// ---------------------------------------------------------------------------------------------
// report_view
// ---------------------------------------------------------------------------------------------

use snp_certs::chain::{fmt_time, pem_certificates, serial_hex, AmdCert, CertKind, PublicKey};
use snp_certs::crl::Crl;
use snp_certs::crypto::{default_provider, CryptoProvider};
use snp_certs::extensions::{oid, VekExtensions};
use snp_certs::product::{Cpuid, Product};
use snp_certs::report::{
    signer_info, ReportView, SigningKey, FIRST_VERSION_WITH_CPUID, FIRST_VERSION_WITH_MIT_VECTORS,
    REPORT_SIZE, SIGNED_LEN,
};
use snp_certs::roots::{amd_chain_pems, TrustAnchors};
use snp_certs::tcb::{Tcb, TCB_LEN};
use snp_certs::verify::{CrlPolicy, Endorsements, Verifier};

/// Decode one TCB field for every product and check the codec invariants: a strict decode
/// agrees with the lenient one and re-encodes to exactly the received bytes.
fn tcb_field(raw: [u8; TCB_LEN]) {
    for product in Product::ALL {
        let lenient = Tcb::decode_lenient(raw, product);
        let _ = lenient.to_string();
        assert_eq!(lenient.fmc.is_some(), product.has_fmc(), "FMC presence");
        match Tcb::decode(raw, product) {
            Ok(tcb) => {
                assert_eq!(tcb, lenient, "strict and lenient decode differ");
                assert_eq!(tcb.encode(product), raw, "TCB does not round-trip");
                assert_eq!(tcb.try_encode(product).ok(), Some(raw));
                assert_eq!(tcb.to_u64(product), u64::from_le_bytes(raw));
            }
            Err(e) => {
                let _ = e.to_string();
                assert_ne!(lenient.encode(product), raw, "rejected a canonical TCB");
            }
        }
    }
}

/// View the input as an attestation report (it must be exactly 0x4A0 bytes), use every
/// accessor, and decode the product and all four TCB fields for every product. Inputs of
/// another length are also zero-padded/truncated and viewed, so every input reaches the
/// accessors.
pub fn report_view(data: &[u8]) {
    match ReportView::new(data) {
        Ok(v) => {
            assert_eq!(data.len(), REPORT_SIZE);
            assert_eq!(&v.as_bytes()[..], data, "view is not the received bytes");
            report_accessors(&v);
        }
        Err(e) => {
            assert_ne!(data.len(), REPORT_SIZE, "a full-size report was refused");
            let _ = e.to_string();
        }
    }
    let mut fixed = [0u8; REPORT_SIZE];
    let n = data.len().min(REPORT_SIZE);
    fixed[..n].copy_from_slice(&data[..n]);
    report_accessors(&ReportView::from_array(&fixed));
}

fn report_accessors(v: &ReportView<'_>) {
    let bytes = v.as_bytes();
    assert_eq!(&v.signed_bytes()[..], &bytes[..SIGNED_LEN]);
    let _ = format!("{v:?}");
    let version = v.version();
    let _ = (
        v.guest_svn(),
        v.policy(),
        v.family_id(),
        v.image_id(),
        v.vmpl(),
    );
    let _ = (v.signature_algo(), v.platform_info(), v.report_data());
    let _ = (v.measurement(), v.host_data(), v.id_key_digest());
    let _ = (
        v.author_key_digest(),
        v.report_id(),
        v.report_id_ma(),
        v.chip_id(),
    );
    let _ = (v.signature_r(), v.signature_s());

    let info = v.signer_info();
    let key = v.signing_key();
    assert_eq!(key, signer_info::signing_key(info));
    assert_eq!(SigningKey::from_bits(key.bits()), key, "signing key bits");
    let _ = key.to_string();
    let rebuilt = signer_info::encode(key, v.author_key_en(), v.mask_chip_key());
    assert_eq!(rebuilt, info & !signer_info::RESERVED_MASK, "signer info");

    assert_eq!(
        v.chip_id_masked(),
        v.chip_id().iter().all(|&b| b == 0),
        "chip_id_masked"
    );
    let _ = (
        v.current_version().to_string(),
        v.committed_version().to_string(),
    );

    let cpuid = v.cpuid();
    assert_eq!(cpuid.is_some(), version >= FIRST_VERSION_WITH_CPUID);
    if let Some(c) = cpuid {
        let _ = c.to_string();
        let p = v.product_from_cpuid().expect("cpuid present");
        assert_eq!(
            p.as_ref().ok(),
            Product::from_cpuid(c.family, c.model).as_ref().ok()
        );
        match p {
            Ok(p) => {
                assert_eq!(p.kds_name().parse::<Product>().ok(), Some(p));
                let _ = (p.representative_cpuid(), Cpuid::product(&c));
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    } else {
        assert!(v.product_from_cpuid().is_none());
    }
    let mit = version >= FIRST_VERSION_WITH_MIT_VECTORS;
    assert_eq!(v.launch_mit_vector().is_some(), mit);
    assert_eq!(v.current_mit_vector().is_some(), mit);

    for raw in [
        v.reported_tcb_raw(),
        v.current_tcb_raw(),
        v.committed_tcb_raw(),
        v.launch_tcb_raw(),
    ] {
        tcb_field(raw);
    }
    for product in Product::ALL {
        let _ = (
            v.reported_tcb(product),
            v.current_tcb(product),
            v.committed_tcb(product),
            v.launch_tcb(product),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// vek_cert
// ---------------------------------------------------------------------------------------------

const ROLES: [&str; 5] = ["VCEK", "VLEK", "VEK", "ASK", "ARK"];

/// The pinned Milan and Genoa ARKs (to check CRL signatures against), parsed once.
fn arks() -> &'static [AmdCert] {
    static ARKS: std::sync::OnceLock<Vec<AmdCert>> = std::sync::OnceLock::new();
    ARKS.get_or_init(|| {
        Product::ALL
            .iter()
            .filter_map(|&p| {
                let ders = pem_certificates(amd_chain_pems(p).0.as_bytes()).ok()?;
                AmdCert::from_der("ARK", ders.last()?).ok()
            })
            .collect()
    })
}

fn provider() -> &'static dyn CryptoProvider {
    static P: std::sync::OnceLock<std::sync::Arc<dyn CryptoProvider>> = std::sync::OnceLock::new();
    &**P.get_or_init(default_provider)
}

/// Certificates and CRLs as served by a host or KDS. The first byte picks what the rest is:
/// `0..=4` a DER certificate in one of [`ROLES`], `5` a DER CRL, `6` PEM text of a certificate
/// chain, `7` a list of AMD extensions (`[oid index, len, value…]*`) for
/// `VekExtensions::parse`. Anything else is treated as a certificate in the VCEK role.
pub fn vek_cert(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel & 0x07 {
        r @ 0..=4 => cert(ROLES[usize::from(r)], rest),
        5 => crl(rest),
        6 => {
            if let Ok(ders) = pem_certificates(rest) {
                assert!(ders.len() <= 16, "PEM block cap");
                for der in ders {
                    cert("ASK", &der);
                }
            }
        }
        _ => extension_list(rest),
    }
}

fn cert(role: &'static str, der: &[u8]) {
    let c = match AmdCert::from_der(role, der) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert_eq!(c.der(), der, "certificate is not the received bytes");
    assert_eq!(c.role(), role);
    let _ = format!("{c:?}");
    let _ = (c.certificate(), c.spki_der(), c.common_name());
    let _ = (c.subject_der(), c.issuer_der());
    assert_eq!(c.serial_hex(), serial_hex(c.serial()));
    let _ = (fmt_time(c.not_before()), fmt_time(c.not_after()));
    for t in [0, c.not_before(), c.not_after(), u64::MAX] {
        assert_eq!(c.valid_at(t), c.check_validity(t).is_ok());
    }
    match c.public_key() {
        PublicKey::Rsa { bits, .. } => assert!((2048..=8192).contains(bits)),
        PublicKey::P384 { sec1 } => assert!(!sec1.is_empty()),
    }
    let _ = format!("{:?}", c.public_key());
    let _ = (c.check_ca(), c.check_crl_signer(), c.check_end_entity());
    // Self-issued check, and issued-by each pinned ARK: must fail cleanly, never panic.
    let _ = c.verify_issued_by(&c, provider());
    for ark in arks() {
        let _ = c.verify_issued_by(ark, provider());
    }
    extensions(role, c.amd_extensions());
    let _ = VekExtensions::from_certificate(role, c.certificate());
}

fn extensions(role: &'static str, ext: &VekExtensions) {
    let _ = format!("{ext:?}");
    match ext.product(role) {
        Ok(p) => {
            let name = ext.product_name.as_deref().unwrap_or_default();
            assert_eq!(Product::from_product_name(name).ok(), Some(p));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    for product in Product::ALL {
        if let Ok(tcb) = ext.tcb(role, product) {
            assert_eq!(tcb.fmc.is_some(), product.has_fmc(), "FMC presence");
            assert!(tcb.try_encode(product).is_ok());
        }
        if let Ok(id) = ext.hw_id_for(role, product) {
            assert_eq!(id.len(), product.hwid_len());
        }
    }
    if let Some(s) = &ext.product_name {
        assert!(s.len() <= 256 && s.is_ascii(), "product name bounds");
    }
    if let Some(s) = &ext.csp_id {
        assert!(s.len() <= 256 && s.is_ascii(), "cspId bounds");
    }
    if let Some(id) = &ext.hw_id {
        assert!(id.len() == 64 || id.len() == 8, "hwID length {}", id.len());
    }
}

fn extension_list(mut rest: &[u8]) {
    let oids = [
        oid::STRUCT_VERSION,
        oid::PRODUCT_NAME,
        oid::BL_SPL,
        oid::TEE_SPL,
        oid::SNP_SPL,
        oid::SPL_4,
        oid::SPL_5,
        oid::SPL_6,
        oid::SPL_7,
        oid::UCODE_SPL,
        oid::FMC_SPL,
        oid::HW_ID,
        oid::CSP_ID,
        oid::AMD_VEK_ARC,
    ];
    let mut items = Vec::new();
    while let [which, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        items.push((oids[usize::from(*which) % oids.len()], &tail[..n]));
        rest = &tail[n..];
    }
    match VekExtensions::parse("VCEK", items) {
        Ok(ext) => extensions("VCEK", &ext),
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// `crl` target: the whole input is a CRL as KDS serves it (DER), parsed, checked for
/// freshness and revocation, its signature checked against every pinned ARK, and verified
/// through the verifier (`Verifier::verify_crl`) for every product.
pub fn crl_der(data: &[u8]) {
    crl(data);
    let v = verifier(false, false, 2);
    for product in Product::ALL {
        match v.verify_crl(product, data) {
            Ok(c) => {
                assert!(
                    Crl::from_der(data).is_ok(),
                    "verified a CRL that does not parse"
                );
                let _ = (c.crl().revoked_serials(), c.is_current());
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
}

fn crl(der: &[u8]) {
    let c = match Crl::from_der(der) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert_eq!(c.der(), der, "CRL is not the received bytes");
    assert!(c.revoked_serials().len() <= snp_certs::crl::MAX_REVOKED);
    let _ = format!("{c:?}");
    for t in [0, c.this_update(), c.next_update().unwrap_or(0), u64::MAX] {
        let current = c.check_current(t);
        if let Err(e) = &current {
            let _ = e.to_string();
        }
        if current.is_ok() {
            assert!(c
                .next_update()
                .is_some_and(|n| c.this_update() <= t && t <= n));
        }
    }
    for serial in c.revoked_serials().iter().take(4) {
        let _ = serial.len();
    }
    let _ = c.is_revoked(&[0]);
    for ark in arks() {
        if let Err(e) = c.verify_signature(ark, provider()) {
            let _ = e.to_string();
        }
        let _ = c.check(ark, &[ark], 0, provider());
    }
}

// ---------------------------------------------------------------------------------------------
// verify
// ---------------------------------------------------------------------------------------------

/// Verification times the flags choose from (before the 2026 Milan CRL, inside it, the day the
/// real test data was collected, and after most VCEKs expired).
const TIMES: [u64; 4] = [1_735_689_600, 1_782_864_000, 1_795_564_800, 2_051_222_400];

/// Verifiers built once per (anchors, CRL policy, time) choice, so anchor checks are memoized
/// as in a real process. Certificate signatures are not cached across inputs
/// (`ChainCache::disabled`), so each input's outcome depends only on that input.
fn verifier(explicit: bool, crl_required: bool, time: usize) -> &'static Verifier {
    static V: std::sync::OnceLock<Vec<Verifier>> = std::sync::OnceLock::new();
    let all = V.get_or_init(|| {
        let explicit_anchors = Product::ALL.iter().fold(TrustAnchors::explicit(), |a, &p| {
            let (vcek, vlek) = amd_chain_pems(p);
            let a = a
                .clone()
                .with_kds_chain_pem(p, CertKind::Vcek, vcek)
                .unwrap_or(a);
            a.clone()
                .with_kds_chain_pem(p, CertKind::Vlek, vlek)
                .unwrap_or(a)
        });
        let mut out = Vec::new();
        for anchors in [TrustAnchors::amd(), explicit_anchors] {
            for policy in [CrlPolicy::IfPresent, CrlPolicy::Required] {
                for &t in &TIMES {
                    out.push(
                        Verifier::new(anchors.clone())
                            .with_cache(std::sync::Arc::new(
                                snp_certs::cache::ChainCache::disabled(),
                            ))
                            .crl_policy(policy)
                            .at_unix(t),
                    );
                }
            }
        }
        out
    });
    &all[(usize::from(explicit) * 2 + usize::from(crl_required)) * TIMES.len() + time]
}

/// Split `data` into `[len: u16 LE][that many bytes]`, the rest.
fn take_len_prefixed(data: &[u8]) -> (&[u8], &[u8]) {
    match data {
        [a, b, rest @ ..] => {
            let n = usize::from(u16::from_le_bytes([*a, *b])).min(rest.len());
            rest.split_at(n)
        }
        _ => (&[], &[]),
    }
}

/// Full verification of (report, VEK) pairs. Layout:
/// `[flags][report_len: u16 LE][report][vek_len: u16 LE][vek DER][extra]` where flags bit 0
/// chooses explicit anchors (else AMD's pinned), bit 1 `CrlPolicy::Required`, bits 2–3 the
/// time from [`TIMES`], bit 4 makes `extra` a CRL, bit 5 makes it the host's ASK, bits 6–7 the
/// product for `verify_vek`/`verify_crl`. Evidence that verifies must stop verifying when a
/// signed byte changes.
pub fn verify(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let v = verifier(
        flags & 1 != 0,
        flags & 2 != 0,
        usize::from((flags >> 2) & 3),
    );
    let (report, rest) = take_len_prefixed(rest);
    let (vek, extra) = take_len_prefixed(rest);
    let mut e = Endorsements::new(vek.to_vec());
    if flags & 0x10 != 0 {
        e = e.with_crl(extra.to_vec());
    }
    if flags & 0x20 != 0 {
        e = e.with_host_chain(Some(extra.to_vec()), None);
    }
    let product = Product::ALL[usize::from(flags >> 6) % Product::ALL.len()];

    let outcome = v.verify_detailed(report, &e);
    let _ = outcome.failed();
    for c in &outcome.checks {
        let _ = (c.name.len(), c.status.to_string(), c.detail.len());
    }
    match &outcome.result {
        Ok(ev) => {
            assert_eq!(&ev.report_bytes()[..], report, "verified other bytes");
            assert_eq!(ev.vek_der(), vek);
            assert!(outcome.failed().is_empty(), "accepted with failed checks");
            let _ = (
                ev.cert_kind(),
                ev.product(),
                ev.tcb(),
                ev.chip_id(),
                ev.csp_id(),
            );
            let _ = (
                ev.report(),
                ev.checks(),
                ev.verified_at(),
                ev.anchor_source(),
            );
            // The signature covers 0x000..0x2A0: any change there must be caught.
            let mut tampered = report.to_vec();
            let at = usize::from(flags) * 7 % SIGNED_LEN;
            tampered[at] ^= 0x01;
            assert!(
                v.verify(&tampered, &e).is_err(),
                "report with byte {at:#x} flipped still verifies"
            );
        }
        Err(err) => {
            let _ = (err.to_string(), err.check());
        }
    }

    match v.verify_vek(vek, product) {
        Ok(ok) => {
            let _ = (ok.kind(), ok.tcb(), ok.hw_id(), ok.csp_id(), ok.not_after());
            assert_eq!(ok.product(), product);
        }
        Err(err) => {
            let _ = err.to_string();
        }
    }
    if flags & 0x10 != 0 {
        match v.verify_crl(product, extra) {
            Ok(c) => {
                let _ = (c.crl().revoked_serials(), c.is_current());
            }
            Err(err) => {
                let _ = err.to_string();
            }
        }
    }
}
