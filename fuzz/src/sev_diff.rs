//! Differential harness: our zero-copy `ReportView` against the `sev` crate's (version 8)
//! `AttestationReport` parser, on the same bytes. Uses only `snp_certs`, `sev8` (the `sev`
//! crate under a name that says which generation the comparison was written against) and
//! `std`, because `certs/tests/fuzz_corpus_replay.rs` (the corpus) and
//! `certs/tests/sev_differential.rs` (every real report) include this file as a module.
//!
//! The rule: both parsers agree on every field, or both refuse — except for the divergences
//! listed in [`Divergence`], which are deliberate (each is asserted to be exactly that case, so a
//! new kind of disagreement fails the harness).

use sev8::firmware::guest::AttestationReport;
use sev8::firmware::host::TcbVersion;
use sev8::parser::ByteParser;
use snp_certs::product::Product;
use snp_certs::report::{ReportView, REPORT_SIZE};
use snp_certs::tcb::Tcb;

/// The known, deliberate ways the two parsers differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Divergence {
    /// A version 2 report with a masked (all-zero) CHIP_ID: `sev` guesses the TCB layout from
    /// CHIP_ID and gives up; we need no guess (the product comes from the certificate).
    MaskedChipIdV2,
    /// VERSION above 5: `sev` reads it as version 5; our verifier refuses it at
    /// `report_format` (an unknown layout is not guessed).
    FutureVersion,
    /// A CPUID of a product line `sev` knows and we do not support (Venice): `sev` parses it,
    /// our product determination refuses it.
    UnsupportedProduct,
    /// A reserved field is not zero: `sev` refuses the report, we read the fields we know. All
    /// these bytes lie inside the signed range (0x000..0x2A0), so in a report whose signature
    /// verifies they were written by the firmware (a field newer than our layout); refusing
    /// them would break on the next firmware, and ignoring them cannot let a host change
    /// anything.
    NonZeroReserved,
    /// Guest policy bit 17 (reserved, must be one) clear in the report: `sev` reports the policy
    /// with the bit forced to one (its `u64` conversion ORs it in), we report the signed bytes
    /// as they are.
    PolicyBit17Forced,
}

/// Guest policy bit 17: reserved, must be one.
const POLICY_MBO: u64 = 1 << 17;

/// The reserved ranges `sev` requires to be zero, by version (its V2 / V3 (3, 4) / V5 (5 and
/// above) layouts).
fn reserved_ranges(version: u32) -> Vec<std::ops::Range<usize>> {
    let mut r = vec![0x4C..0x50, 0x1EB..0x1EC, 0x1EF..0x1F0];
    r.push(if version == 2 {
        0x188..0x1A0
    } else {
        0x18B..0x1A0
    });
    r.push(if version <= 4 {
        0x1F8..0x2A0
    } else {
        0x208..0x2A0
    });
    r
}

fn reserved_nonzero(data: &[u8], version: u32) -> bool {
    reserved_ranges(version)
        .into_iter()
        .any(|r| data[r].iter().any(|&b| b != 0))
}

/// Whether our verifier's `report_format` check accepts this version.
fn version_supported(v: u32) -> bool {
    (2..=5).contains(&v)
}

fn sev_tcb(t: &TcbVersion) -> Tcb {
    Tcb {
        fmc: t.fmc,
        bl: t.bootloader,
        tee: t.tee,
        snp: t.snp,
        microcode: t.microcode,
    }
}

/// Parse with both and compare. Returns the divergence, if the input hit a documented one.
pub fn report_sev_diff(data: &[u8]) -> Option<Divergence> {
    let theirs = AttestationReport::from_bytes(data);
    let ours = ReportView::new(data);
    let ours = match ours {
        Ok(v) => v,
        Err(_) => {
            assert_ne!(data.len(), REPORT_SIZE);
            assert!(theirs.is_err(), "sev parsed {} bytes", data.len());
            return None;
        }
    };
    let version = ours.version();
    let our_product = ours.product_from_cpuid();
    let theirs = match theirs {
        Ok(t) => t,
        Err(e) => {
            let _ = e.to_string();
            // sev refuses versions 0 and 1 (so does our report_format check), a v2 report with a
            // masked chip ID (documented divergence), and CPUIDs of no known product (our
            // product determination refuses them too).
            if version < 2 {
                assert!(!version_supported(version));
                return None;
            }
            if e.to_string().contains("Skipped bytes") {
                assert!(
                    reserved_nonzero(data, version),
                    "sev refused reserved bytes that are zero"
                );
                return Some(Divergence::NonZeroReserved);
            }
            if version == 2 {
                assert!(
                    ours.chip_id_masked(),
                    "sev refused a v2 report with a chip ID: {e}"
                );
                return Some(Divergence::MaskedChipIdV2);
            }
            assert!(
                matches!(our_product, Some(Err(_))),
                "sev refused a v{version} report whose CPUID we map to {our_product:?}: {e}"
            );
            return None;
        }
    };
    assert!(
        !reserved_nonzero(data, version),
        "sev accepted a report with non-zero reserved bytes"
    );
    let mut divergence = None;
    if !version_supported(version) {
        assert!(version > 5, "sev accepted version {version}");
        divergence = Some(Divergence::FutureVersion);
    }

    // The layout sev chose: from CPUID (v3+) — which must be a product we also name, or Venice —
    // or guessed from CHIP_ID (v2).
    let product = match our_product {
        Some(Ok(p)) => Some(p),
        Some(Err(_)) => {
            let c = ours.cpuid().expect("v3+ has CPUID");
            assert!(
                c.family == 0x1A && theirs.reported_tcb.fmc.is_some(),
                "sev accepted CPUID {c} that we refuse, and it is not a Venice part"
            );
            divergence = divergence.or(Some(Divergence::UnsupportedProduct));
            None
        }
        None if theirs.reported_tcb.fmc.is_some() => Some(Product::Turin),
        None => Some(Product::Milan),
    };

    assert_eq!(version, theirs.version, "version");
    assert_eq!(ours.guest_svn(), theirs.guest_svn, "guest_svn");
    assert_eq!(
        ours.policy() | POLICY_MBO,
        u64::from(theirs.policy),
        "policy"
    );
    if ours.policy() & POLICY_MBO == 0 {
        divergence = divergence.or(Some(Divergence::PolicyBit17Forced));
    }
    assert_eq!(ours.family_id(), &theirs.family_id, "family_id");
    assert_eq!(ours.image_id(), &theirs.image_id, "image_id");
    assert_eq!(ours.vmpl(), theirs.vmpl, "vmpl");
    assert_eq!(ours.signature_algo(), theirs.sig_algo, "sig_algo");
    assert_eq!(
        ours.platform_info(),
        u64::from(theirs.plat_info),
        "platform_info"
    );
    assert_eq!(
        ours.signer_info(),
        u32::from(theirs.key_info),
        "signer_info"
    );
    assert_eq!(ours.report_data(), &theirs.report_data, "report_data");
    assert_eq!(ours.measurement(), &theirs.measurement, "measurement");
    assert_eq!(ours.host_data(), &theirs.host_data, "host_data");
    assert_eq!(ours.id_key_digest(), &theirs.id_key_digest, "id_key_digest");
    assert_eq!(
        ours.author_key_digest(),
        &theirs.author_key_digest,
        "author_key_digest"
    );
    assert_eq!(ours.report_id(), &theirs.report_id, "report_id");
    assert_eq!(ours.report_id_ma(), &theirs.report_id_ma, "report_id_ma");
    assert_eq!(ours.chip_id(), &theirs.chip_id, "chip_id");
    let cpuid = ours.cpuid();
    // sev gives CPUID from version 3 on (it reads v4 as v3), like us.
    assert_eq!(cpuid.map(|c| c.family), theirs.cpuid_fam_id, "cpuid family");
    assert_eq!(cpuid.map(|c| c.model), theirs.cpuid_mod_id, "cpuid model");
    assert_eq!(
        cpuid.map(|c| c.stepping),
        theirs.cpuid_step,
        "cpuid stepping"
    );
    let cur = ours.current_version();
    assert_eq!(
        (cur.major, cur.minor, cur.build),
        (
            theirs.current.major,
            theirs.current.minor,
            theirs.current.build
        ),
        "current version"
    );
    let com = ours.committed_version();
    assert_eq!(
        (com.major, com.minor, com.build),
        (
            theirs.committed.major,
            theirs.committed.minor,
            theirs.committed.build
        ),
        "committed version"
    );
    // sev reads versions above 5 as 5: both have the vectors from version 5 on.
    assert_eq!(
        ours.launch_mit_vector(),
        theirs.launch_mit_vector,
        "launch_mit_vector"
    );
    assert_eq!(
        ours.current_mit_vector(),
        theirs.current_mit_vector,
        "current_mit_vector"
    );
    assert_eq!(ours.signature_r(), theirs.signature.r(), "signature r");
    assert_eq!(ours.signature_s(), theirs.signature.s(), "signature s");
    for (field, raw, sev) in [
        ("reported", ours.reported_tcb_raw(), &theirs.reported_tcb),
        ("current", ours.current_tcb_raw(), &theirs.current_tcb),
        ("committed", ours.committed_tcb_raw(), &theirs.committed_tcb),
        ("launch", ours.launch_tcb_raw(), &theirs.launch_tcb),
    ] {
        // Venice uses Turin's layout in sev; compare it there too.
        let p = product.unwrap_or(Product::Turin);
        assert_eq!(
            Tcb::decode_lenient(raw, p),
            sev_tcb(sev),
            "{field}_tcb in {p} layout"
        );
    }
    divergence
}
