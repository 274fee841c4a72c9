//! The GHCB certificate table the host serves beside a report.
