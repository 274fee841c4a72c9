//! The host's certificate-blob file, read and replaced under flock.
