//! SEV-SNP product lines (Milan, Genoa, Turin) and how to tell them apart.
//!
//! The product decides how the eight TCB_VERSION bytes are laid out, how long the VCEK's hwID is,
//! which AMD root anchors the chain and which KDS path serves the certificates. It must come from
//! something the AMD-SP signed (the report's CPUID fields, v3+) or from an AMD-signed certificate
//! (v2 reports), never from the guest's own CPUID instruction, which the host controls.

use std::fmt;
use std::str::FromStr;

use crate::error::ProductError;

/// An AMD EPYC product line that SEV-SNP evidence can come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Product {
    /// EPYC 7003 (Zen 3, family 0x19 models 0x00–0x0F).
    Milan,
    /// EPYC 9004/8004 (Zen 4 and Zen 4c, family 0x19 models 0x10–0x1F and 0xA0–0xAF).
    Genoa,
    /// EPYC 9005 (Zen 5, family 0x1A models 0x00–0x11).
    Turin,
}

/// CPUID family / model / stepping as the AMD-SP writes them into v3+ reports (0x188..0x18B).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cpuid {
    /// Family including the extended family (0x19 Zen 3/4, 0x1A Zen 5).
    pub family: u8,
    /// Model including the extended model.
    pub model: u8,
    /// Stepping.
    pub stepping: u8,
}

impl Product {
    /// Every supported product line, in KDS order.
    pub const ALL: [Product; 3] = [Product::Milan, Product::Genoa, Product::Turin];

    /// The product segment of KDS URLs (`/vcek/v1/{name}/…`) and the suffix of AMD's CA names.
    pub fn kds_name(self) -> &'static str {
        match self {
            Product::Milan => "Milan",
            Product::Genoa => "Genoa",
            Product::Turin => "Turin",
        }
    }

    /// Identify the product line from the CPUID family and model (ABI §5.4; VIRTEE's
    /// `Generation::identify_cpu` ranges). Zen 4c parts (models 0xA0–0xAF) are certified
    /// under the Genoa chain. Unknown parts (e.g. Venice) are an error rather than a guess,
    /// because a wrong guess would pick the wrong TCB layout.
    pub fn from_cpuid(family: u8, model: u8) -> Result<Product, ProductError> {
        match (family, model) {
            (0x19, 0x00..=0x0F) => Ok(Product::Milan),
            (0x19, 0x10..=0x1F) | (0x19, 0xA0..=0xAF) => Ok(Product::Genoa),
            (0x1A, 0x00..=0x11) => Ok(Product::Turin),
            _ => Err(ProductError::UnknownCpuid { family, model }),
        }
    }

    /// Identify the product line from a VCEK/VLEK `productName` extension (`Milan-B0`,
    /// `Milan-A0`, `Genoa`, `Genoa-B1`, `Turin`): the line name, optionally followed by
    /// `-` and a stepping.
    pub fn from_product_name(name: &str) -> Result<Product, ProductError> {
        let line = name.split_once('-').map_or(name, |(line, _stepping)| line);
        Product::ALL
            .into_iter()
            .find(|p| p.kds_name() == line)
            .ok_or_else(|| ProductError::UnknownName(name.chars().take(64).collect()))
    }

    /// A representative CPUID signature for this line, for producers of reports (the
    /// simulator) that must fill the v3+ CPUID fields.
    pub fn representative_cpuid(self) -> Cpuid {
        match self {
            Product::Milan => Cpuid {
                family: 0x19,
                model: 0x01,
                stepping: 0x01,
            },
            Product::Genoa => Cpuid {
                family: 0x19,
                model: 0x11,
                stepping: 0x01,
            },
            Product::Turin => Cpuid {
                family: 0x1A,
                model: 0x02,
                stepping: 0x01,
            },
        }
    }

    /// Length of the VCEK hwID extension and of the CHIP_ID prefix it certifies: 64 bytes,
    /// but only the first 8 on Turin (the rest of Turin's CHIP_ID is zero).
    pub fn hwid_len(self) -> usize {
        match self {
            Product::Milan | Product::Genoa => 64,
            Product::Turin => 8,
        }
    }

    /// Whether TCB_VERSION carries an FMC SPL (Turin and later).
    pub fn has_fmc(self) -> bool {
        matches!(self, Product::Turin)
    }

    /// Subject common name of AMD's root key for this line (`ARK-Milan`, …).
    pub fn ark_common_name(self) -> &'static str {
        match self {
            Product::Milan => "ARK-Milan",
            Product::Genoa => "ARK-Genoa",
            Product::Turin => "ARK-Turin",
        }
    }

    /// Subject common name of the VCEK-signing intermediate (`SEV-Milan`, …).
    pub fn ask_common_name(self) -> &'static str {
        match self {
            Product::Milan => "SEV-Milan",
            Product::Genoa => "SEV-Genoa",
            Product::Turin => "SEV-Turin",
        }
    }

    /// Subject common name of the VLEK-signing intermediate (`SEV-VLEK-Milan`, …).
    pub fn asvk_common_name(self) -> &'static str {
        match self {
            Product::Milan => "SEV-VLEK-Milan",
            Product::Genoa => "SEV-VLEK-Genoa",
            Product::Turin => "SEV-VLEK-Turin",
        }
    }
}

impl Cpuid {
    /// The product line this CPUID signature belongs to.
    pub fn product(&self) -> Result<Product, ProductError> {
        Product::from_cpuid(self.family, self.model)
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kds_name())
    }
}

impl FromStr for Product {
    type Err = ProductError;

    /// Accepts the KDS names case-insensitively (`milan`, `Genoa`, `TURIN`) and certificate
    /// product names with a stepping suffix (`Milan-B0`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let line = s.split_once('-').map_or(s, |(line, _)| line);
        Product::ALL
            .into_iter()
            .find(|p| p.kds_name().eq_ignore_ascii_case(line))
            .ok_or_else(|| ProductError::UnknownName(s.chars().take(64).collect()))
    }
}

impl fmt::Display for Cpuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "family {:#04x} model {:#04x} stepping {:#04x}",
            self.family, self.model, self.stepping
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuid_ranges() {
        assert_eq!(Product::from_cpuid(0x19, 0x01), Ok(Product::Milan));
        assert_eq!(Product::from_cpuid(0x19, 0x11), Ok(Product::Genoa));
        assert_eq!(Product::from_cpuid(0x19, 0xA0), Ok(Product::Genoa));
        assert_eq!(Product::from_cpuid(0x1A, 0x02), Ok(Product::Turin));
        assert!(Product::from_cpuid(0x1A, 0x50).is_err());
        assert!(Product::from_cpuid(0x17, 0x31).is_err());
        assert!(Product::from_cpuid(0x19, 0x20).is_err());
        for p in Product::ALL {
            let c = p.representative_cpuid();
            assert_eq!(c.product(), Ok(p));
        }
    }

    #[test]
    fn names_round_trip() {
        for p in Product::ALL {
            assert_eq!(p.to_string().parse::<Product>(), Ok(p));
            assert_eq!(p.kds_name().to_lowercase().parse::<Product>(), Ok(p));
        }
        assert_eq!(Product::from_product_name("Milan-B0"), Ok(Product::Milan));
        assert_eq!(Product::from_product_name("Milan-A0"), Ok(Product::Milan));
        assert_eq!(Product::from_product_name("Genoa"), Ok(Product::Genoa));
        assert_eq!(Product::from_product_name("Turin"), Ok(Product::Turin));
        assert!(Product::from_product_name("milan").is_err());
        assert!(Product::from_product_name("Venice").is_err());
        assert!(Product::from_product_name("").is_err());
        assert!("Rome".parse::<Product>().is_err());
    }
}
