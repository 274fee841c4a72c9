#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    snp_fuzz::certs::crl_der(data);
});
