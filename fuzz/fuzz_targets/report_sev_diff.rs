#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = snp_fuzz::sev_diff::report_sev_diff(data);
});
