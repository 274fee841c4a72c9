//! Certificate buffers the driver can size.

/// A certificate buffer the driver can size. Implemented for fixed slices (no_std, no alloc)
/// and, with the `alloc` feature, for `Vec<u8>` (growable).
pub trait CertBuf {
    /// Make at least `len` bytes available; `false` if the buffer cannot hold that many.
    fn ensure_len(&mut self, len: usize) -> bool;
    /// The whole buffer.
    fn bytes_mut(&mut self) -> &mut [u8];
    /// Called once with the final length of the certificate data (a `Vec` truncates to it).
    fn finish(&mut self, _len: usize) {}
}

impl CertBuf for [u8] {
    fn ensure_len(&mut self, len: usize) -> bool {
        self.len() >= len
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
}

#[cfg(feature = "alloc")]
impl CertBuf for alloc::vec::Vec<u8> {
    fn ensure_len(&mut self, len: usize) -> bool {
        if self.len() < len {
            self.resize(len, 0);
        }
        true
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
    fn finish(&mut self, len: usize) {
        self.truncate(len);
    }
}
