#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    snp_fuzz::ghcb::report_rsp(data);
});
