//! A protocol-faithful software SEV-SNP platform: AMD-SP firmware, KVM's extended guest request
//! exit (both host-interface generations), and a VMM serving the certificate blob under a lock.
//! It is the other side of `snp-ghcb` and defines no wire layout of its own.
#![forbid(unsafe_code)]
