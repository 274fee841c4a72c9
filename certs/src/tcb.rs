//! TCB_VERSION: eight bytes whose meaning depends on the product.
//!
//! Milan and Genoa lay the security patch levels out as `[bl, tee, 0, 0, 0, 0, snp, ucode]`;
//! Turin moves them and adds the FMC level: `[fmc, bl, tee, snp, 0, 0, 0, ucode]` (ABI §5.5).
//! The layout is chosen by product, never by report version: a v5 report from a Milan part
//! still uses the Milan layout.

use std::fmt;

use crate::error::TcbError;
use crate::product::Product;

/// Length of a TCB_VERSION field.
pub const TCB_LEN: usize = 8;

/// Decoded security patch levels of a TCB_VERSION.
///
/// `fmc` is `Some` exactly for products whose TCB carries an FMC SPL (Turin); values decoded
/// from a report and values taken from a certificate are comparable with `==` only when both
/// follow that rule, which [`Tcb::decode`] and the certificate-extension parser guarantee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Tcb {
    /// FMC (first mutable code) SPL — Turin and later only.
    pub fmc: Option<u8>,
    /// Boot loader SPL.
    pub bl: u8,
    /// PSP OS (TEE) SPL.
    pub tee: u8,
    /// SNP firmware SPL.
    pub snp: u8,
    /// CPU microcode SPL.
    pub microcode: u8,
}

impl Tcb {
    /// A Milan/Genoa TCB (no FMC level).
    pub fn new(bl: u8, tee: u8, snp: u8, microcode: u8) -> Tcb {
        Tcb {
            fmc: None,
            bl,
            tee,
            snp,
            microcode,
        }
    }

    /// A Turin TCB.
    pub fn with_fmc(fmc: u8, bl: u8, tee: u8, snp: u8, microcode: u8) -> Tcb {
        Tcb {
            fmc: Some(fmc),
            bl,
            tee,
            snp,
            microcode,
        }
    }

    /// Strict decode: the reserved bytes of the product's layout must be zero, because the
    /// firmware writes them as zero and a non-zero value means the bytes are not a TCB of
    /// this product (wrong product guess or tampering).
    pub fn decode(bytes: [u8; TCB_LEN], product: Product) -> Result<Tcb, TcbError> {
        let (tcb, reserved) = Self::split(bytes, product);
        if reserved.iter().any(|&b| b != 0) {
            return Err(TcbError::ReservedNonZero { product, bytes });
        }
        Ok(tcb)
    }

    /// Lenient decode for display of reports that may be malformed or from an unknown part:
    /// reserved bytes are ignored.
    pub fn decode_lenient(bytes: [u8; TCB_LEN], product: Product) -> Tcb {
        Self::split(bytes, product).0
    }

    fn split(b: [u8; TCB_LEN], product: Product) -> (Tcb, [u8; 3]) {
        match product {
            Product::Milan | Product::Genoa => {
                (Tcb::new(b[0], b[1], b[6], b[7]), [b[2] | b[3], b[4], b[5]])
            }
            Product::Turin => (
                Tcb::with_fmc(b[0], b[1], b[2], b[3], b[7]),
                [b[4], b[5], b[6]],
            ),
        }
    }

    /// Encode in the product's layout. An FMC level is written only on products that have
    /// one (it is dropped on Milan/Genoa); a missing FMC level encodes as 0 on Turin. Use
    /// [`Tcb::try_encode`] when that mismatch should be an error.
    pub fn encode(&self, product: Product) -> [u8; TCB_LEN] {
        match product {
            Product::Milan | Product::Genoa => {
                [self.bl, self.tee, 0, 0, 0, 0, self.snp, self.microcode]
            }
            Product::Turin => [
                self.fmc.unwrap_or(0),
                self.bl,
                self.tee,
                self.snp,
                0,
                0,
                0,
                self.microcode,
            ],
        }
    }

    /// Encode, refusing a TCB whose FMC presence does not match the product.
    pub fn try_encode(&self, product: Product) -> Result<[u8; TCB_LEN], TcbError> {
        if self.fmc.is_some() != product.has_fmc() {
            return Err(TcbError::FmcMismatch {
                product,
                has_fmc: self.fmc.is_some(),
            });
        }
        Ok(self.encode(product))
    }

    /// The TCB as the little-endian u64 firmware interfaces use (byte 0 = least significant).
    pub fn to_u64(&self, product: Product) -> u64 {
        u64::from_le_bytes(self.encode(product))
    }
}

impl fmt::Display for Tcb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(fmc) = self.fmc {
            write!(f, "fmc={fmc} ")?;
        }
        write!(
            f,
            "bl={} tee={} snp={} ucode={}",
            self.bl, self.tee, self.snp, self.microcode
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn real_layouts() {
        // atakit Milan report REPORTED_TCB 0400000000001dde.
        let milan = [0x04, 0, 0, 0, 0, 0, 0x1d, 0xde];
        assert_eq!(
            Tcb::decode(milan, Product::Milan),
            Ok(Tcb::new(4, 0, 29, 222))
        );
        // oak Turin report 0001000200000047.
        let turin = [0x00, 0x01, 0x00, 0x02, 0, 0, 0, 0x47];
        assert_eq!(
            Tcb::decode(turin, Product::Turin),
            Ok(Tcb::with_fmc(0, 1, 0, 2, 71))
        );
        // The Turin bytes read with the Milan layout have non-zero reserved byte 3.
        assert!(Tcb::decode(turin, Product::Milan).is_err());
        // The Milan bytes read as Turin: byte 6 (reserved there) is non-zero.
        assert!(Tcb::decode(milan, Product::Turin).is_err());
    }

    #[test]
    fn fmc_mismatch() {
        assert!(Tcb::new(1, 2, 3, 4).try_encode(Product::Turin).is_err());
        assert!(Tcb::with_fmc(0, 1, 2, 3, 4)
            .try_encode(Product::Genoa)
            .is_err());
        assert_eq!(
            Tcb::with_fmc(5, 1, 2, 3, 4).try_encode(Product::Turin),
            Ok([5, 1, 2, 3, 0, 0, 0, 4])
        );
        assert_eq!(
            Tcb::new(1, 2, 3, 4).to_u64(Product::Milan),
            0x0403_0000_0000_0201
        );
    }

    #[test]
    fn every_reserved_byte_is_checked() {
        for product in Product::ALL {
            let reserved: &[usize] = if product.has_fmc() {
                &[4, 5, 6]
            } else {
                &[2, 3, 4, 5]
            };
            for &i in reserved {
                let mut b = [0u8; 8];
                b[i] = 1;
                assert!(Tcb::decode(b, product).is_err(), "{product} byte {i}");
            }
        }
    }

    proptest! {
        #[test]
        fn round_trip(b in any::<[u8; 8]>(), p in 0usize..3) {
            let product = Product::ALL[p];
            match Tcb::decode(b, product) {
                Ok(t) => {
                    prop_assert_eq!(t.encode(product), b);
                    prop_assert_eq!(t.fmc.is_some(), product.has_fmc());
                }
                Err(_) => prop_assert_ne!(Tcb::decode_lenient(b, product).encode(product), b),
            }
        }
    }
}
