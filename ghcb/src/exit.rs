//! NAE exit codes and the typed SW_EXITINFO2 result of a guest request.
//!
//! After an (extended) guest request the hypervisor leaves two results in the GHCB:
//! SW_EXITINFO1 says whether the GHCB exchange itself worked ([`HvResponse`]), SW_EXITINFO2 carries
//! `(vmm_error << 32) | fw_status` ([`ExitInfo2`]). The VMM half decides whether the firmware was
//! called at all (INVALID_LEN and BUSY mean "not forwarded — the firmware still expects the same
//! sequence number"); the firmware half is the SNP firmware's status for `SNP_GUEST_REQUEST`.

use core::fmt;

/// NAE event: SNP guest request (SW_EXITINFO1 = request page GPA, SW_EXITINFO2 = response page GPA).
pub const SNP_GUEST_REQUEST: u64 = 0x8000_0011;
/// NAE event: SNP extended guest request (additionally RAX = data pages GPA, RBX = page count).
pub const SNP_EXTENDED_GUEST_REQUEST: u64 = 0x8000_0012;

/// SW_EXITINFO2 for "the host needs a larger certificate buffer" (RBX = pages needed).
pub const INVALID_LEN: u64 = 1 << 32;
/// SW_EXITINFO2 for "the host is busy; resend the identical message".
pub const BUSY: u64 = 2 << 32;
/// SW_EXITINFO2 KVM uses for a generic VMM failure (`~0U << 32`).
pub const GENERIC: u64 = 0xFFFF_FFFF_0000_0000;
/// SW_EXITINFO2 of the seed's generic error (`SNP_GUEST_VMM_ERR_GENERIC = BIT(31)` in the v15
/// series, also `KVM_USER_VMGEXIT_REQ_CERTS_ERROR_GENERIC`, which the seed passes through
/// unchanged). The seed also reports a *firmware* failure as `SEED_GENERIC | fw_err`.
pub const SEED_GENERIC: u64 = 0x8000_0000_0000_0000;
/// SW_EXITINFO2 Linux reports when the firmware was never called (`SEV_RET_NO_FW_CALL`, all ones).
pub const NO_FW_CALL: u64 = u64::MAX;

/// The VMM half (bits 63:32) of SW_EXITINFO2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VmmError {
    /// 0: the VMM forwarded the request to the firmware.
    None,
    /// 1: the certificate buffer is too small; RBX holds the pages needed. Firmware not called.
    InvalidLen,
    /// 2: the host is busy (e.g. certificate blob locked). Firmware not called; resend the same bytes.
    Busy,
    /// 0xFFFF_FFFF: generic VMM failure (KVM's `SNP_GUEST_VMM_ERR_GENERIC`).
    Generic,
    /// 0x8000_0000: the seed generation's generic error (`BIT(31)`), see [`SEED_GENERIC`].
    SeedGeneric,
    /// Any other value.
    Other(u32),
}

impl VmmError {
    /// Decode the 32-bit VMM error.
    pub const fn from_u32(v: u32) -> Self {
        match v {
            0 => VmmError::None,
            1 => VmmError::InvalidLen,
            2 => VmmError::Busy,
            0xFFFF_FFFF => VmmError::Generic,
            0x8000_0000 => VmmError::SeedGeneric,
            v => VmmError::Other(v),
        }
    }

    /// Encode as the 32-bit VMM error.
    pub const fn to_u32(self) -> u32 {
        match self {
            VmmError::None => 0,
            VmmError::InvalidLen => 1,
            VmmError::Busy => 2,
            VmmError::Generic => 0xFFFF_FFFF,
            VmmError::SeedGeneric => 0x8000_0000,
            VmmError::Other(v) => v,
        }
    }
}

macro_rules! fw_status {
    ($( $(#[$doc:meta])* $name:ident = $val:expr, $text:expr; )*) => {
        /// SNP firmware status (AMD pub. 56860; Linux `sev_ret_code`), as found in the low 32 bits
        /// of SW_EXITINFO2 and in the STATUS field of MSG_REPORT_RSP / MSG_KEY_RSP.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum FwStatus {
            $( $(#[$doc])* $name, )*
            /// 0xFFFF_FFFF: Linux's `SEV_RET_NO_FW_CALL` — the firmware was never called.
            NoFirmwareCall,
            /// Any unassigned value.
            Unknown(u32),
        }

        impl FwStatus {
            /// Decode a firmware status.
            pub const fn from_u32(v: u32) -> Self {
                match v {
                    $( $val => FwStatus::$name, )*
                    0xFFFF_FFFF => FwStatus::NoFirmwareCall,
                    v => FwStatus::Unknown(v),
                }
            }

            /// Encode a firmware status.
            pub const fn to_u32(self) -> u32 {
                match self {
                    $( FwStatus::$name => $val, )*
                    FwStatus::NoFirmwareCall => 0xFFFF_FFFF,
                    FwStatus::Unknown(v) => v,
                }
            }

            /// The specification's name for the status (e.g. `INVALID_PARAM`).
            pub const fn name(self) -> &'static str {
                match self {
                    $( FwStatus::$name => $text, )*
                    FwStatus::NoFirmwareCall => "NO_FW_CALL",
                    FwStatus::Unknown(_) => "UNKNOWN",
                }
            }
        }
    };
}

fw_status! {
    /// 0x00
    Success = 0x00, "SUCCESS";
    /// 0x01
    InvalidPlatformState = 0x01, "INVALID_PLATFORM_STATE";
    /// 0x02
    InvalidGuestState = 0x02, "INVALID_GUEST_STATE";
    /// 0x03
    InvalidConfig = 0x03, "INVALID_CONFIG";
    /// 0x04
    InvalidLen = 0x04, "INVALID_LEN";
    /// 0x05
    AlreadyOwned = 0x05, "ALREADY_OWNED";
    /// 0x06
    InvalidCertificate = 0x06, "INVALID_CERTIFICATE";
    /// 0x07
    PolicyFailure = 0x07, "POLICY_FAILURE";
    /// 0x08
    Inactive = 0x08, "INACTIVE";
    /// 0x09
    InvalidAddress = 0x09, "INVALID_ADDRESS";
    /// 0x0A
    BadSignature = 0x0A, "BAD_SIGNATURE";
    /// 0x0B
    BadMeasurement = 0x0B, "BAD_MEASUREMENT";
    /// 0x0C
    AsidOwned = 0x0C, "ASID_OWNED";
    /// 0x0D
    InvalidAsid = 0x0D, "INVALID_ASID";
    /// 0x0E
    WbinvdRequired = 0x0E, "WBINVD_REQUIRED";
    /// 0x0F
    DfflushRequired = 0x0F, "DFFLUSH_REQUIRED";
    /// 0x10
    InvalidGuest = 0x10, "INVALID_GUEST";
    /// 0x11
    InvalidCommand = 0x11, "INVALID_COMMAND";
    /// 0x12
    Active = 0x12, "ACTIVE";
    /// 0x13
    HwErrorPlatform = 0x13, "HWERROR_PLATFORM";
    /// 0x14
    HwErrorUnsafe = 0x14, "HWERROR_UNSAFE";
    /// 0x15
    Unsupported = 0x15, "UNSUPPORTED";
    /// 0x16: e.g. a report requested for a VMPL below the caller's.
    InvalidParam = 0x16, "INVALID_PARAM";
    /// 0x17
    ResourceLimit = 0x17, "RESOURCE_LIMIT";
    /// 0x18
    SecureDataInvalid = 0x18, "SECURE_DATA_INVALID";
    /// 0x19
    InvalidPageSize = 0x19, "INVALID_PAGE_SIZE";
    /// 0x1A
    InvalidPageState = 0x1A, "INVALID_PAGE_STATE";
    /// 0x1B
    InvalidMdataEntry = 0x1B, "INVALID_MDATA_ENTRY";
    /// 0x1C
    InvalidPageOwner = 0x1C, "INVALID_PAGE_OWNER";
    /// 0x1D
    AeadOflow = 0x1D, "AEAD_OFLOW";
    /// 0x1F (0x1E is unassigned)
    ExitRingBuffer = 0x1F, "EXIT_RING_BUFFER";
    /// 0x20
    RmpInitRequired = 0x20, "RMP_INIT_REQUIRED";
    /// 0x21
    BadSvn = 0x21, "BAD_SVN";
    /// 0x22
    BadVersion = 0x22, "BAD_VERSION";
    /// 0x23
    ShutdownRequired = 0x23, "SHUTDOWN_REQUIRED";
    /// 0x24
    UpdateFailed = 0x24, "UPDATE_FAILED";
    /// 0x25
    RestoreRequired = 0x25, "RESTORE_REQUIRED";
    /// 0x26
    RmpInitializationFailed = 0x26, "RMP_INITIALIZATION_FAILED";
    /// 0x27: e.g. a VLEK-signed report requested but no VLEK is loaded.
    InvalidKey = 0x27, "INVALID_KEY";
}

impl fmt::Display for FwStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:#x})", self.name(), self.to_u32())
    }
}

impl fmt::Display for VmmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VmmError::None => f.write_str("none"),
            VmmError::InvalidLen => f.write_str("INVALID_LEN (1)"),
            VmmError::Busy => f.write_str("BUSY (2)"),
            VmmError::Generic => f.write_str("GENERIC (0xffffffff)"),
            VmmError::SeedGeneric => f.write_str("GENERIC of the seed KVM interface (0x80000000)"),
            VmmError::Other(v) => write!(f, "unknown VMM error {v:#x}"),
        }
    }
}

/// SW_EXITINFO2 after a guest request: `(vmm_error << 32) | fw_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExitInfo2 {
    /// VMM half (bits 63:32).
    pub vmm: VmmError,
    /// Firmware half (bits 31:0).
    pub fw: FwStatus,
}

impl ExitInfo2 {
    /// Success: forwarded, firmware status 0.
    pub const SUCCESS: ExitInfo2 = ExitInfo2 {
        vmm: VmmError::None,
        fw: FwStatus::Success,
    };

    /// Decode a raw SW_EXITINFO2. Total: every value maps to some `ExitInfo2`, and
    /// `from_u64(v).to_u64() == v`.
    pub const fn from_u64(v: u64) -> Self {
        Self {
            vmm: VmmError::from_u32((v >> 32) as u32),
            fw: FwStatus::from_u32(v as u32),
        }
    }

    /// Encode as the raw SW_EXITINFO2.
    pub const fn to_u64(self) -> u64 {
        ((self.vmm.to_u32() as u64) << 32) | self.fw.to_u32() as u64
    }

    /// Exactly zero: the firmware ran the request and succeeded.
    pub const fn is_success(self) -> bool {
        self.to_u64() == 0
    }

    /// Exactly INVALID_LEN (firmware bits zero). Like Linux, a VMM error with non-zero firmware
    /// bits is *not* treated as INVALID_LEN: that combination is meaningless and handled as fatal.
    pub const fn is_invalid_len(self) -> bool {
        self.to_u64() == INVALID_LEN
    }

    /// Exactly BUSY (firmware bits zero); see [`ExitInfo2::is_invalid_len`].
    pub const fn is_busy(self) -> bool {
        self.to_u64() == BUSY
    }

    /// The firmware's status when this answer reports a *firmware* failure: a non-zero firmware
    /// half with no VMM error (what merged KVM returns) or behind KVM's generic error (what the
    /// seed returns: `GENERIC << 32 | fw_err`, with either generic value). `None` for success and
    /// for host (VMM) errors — a VMM error with a zero firmware half, any other VMM value, or
    /// Linux's `NO_FW_CALL` all-ones — which the firmware never saw as far as the host says.
    pub const fn firmware_error(self) -> Option<FwStatus> {
        match (self.vmm, self.fw) {
            (_, FwStatus::Success) | (_, FwStatus::NoFirmwareCall) => None,
            (VmmError::None, fw) | (VmmError::Generic, fw) | (VmmError::SeedGeneric, fw) => {
                Some(fw)
            }
            _ => None,
        }
    }

    /// A host (VMM) error: neither success nor a firmware failure
    /// ([`ExitInfo2::firmware_error`]).
    pub const fn is_host_error(self) -> bool {
        !self.is_success() && self.firmware_error().is_none()
    }
}

impl fmt::Display for ExitInfo2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exitinfo2 {:#018x} (vmm error {}, firmware status {})",
            self.to_u64(),
            self.vmm,
            self.fw
        )
    }
}

/// GHCB-level error codes a hypervisor returns in SW_EXITINFO2 when SW_EXITINFO1 = 2
/// (Linux `GHCB_ERR_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GhcbErr {
    /// 1: the GHCB GPA was not registered.
    NotRegistered,
    /// 2: the GHCB usage field is not supported.
    InvalidUsage,
    /// 3: the scratch area is invalid.
    InvalidScratchArea,
    /// 4: a required field was not marked valid.
    MissingInput,
    /// 5: an input value was rejected (e.g. unaligned or private request pages).
    InvalidInput,
    /// 6: invalid event.
    InvalidEvent,
    /// Any other code.
    Other(u64),
}

impl GhcbErr {
    /// Decode from SW_EXITINFO2.
    pub const fn from_u64(v: u64) -> Self {
        match v {
            1 => GhcbErr::NotRegistered,
            2 => GhcbErr::InvalidUsage,
            3 => GhcbErr::InvalidScratchArea,
            4 => GhcbErr::MissingInput,
            5 => GhcbErr::InvalidInput,
            6 => GhcbErr::InvalidEvent,
            v => GhcbErr::Other(v),
        }
    }

    /// Encode into SW_EXITINFO2.
    pub const fn to_u64(self) -> u64 {
        match self {
            GhcbErr::NotRegistered => 1,
            GhcbErr::InvalidUsage => 2,
            GhcbErr::InvalidScratchArea => 3,
            GhcbErr::MissingInput => 4,
            GhcbErr::InvalidInput => 5,
            GhcbErr::InvalidEvent => 6,
            GhcbErr::Other(v) => v,
        }
    }
}

/// What SW_EXITINFO1 says about the GHCB exchange itself (KVM `GHCB_HV_RESP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HvResponse {
    /// 0: the event was handled; for guest requests SW_EXITINFO2 holds an [`ExitInfo2`].
    Handled,
    /// 1: the hypervisor asks the guest to raise an exception (EVENTINJ in SW_EXITINFO2).
    IssueException {
        /// SW_EXITINFO2 (the EVENTINJ value).
        event_inj: u64,
    },
    /// 2: the hypervisor found the GHCB input malformed.
    MalformedInput(GhcbErr),
    /// Any other SW_EXITINFO1 low-32-bit value.
    Other {
        /// SW_EXITINFO1.
        info1: u64,
        /// SW_EXITINFO2.
        info2: u64,
    },
}

impl HvResponse {
    /// Classify SW_EXITINFO1/2 (only the low 32 bits of SW_EXITINFO1 carry the response code).
    pub const fn from_exit_info(info1: u64, info2: u64) -> Self {
        match info1 & 0xFFFF_FFFF {
            0 => HvResponse::Handled,
            1 => HvResponse::IssueException { event_inj: info2 },
            2 => HvResponse::MalformedInput(GhcbErr::from_u64(info2)),
            _ => HvResponse::Other { info1, info2 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        assert_eq!(
            ExitInfo2::from_u64(INVALID_LEN),
            ExitInfo2 {
                vmm: VmmError::InvalidLen,
                fw: FwStatus::Success
            }
        );
        assert!(ExitInfo2::from_u64(INVALID_LEN).is_invalid_len());
        assert!(ExitInfo2::from_u64(BUSY).is_busy());
        assert!(!ExitInfo2::from_u64(BUSY | 1).is_busy());
        assert_eq!(ExitInfo2::from_u64(GENERIC).vmm, VmmError::Generic);
        assert_eq!(ExitInfo2::from_u64(0x16).fw, FwStatus::InvalidParam);
        assert_eq!(ExitInfo2::from_u64(0x27).fw, FwStatus::InvalidKey);
        assert_eq!(ExitInfo2::from_u64(0x1E).fw, FwStatus::Unknown(0x1E));
        assert_eq!(
            ExitInfo2::from_u64(NO_FW_CALL),
            ExitInfo2 {
                vmm: VmmError::Generic,
                fw: FwStatus::NoFirmwareCall
            }
        );
        assert!(ExitInfo2::SUCCESS.is_success());
        assert_eq!(ExitInfo2::SUCCESS.to_u64(), 0);
    }

    #[test]
    fn every_named_status_round_trips() {
        for v in 0u32..=0x27 {
            let s = FwStatus::from_u32(v);
            assert_eq!(s.to_u32(), v);
            if v == 0x1E {
                assert_eq!(s, FwStatus::Unknown(0x1E));
            } else {
                assert!(!matches!(s, FwStatus::Unknown(_)), "{v:#x} unnamed");
                assert_ne!(s.name(), "UNKNOWN");
            }
        }
    }

    #[test]
    fn hv_response() {
        assert_eq!(HvResponse::from_exit_info(0, 5), HvResponse::Handled);
        assert_eq!(
            HvResponse::from_exit_info(2, 4),
            HvResponse::MalformedInput(GhcbErr::MissingInput)
        );
        assert_eq!(
            HvResponse::from_exit_info(1, 0x8000_030d),
            HvResponse::IssueException {
                event_inj: 0x8000_030d
            }
        );
        assert!(matches!(
            HvResponse::from_exit_info(7, 0),
            HvResponse::Other { .. }
        ));
    }

    #[test]
    fn host_and_firmware_errors_of_both_kvm_generations() {
        let fw = FwStatus::InvalidParam;
        // Merged KVM: a firmware failure is the status alone; its generic error has none.
        assert_eq!(ExitInfo2::from_u64(0x16).firmware_error(), Some(fw));
        assert!(ExitInfo2::from_u64(GENERIC).is_host_error());
        // Seed: the VMM's generic `ret` arrives as bit 63; a firmware failure carries it too.
        let seed_generic = ExitInfo2::from_u64(SEED_GENERIC);
        assert_eq!(seed_generic.vmm, VmmError::SeedGeneric);
        assert!(seed_generic.is_host_error());
        assert_eq!(
            ExitInfo2::from_u64(SEED_GENERIC | 0x16).firmware_error(),
            Some(fw)
        );
        assert_eq!(
            ExitInfo2::from_u64(GENERIC | 0x16).firmware_error(),
            Some(fw)
        );
        // A buggy seed VMM's ret of 22 reaches the guest verbatim: a host error.
        assert!(ExitInfo2::from_u64(22 << 32).is_host_error());
        assert!(ExitInfo2::from_u64((22 << 32) | 0x16).is_host_error());
        // INVALID_LEN / BUSY / NO_FW_CALL are host answers, success is neither.
        for v in [INVALID_LEN, BUSY, NO_FW_CALL] {
            assert!(ExitInfo2::from_u64(v).is_host_error(), "{v:#x}");
        }
        assert!(!ExitInfo2::SUCCESS.is_host_error());
        assert_eq!(ExitInfo2::SUCCESS.firmware_error(), None);
    }

    proptest! {
        #[test]
        fn exitinfo2_is_total_and_lossless(v in any::<u64>()) {
            prop_assert_eq!(ExitInfo2::from_u64(v).to_u64(), v);
            let _ = HvResponse::from_exit_info(v, v);
            prop_assert_eq!(GhcbErr::from_u64(v).to_u64(), v);
        }
    }
}
