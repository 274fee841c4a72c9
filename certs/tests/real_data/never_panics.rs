//! Property tests: mutated real inputs never panic the verifier.

use super::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Arbitrary mutations of a real report and its VCEK never panic the verifier.
    #[test]
    fn verify_on_mutated_inputs(
        rpos in 0usize..REPORT_SIZE, rval in any::<u8>(),
        cpos in 0usize..1500, cval in any::<u8>(), ccut in 1usize..1500,
        rlen in prop_oneof![Just(REPORT_SIZE), 0usize..1300],
    ) {
        let v = Verifier::new(TrustAnchors::amd()).at_unix(NOW);
        let mut report = read(MILAN_REPORT);
        report[rpos] = rval;
        report.resize(rlen, 0);
        let mut vek = read(MILAN_VCEK);
        if let Some(b) = vek.get_mut(cpos) { *b = cval; }
        vek.truncate(ccut.min(vek.len()));
        let out = v.verify_detailed(&report, &Endorsements::new(vek.clone()).with_host_chain(Some(vek.clone()), Some(vek)));
        let names: Vec<&str> = out.checks.iter().map(|c| c.name).collect();
        prop_assert_eq!(names, check::ALL.to_vec());
    }

    /// Arbitrary bytes as a VCEK.
    #[test]
    fn verify_on_junk_certificate(cert in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let v = Verifier::new(TrustAnchors::amd()).at_unix(NOW);
        prop_assert!(v.verify(&read(MILAN_REPORT), &Endorsements::new(cert.clone())).is_err());
        prop_assert!(v.verify_vek(&cert, Product::Milan).is_err());
    }
}
