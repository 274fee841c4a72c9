//! AMD Key Distribution Service URLs.
