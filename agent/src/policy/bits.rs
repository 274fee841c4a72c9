//! Names and positions of the report's flag words: the guest POLICY (report 0x008) and
//! PLATFORM_INFO (report 0x040).
//!
//! One table per word, shared by the policy engine (which checks bits by name) and by `show` and
//! the JSON evidence view (which print them), so a bit can never be spelled two ways. Positions
//! are from the SEV-SNP ABI (56860) as summarised in abi-facts §5.4/§5.7.

/// A named bit of a 64-bit flag word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedBit {
    /// The key used in policy files and JSON (snake_case).
    pub name: &'static str,
    /// Bit position.
    pub bit: u32,
    /// What the bit means when set, for humans.
    pub meaning: &'static str,
}

impl NamedBit {
    /// Whether the bit is set in `word`.
    pub fn is_set(&self, word: u64) -> bool {
        word & (1u64 << self.bit) != 0
    }
}

/// Guest POLICY bits (ABI §4.3 "Guest Policy"). Bits 7:0 and 15:8 are the minimum ABI
/// minor/major version; bit 17 is reserved and must be 1.
pub const GUEST_POLICY: [NamedBit; 9] = [
    NamedBit {
        name: "smt",
        bit: 16,
        meaning: "SMT may be enabled on the host",
    },
    NamedBit {
        name: "migrate_ma",
        bit: 18,
        meaning: "a migration agent may be associated with the guest",
    },
    NamedBit {
        name: "debug",
        bit: 19,
        meaning: "the host may debug the guest (read and write its memory)",
    },
    NamedBit {
        name: "single_socket",
        bit: 20,
        meaning: "the guest may run on one socket only",
    },
    NamedBit {
        name: "cxl",
        bit: 21,
        meaning: "CXL memory may be populated with guest data",
    },
    NamedBit {
        name: "mem_aes_256_xts",
        bit: 22,
        meaning: "AES-256-XTS memory encryption is required",
    },
    NamedBit {
        name: "rapl_dis",
        bit: 23,
        meaning: "running average power limit (RAPL) must be disabled",
    },
    NamedBit {
        name: "ciphertext_hiding",
        bit: 24,
        meaning: "ciphertext hiding for DRAM must be enabled",
    },
    NamedBit {
        name: "page_swap_disable",
        bit: 25,
        meaning: "guest page swapping by the host is disabled",
    },
];

/// Bit 17 of the guest policy: reserved, must be one (the firmware refuses a launch otherwise).
pub const GUEST_POLICY_RESERVED_ONE: u32 = 17;

/// The minimum ABI major version the guest policy demands (bits 15:8).
pub fn policy_abi_major(policy: u64) -> u8 {
    ((policy >> 8) & 0xff) as u8
}

/// The minimum ABI minor version the guest policy demands (bits 7:0).
pub fn policy_abi_minor(policy: u64) -> u8 {
    (policy & 0xff) as u8
}

/// PLATFORM_INFO bits (ABI §7.3 "Platform Info"; go-sev-guest names the same bits).
pub const PLATFORM_INFO: [NamedBit; 7] = [
    NamedBit {
        name: "smt_enabled",
        bit: 0,
        meaning: "SMT is enabled on the host",
    },
    NamedBit {
        name: "tsme_enabled",
        bit: 1,
        meaning: "transparent SME is enabled",
    },
    NamedBit {
        name: "ecc_enabled",
        bit: 2,
        meaning: "the platform uses error-correcting memory",
    },
    NamedBit {
        name: "rapl_disabled",
        bit: 3,
        meaning: "RAPL is disabled",
    },
    NamedBit {
        name: "ciphertext_hiding_enabled",
        bit: 4,
        meaning: "ciphertext hiding is enabled",
    },
    NamedBit {
        name: "alias_check_complete",
        bit: 5,
        meaning: "the memory alias check completed (report v3+)",
    },
    NamedBit {
        name: "sev_tio_enabled",
        bit: 7,
        meaning: "SEV-TIO is enabled (report v5)",
    },
];

/// Names of the bits set in `word` according to `table`.
pub fn set_names(table: &[NamedBit], word: u64) -> Vec<&'static str> {
    table
        .iter()
        .filter(|b| b.is_set(word))
        .map(|b| b.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_distinct_and_in_range() {
        for table in [&GUEST_POLICY[..], &PLATFORM_INFO[..]] {
            let mut seen = 0u64;
            for b in table {
                assert!(b.bit < 64);
                assert_eq!(seen & (1 << b.bit), 0, "{} reuses bit {}", b.name, b.bit);
                seen |= 1 << b.bit;
            }
        }
    }

    #[test]
    fn decode_a_typical_policy() {
        // 0x30000: SMT allowed + the reserved-one bit, ABI 0.0 (the common QEMU default).
        let p = 0x3_0000u64;
        assert_eq!(set_names(&GUEST_POLICY, p), vec!["smt"]);
        assert_eq!(policy_abi_major(0x1_1f05), 0x1f);
        assert_eq!(policy_abi_minor(0x1_1f05), 0x05);
        let debug = GUEST_POLICY.iter().find(|b| b.name == "debug").unwrap();
        assert!(debug.is_set(1 << 19));
        assert!(!debug.is_set(p));
    }
}
