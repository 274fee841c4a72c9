#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    snp_fuzz::agent::evidence_coco(data);
});
