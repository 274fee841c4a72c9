//! The core verification and the VerifiedEvidence type only it can construct.
