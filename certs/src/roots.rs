//! AMD's pinned root and intermediate certificates.
