//! Shared helpers for the examples (intentionally empty).
