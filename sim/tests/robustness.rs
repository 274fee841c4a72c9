//! Untrusted guest input never panics the host: arbitrary request pages, GHCB register values and
//! guest memory ranges yield GHCB answers or typed errors.

mod common;

use proptest::prelude::*;
use snp_certs::product::Product;
use snp_ghcb::exit::{SNP_EXTENDED_GUEST_REQUEST, SNP_GUEST_REQUEST};
use snp_ghcb::page::Ghcb;
use snp_sim::kvm::Generation;
use snp_sim::platform::SimPlatform;

#[test]
fn platform_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SimPlatform>();
    assert_send_sync::<snp_sim::face::sev_guest::SevGuestDevice>();
    assert_send_sync::<snp_sim::face::ghcb::GhcbFace>();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_exits_never_panic(
        seed_gen in any::<bool>(),
        code_sel in 0u8..3,
        raw_code in any::<u64>(),
        use_valid_pages in any::<bool>(),
        info1 in any::<u64>(),
        info2 in any::<u64>(),
        rax in any::<u64>(),
        rbx in any::<u64>(),
        page in proptest::collection::vec(any::<u8>(), 4096),
        msg_type in any::<u8>(),
    ) {
        let gen = if seed_gen { Generation::Seed } else { Generation::Merged };
        let p = common::platform(Product::Milan, gen);
        let req = p.alloc_shared(1).unwrap();
        let resp = p.alloc_shared(1).unwrap();
        let certs = p.alloc_shared(2).unwrap();
        let mut page = page;
        page[0x34] = msg_type % 8;
        p.write_shared(req, &page).unwrap();
        let mut g = Ghcb::new();
        g.set_sw_exit_code(match code_sel { 0 => SNP_GUEST_REQUEST, 1 => SNP_EXTENDED_GUEST_REQUEST, _ => raw_code });
        if use_valid_pages {
            g.set_sw_exit_info_1(req);
            g.set_sw_exit_info_2(resp);
            g.set_rax(if rax % 2 == 0 { certs } else { rax });
            g.set_rbx(rbx % 8);
        } else {
            g.set_sw_exit_info_1(info1);
            g.set_sw_exit_info_2(info2);
            g.set_rax(rax);
            g.set_rbx(rbx);
        }
        let _ = p.vmgexit(&mut g);
        // A random page is never a valid message: nothing reached a signed report.
        prop_assert_eq!(p.counters().reports_signed, 0);
    }

    #[test]
    fn arbitrary_memory_ranges_never_panic(gpa in any::<u64>(), len in 0usize..20000) {
        let p = common::platform(Product::Turin, Generation::Merged);
        let _ = p.alloc_shared(2).unwrap();
        let mut buf = vec![0u8; len];
        let _ = p.read_shared(gpa, &mut buf);
        let _ = p.write_shared(gpa, &buf);
    }
}
