//! VCEK/VLEK X.509 extensions under 1.3.6.1.4.1.3704.1.
