//! The SNP guest message: header, AES-256-GCM seal/open under a VMPCK.
