//! Verified-chain cache: AMD CA certificates verified once per process, VCEK/VLEK once per certificate.
