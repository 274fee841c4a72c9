//! The GHCB page: save-area fields used by guest requests, valid bitmap, shared buffer.
