//! The one retry policy: INVALID_LEN resize, BUSY backoff, deadline.
