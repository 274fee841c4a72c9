//! GHCB MSR protocol values (AMD pub. 56421).
