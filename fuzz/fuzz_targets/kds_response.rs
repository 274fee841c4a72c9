#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    snp_fuzz::agent::kds_response(data);
});
