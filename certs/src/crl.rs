//! AMD CRLs: parse, ARK signature, freshness, revocation.
