//! Typed errors for certificate and verification failures.
