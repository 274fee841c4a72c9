//! GHCB MSR protocol values (AMD pub. 56421).
//!
//! Before a GHCB page can be used (and before SNP guests may use it at all) the guest talks to the
//! hypervisor through the GHCB MSR itself: the low 12 bits (GHCBInfo) name the request or response,
//! the upper bits carry data. The guest needs three exchanges: SEV information (which GHCB protocol
//! versions the hypervisor speaks), GHCB GPA registration (mandatory for SNP), and termination.
//! Both sides use these functions: the guest encodes requests and decodes responses, the simulator
//! does the reverse, so encoding and decoding are each other's exact inverse.

use thiserror::Error;

/// The GHCB MSR (`MSR_AMD64_SEV_ES_GHCB`).
pub const GHCB_MSR: u32 = 0xC001_0130;

/// Mask of the GHCBInfo field (bits 11:0).
pub const INFO_MASK: u64 = 0xFFF;

/// GHCBInfo: SEV information response (hypervisor → guest).
pub const SEV_INFO_RESP: u64 = 0x001;
/// GHCBInfo: SEV information request (guest → hypervisor).
pub const SEV_INFO_REQ: u64 = 0x002;
/// GHCBInfo: register GHCB GPA request.
pub const REGISTER_GPA_REQ: u64 = 0x012;
/// GHCBInfo: register GHCB GPA response.
pub const REGISTER_GPA_RESP: u64 = 0x013;
/// GHCBInfo: termination request.
pub const TERMINATION_REQ: u64 = 0x100;

/// GFN value a hypervisor returns in the registration response to refuse the registration
/// (all ones in bits 63:12, as with the "preferred GPA: none" answer).
pub const REGISTER_GPA_REFUSED_GFN: u64 = 0xF_FFFF_FFFF_FFFF;

/// Why an MSR protocol value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MsrError {
    /// The hypervisor answered with a different GHCBInfo than the protocol requires.
    #[error("GHCB MSR protocol: expected response code {expected:#x}, hypervisor answered {got:#x} (value {value:#x}); the hypervisor does not implement this request")]
    UnexpectedInfo {
        /// GHCBInfo the protocol requires.
        expected: u64,
        /// GHCBInfo found.
        got: u64,
        /// The whole MSR value.
        value: u64,
    },
    /// The registration response did not echo the GFN the guest asked to register.
    #[error("GHCB GPA registration refused: asked for GFN {requested:#x}, hypervisor answered GFN {answered:#x}")]
    GpaNotRegistered {
        /// GFN the guest asked to register.
        requested: u64,
        /// GFN the hypervisor returned.
        answered: u64,
    },
    /// A GPA passed for registration is not 4 KiB aligned (the GFN would lose its low bits).
    #[error("GHCB GPA {0:#x} is not 4 KiB aligned")]
    UnalignedGpa(u64),
    /// The SEV information response advertises min > max protocol.
    #[error("SEV information response is inconsistent: min protocol {min} > max protocol {max}")]
    BadProtocolRange {
        /// Advertised minimum.
        min: u16,
        /// Advertised maximum.
        max: u16,
    },
    /// A termination reason set does not fit in its 4 bits.
    #[error("termination reason set {0} does not fit in 4 bits")]
    ReasonSetTooLarge(u8),
}

/// Extract the GHCBInfo field of an MSR value.
pub const fn info(value: u64) -> u64 {
    value & INFO_MASK
}

fn expect_info(value: u64, expected: u64) -> Result<(), MsrError> {
    let got = info(value);
    if got == expected {
        Ok(())
    } else {
        Err(MsrError::UnexpectedInfo {
            expected,
            got,
            value,
        })
    }
}

/// The SEV information response: protocol versions the hypervisor supports and the C-bit position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SevInfo {
    /// Highest GHCB protocol version supported (bits 63:48).
    pub max_protocol: u16,
    /// Lowest GHCB protocol version supported (bits 47:32).
    pub min_protocol: u16,
    /// Page-table encryption bit position (bits 31:24).
    pub c_bit: u8,
}

impl SevInfo {
    /// Encode as the hypervisor's response value.
    pub const fn encode(&self) -> u64 {
        ((self.max_protocol as u64) << 48)
            | ((self.min_protocol as u64) << 32)
            | ((self.c_bit as u64) << 24)
            | SEV_INFO_RESP
    }

    /// Decode the hypervisor's response; rejects a different response code or an empty range.
    pub fn decode(value: u64) -> Result<Self, MsrError> {
        expect_info(value, SEV_INFO_RESP)?;
        let info = Self {
            max_protocol: (value >> 48) as u16,
            min_protocol: (value >> 32) as u16,
            c_bit: (value >> 24) as u8,
        };
        if info.min_protocol > info.max_protocol {
            return Err(MsrError::BadProtocolRange {
                min: info.min_protocol,
                max: info.max_protocol,
            });
        }
        Ok(info)
    }

    /// Whether `version` lies in the advertised range.
    pub const fn supports(&self, version: u16) -> bool {
        self.min_protocol <= version && version <= self.max_protocol
    }
}

/// The SEV information request value (GHCBInfo 0x002, no data).
pub const fn sev_info_request() -> u64 {
    SEV_INFO_REQ
}

/// Encode a GHCB GPA registration request: GFN in bits 63:12.
pub fn register_gpa_request(gpa: u64) -> Result<u64, MsrError> {
    if gpa & INFO_MASK != 0 {
        return Err(MsrError::UnalignedGpa(gpa));
    }
    Ok(gpa | REGISTER_GPA_REQ)
}

/// Decode a registration request (hypervisor side): the GPA the guest wants to register.
pub fn decode_register_gpa_request(value: u64) -> Result<u64, MsrError> {
    expect_info(value, REGISTER_GPA_REQ)?;
    Ok(value & !INFO_MASK)
}

/// Encode the registration response for a GFN (hypervisor side). To accept, echo the guest's GFN;
/// to refuse, answer [`REGISTER_GPA_REFUSED_GFN`].
pub const fn register_gpa_response(gfn: u64) -> u64 {
    (gfn << 12) | REGISTER_GPA_RESP
}

/// Check the registration response (guest side): it must carry GHCBInfo 0x013 and echo the GFN of
/// `requested_gpa`.
pub fn check_register_gpa_response(value: u64, requested_gpa: u64) -> Result<(), MsrError> {
    expect_info(value, REGISTER_GPA_RESP)?;
    let requested = requested_gpa >> 12;
    let answered = value >> 12;
    if requested != answered {
        return Err(MsrError::GpaNotRegistered {
            requested,
            answered,
        });
    }
    Ok(())
}

/// Reason set 0 ("general"), defined by the GHCB specification.
pub const REASON_SET_GHCB: u8 = 0;
/// Reason code in set 0: general termination request.
pub const REASON_GENERAL: u8 = 0;
/// Reason code in set 0: GHCB protocol range not supported.
pub const REASON_PROTOCOL_UNSUPPORTED: u8 = 1;
/// Reason code in set 0: SEV-SNP features not supported.
pub const REASON_SNP_UNSUPPORTED: u8 = 2;

/// A termination request: reason set (bits 15:12) and reason code (bits 23:16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Termination {
    /// Reason set (4 bits; 0 = GHCB-defined codes).
    pub reason_set: u8,
    /// Reason code within the set.
    pub reason_code: u8,
}

impl Termination {
    /// Encode as the MSR value the guest writes before its final VMGEXIT.
    pub fn encode(&self) -> Result<u64, MsrError> {
        if self.reason_set > 0xF {
            return Err(MsrError::ReasonSetTooLarge(self.reason_set));
        }
        Ok(((self.reason_code as u64) << 16) | ((self.reason_set as u64) << 12) | TERMINATION_REQ)
    }

    /// Decode a termination request (hypervisor side).
    pub fn decode(value: u64) -> Result<Self, MsrError> {
        expect_info(value, TERMINATION_REQ)?;
        Ok(Self {
            reason_set: ((value >> 12) & 0xF) as u8,
            reason_code: (value >> 16) as u8,
        })
    }
}

/// A guest MSR-protocol request as the hypervisor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsrRequest {
    /// SEV information request.
    SevInfo,
    /// Register this GHCB GPA.
    RegisterGpa(u64),
    /// Terminate the guest.
    Terminate(Termination),
    /// Any other GHCBInfo (CPUID, page state change, …): not modelled here.
    Other {
        /// The GHCBInfo field.
        info: u64,
        /// The whole value.
        value: u64,
    },
}

impl MsrRequest {
    /// Classify a value written to the GHCB MSR by the guest. Total: never fails.
    pub fn decode(value: u64) -> Self {
        match info(value) {
            SEV_INFO_REQ => MsrRequest::SevInfo,
            REGISTER_GPA_REQ => MsrRequest::RegisterGpa(value & !INFO_MASK),
            TERMINATION_REQ => MsrRequest::Terminate(Termination {
                reason_set: ((value >> 12) & 0xF) as u8,
                reason_code: (value >> 16) as u8,
            }),
            info => MsrRequest::Other { info, value },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sev_info_round_trip() {
        let i = SevInfo {
            max_protocol: 2,
            min_protocol: 1,
            c_bit: 51,
        };
        let v = i.encode();
        assert_eq!(v, 0x0002_0001_3300_0001);
        assert_eq!(SevInfo::decode(v), Ok(i));
        assert!(i.supports(2));
        assert!(!i.supports(3));
        assert_eq!(
            SevInfo::decode(v & !0xFFF | 0x005),
            Err(MsrError::UnexpectedInfo {
                expected: 1,
                got: 5,
                value: v & !0xFFF | 5
            })
        );
        let bad = SevInfo {
            max_protocol: 1,
            min_protocol: 2,
            c_bit: 0,
        }
        .encode();
        assert!(matches!(
            SevInfo::decode(bad),
            Err(MsrError::BadProtocolRange { .. })
        ));
    }

    #[test]
    fn registration() {
        let gpa = 0x1234_5000;
        let req = register_gpa_request(gpa).unwrap();
        assert_eq!(req, 0x1234_5012);
        assert_eq!(MsrRequest::decode(req), MsrRequest::RegisterGpa(gpa));
        assert_eq!(decode_register_gpa_request(req), Ok(gpa));
        assert_eq!(
            register_gpa_request(0x1234_5008),
            Err(MsrError::UnalignedGpa(0x1234_5008))
        );
        let ok = register_gpa_response(gpa >> 12);
        assert_eq!(check_register_gpa_response(ok, gpa), Ok(()));
        let refused = register_gpa_response(REGISTER_GPA_REFUSED_GFN);
        assert!(matches!(
            check_register_gpa_response(refused, gpa),
            Err(MsrError::GpaNotRegistered { .. })
        ));
    }

    #[test]
    fn termination() {
        let t = Termination {
            reason_set: REASON_SET_GHCB,
            reason_code: REASON_SNP_UNSUPPORTED,
        };
        let v = t.encode().unwrap();
        assert_eq!(v, 0x2_0100);
        assert_eq!(Termination::decode(v), Ok(t));
        assert_eq!(MsrRequest::decode(v), MsrRequest::Terminate(t));
        assert_eq!(
            Termination {
                reason_set: 16,
                reason_code: 0
            }
            .encode(),
            Err(MsrError::ReasonSetTooLarge(16))
        );
        assert_eq!(MsrRequest::decode(SEV_INFO_REQ), MsrRequest::SevInfo);
    }

    proptest! {
        #[test]
        fn decoders_never_panic(v in any::<u64>()) {
            let _ = SevInfo::decode(v);
            let _ = Termination::decode(v);
            let _ = MsrRequest::decode(v);
            let _ = decode_register_gpa_request(v);
            let _ = check_register_gpa_response(v, v);
        }

        #[test]
        fn termination_round_trips(set in 0u8..16, code in any::<u8>()) {
            let t = Termination { reason_set: set, reason_code: code };
            prop_assert_eq!(Termination::decode(t.encode().unwrap()), Ok(t));
        }
    }
}
