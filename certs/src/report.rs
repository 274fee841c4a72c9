//! The attestation report: byte layout and a zero-copy view over the received bytes.
