//! The attestation report: byte layout and a zero-copy view over the received bytes.
//!
//! There is one definition of the layout ([`offset`], [`len`]) used by the guest-side view and
//! by producers of reports (the simulator) alike. The verifier hashes the *received* bytes
//! `0x000..0x2A0`; nothing here re-encodes a parsed report, because a re-encoder would drop
//! reserved bits and so accept tampered reports.

use std::fmt;

use crate::error::{ProductError, ReportError, TcbError};
use crate::product::{Cpuid, Product};
use crate::tcb::{Tcb, TCB_LEN};

/// Size of an ATTESTATION_REPORT (ABI §5.4).
pub const REPORT_SIZE: usize = 0x4A0;
/// Number of leading bytes covered by the signature (0x000..=0x29F).
pub const SIGNED_LEN: usize = 0x2A0;
/// Length of each little-endian signature component (R, S) in the report.
pub const SIG_COMPONENT_LEN: usize = 72;
/// Bytes of a P-384 scalar; the upper `72 - 48` bytes of R and S must be zero.
pub const P384_SCALAR_LEN: usize = 48;
/// Length of the reserved rest of the signature area after S (0x330..0x4A0). Like the upper bytes
/// of R and S it lies outside the signed range, so the verifier requires it to be zero: otherwise
/// one genuine report would have 2^2944 byte forms that all verify.
pub const SIGNATURE_RESERVED_LEN: usize = REPORT_SIZE - offset::SIGNATURE_RESERVED;
/// `SIGNATURE_ALGO` value for ECDSA P-384 with SHA-384, the only one defined.
pub const SIG_ALGO_ECDSA_P384_SHA384: u32 = 1;
/// First report version with the CPUID family/model/stepping fields.
pub const FIRST_VERSION_WITH_CPUID: u32 = 3;
/// First report version with the launch/current mitigation vectors.
pub const FIRST_VERSION_WITH_MIT_VECTORS: u32 = 5;

/// Byte offsets of every report field (ABI 56860 Table "ATTESTATION_REPORT"; abi-facts §5.4).
pub mod offset {
    /// u32 report format version (2, 3, 5 seen in the field).
    pub const VERSION: usize = 0x000;
    /// u32 guest SVN.
    pub const GUEST_SVN: usize = 0x004;
    /// u64 guest policy.
    pub const POLICY: usize = 0x008;
    /// 16-byte family ID from the ID block.
    pub const FAMILY_ID: usize = 0x010;
    /// 16-byte image ID from the ID block.
    pub const IMAGE_ID: usize = 0x020;
    /// u32 VMPL the report was requested at.
    pub const VMPL: usize = 0x030;
    /// u32 signature algorithm (1 = ECDSA P-384 SHA-384).
    pub const SIGNATURE_ALGO: usize = 0x034;
    /// 8-byte CURRENT_TCB.
    pub const CURRENT_TCB: usize = 0x038;
    /// u64 platform info bits.
    pub const PLATFORM_INFO: usize = 0x040;
    /// u32 signer info (a.k.a. KEY_INFO): author key, mask chip key, signing key.
    pub const SIGNER_INFO: usize = 0x048;
    /// Alias of [`SIGNER_INFO`] under its older name.
    pub const KEY_INFO: usize = SIGNER_INFO;
    /// u32 reserved.
    pub const RESERVED_04C: usize = 0x04C;
    /// 64 bytes supplied by the guest.
    pub const REPORT_DATA: usize = 0x050;
    /// 48-byte launch measurement.
    pub const MEASUREMENT: usize = 0x090;
    /// 32 bytes supplied by the host at launch.
    pub const HOST_DATA: usize = 0x0C0;
    /// 48-byte SHA-384 of the ID key.
    pub const ID_KEY_DIGEST: usize = 0x0E0;
    /// 48-byte SHA-384 of the author key.
    pub const AUTHOR_KEY_DIGEST: usize = 0x110;
    /// 32-byte report ID.
    pub const REPORT_ID: usize = 0x140;
    /// 32-byte report ID of the migration agent.
    pub const REPORT_ID_MA: usize = 0x160;
    /// 8-byte REPORTED_TCB (the TCB the VCEK is derived from).
    pub const REPORTED_TCB: usize = 0x180;
    /// u8 CPUID family (v3+; reserved before).
    pub const CPUID_FAM_ID: usize = 0x188;
    /// u8 CPUID model (v3+).
    pub const CPUID_MOD_ID: usize = 0x189;
    /// u8 CPUID stepping (v3+).
    pub const CPUID_STEP: usize = 0x18A;
    /// 21 reserved bytes.
    pub const RESERVED_18B: usize = 0x18B;
    /// 64-byte chip ID (zero when masked; Turin: 8 bytes + 56 zero).
    pub const CHIP_ID: usize = 0x1A0;
    /// 8-byte COMMITTED_TCB.
    pub const COMMITTED_TCB: usize = 0x1E0;
    /// u8 current firmware build.
    pub const CURRENT_BUILD: usize = 0x1E8;
    /// u8 current firmware minor version.
    pub const CURRENT_MINOR: usize = 0x1E9;
    /// u8 current firmware major version.
    pub const CURRENT_MAJOR: usize = 0x1EA;
    /// u8 committed firmware build.
    pub const COMMITTED_BUILD: usize = 0x1EC;
    /// u8 committed firmware minor version.
    pub const COMMITTED_MINOR: usize = 0x1ED;
    /// u8 committed firmware major version.
    pub const COMMITTED_MAJOR: usize = 0x1EE;
    /// 8-byte LAUNCH_TCB.
    pub const LAUNCH_TCB: usize = 0x1F0;
    /// u64 launch mitigation vector (v5+).
    pub const LAUNCH_MIT_VECTOR: usize = 0x1F8;
    /// u64 current mitigation vector (v5+).
    pub const CURRENT_MIT_VECTOR: usize = 0x200;
    /// Reserved up to the signature.
    pub const RESERVED_208: usize = 0x208;
    /// Start of the 512-byte signature area.
    pub const SIGNATURE: usize = 0x2A0;
    /// 72-byte little-endian R.
    pub const SIGNATURE_R: usize = 0x2A0;
    /// 72-byte little-endian S.
    pub const SIGNATURE_S: usize = 0x2E8;
    /// Reserved rest of the signature area.
    pub const SIGNATURE_RESERVED: usize = 0x330;
}

/// Lengths of the multi-byte report fields.
pub mod len {
    /// FAMILY_ID / IMAGE_ID.
    pub const FAMILY_ID: usize = 16;
    /// IMAGE_ID.
    pub const IMAGE_ID: usize = 16;
    /// REPORT_DATA.
    pub const REPORT_DATA: usize = 64;
    /// MEASUREMENT.
    pub const MEASUREMENT: usize = 48;
    /// HOST_DATA.
    pub const HOST_DATA: usize = 32;
    /// ID_KEY_DIGEST / AUTHOR_KEY_DIGEST.
    pub const KEY_DIGEST: usize = 48;
    /// REPORT_ID / REPORT_ID_MA.
    pub const REPORT_ID: usize = 32;
    /// CHIP_ID.
    pub const CHIP_ID: usize = 64;
    /// Any TCB_VERSION field.
    pub const TCB: usize = crate::tcb::TCB_LEN;
    /// One signature component (R or S).
    pub const SIGNATURE_COMPONENT: usize = super::SIG_COMPONENT_LEN;
    /// The whole signature area.
    pub const SIGNATURE_AREA: usize = 512;
}

/// Bits of the signer info word at [`offset::SIGNER_INFO`].
pub mod signer_info {
    use super::SigningKey;

    /// Bit 0: the ID block was signed by an author key (AUTHOR_KEY_EN).
    pub const AUTHOR_KEY_EN: u32 = 1 << 0;
    /// Bit 1: MASK_CHIP_KEY — the firmware did not sign with the chip key.
    pub const MASK_CHIP_KEY: u32 = 1 << 1;
    /// Shift of the 3-bit SIGNING_KEY field.
    pub const SIGNING_KEY_SHIFT: u32 = 2;
    /// Mask of the SIGNING_KEY field (bits 4:2).
    pub const SIGNING_KEY_MASK: u32 = 0b111 << SIGNING_KEY_SHIFT;
    /// Bits 31:5 must be zero.
    pub const RESERVED_MASK: u32 = !0b1_1111;

    /// The signing key named by a signer info word.
    pub fn signing_key(word: u32) -> SigningKey {
        SigningKey::from_bits(((word & SIGNING_KEY_MASK) >> SIGNING_KEY_SHIFT) as u8)
    }

    /// Compose a signer info word (for producers of reports).
    pub fn encode(key: SigningKey, author_key_en: bool, mask_chip_key: bool) -> u32 {
        let mut w = (u32::from(key.bits()) << SIGNING_KEY_SHIFT) & SIGNING_KEY_MASK;
        if author_key_en {
            w |= AUTHOR_KEY_EN;
        }
        if mask_chip_key {
            w |= MASK_CHIP_KEY;
        }
        w
    }
}

/// Which key signed the report (signer info bits 4:2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningKey {
    /// 0: the chip's VCEK.
    Vcek,
    /// 1: a VLEK loaded by the cloud provider.
    Vlek,
    /// 7: the report is unsigned.
    None,
    /// 2–6: reserved values.
    Reserved(u8),
}

impl SigningKey {
    /// Decode the 3-bit field.
    pub fn from_bits(bits: u8) -> SigningKey {
        match bits & 0b111 {
            0 => SigningKey::Vcek,
            1 => SigningKey::Vlek,
            7 => SigningKey::None,
            other => SigningKey::Reserved(other),
        }
    }

    /// The 3-bit field value.
    pub fn bits(self) -> u8 {
        match self {
            SigningKey::Vcek => 0,
            SigningKey::Vlek => 1,
            SigningKey::None => 7,
            SigningKey::Reserved(b) => b & 0b111,
        }
    }
}

impl fmt::Display for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigningKey::Vcek => f.write_str("VCEK"),
            SigningKey::Vlek => f.write_str("VLEK"),
            SigningKey::None => f.write_str("none"),
            SigningKey::Reserved(b) => write!(f, "reserved({b})"),
        }
    }
}

/// A firmware version triple (CURRENT_* / COMMITTED_* fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FirmwareVersion {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Build number.
    pub build: u8,
}

impl fmt::Display for FirmwareVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.build)
    }
}

/// A zero-copy view over exactly [`REPORT_SIZE`] received bytes.
///
/// Construction only checks the length, so reports of unknown versions and with a masked
/// chip ID can be displayed; semantic checks (version, signature, bindings) are the
/// verifier's job. Accessors return references into the received bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ReportView<'a> {
    bytes: &'a [u8; REPORT_SIZE],
}

// Every fixed-offset accessor below is proven in range at compile time by these asserts and by
// the `const` block in `ReportView::array`, so no accessor can panic at run time.
const _: () = assert!(offset::SIGNATURE_RESERVED + 368 == REPORT_SIZE);
const _: () = assert!(offset::SIGNATURE_S + SIG_COMPONENT_LEN == offset::SIGNATURE_RESERVED);

impl<'a> ReportView<'a> {
    /// View `bytes` as a report. The length must be exactly [`REPORT_SIZE`]: trailing bytes
    /// are refused rather than ignored so that a container is never mistaken for a report.
    pub fn new(bytes: &'a [u8]) -> Result<ReportView<'a>, ReportError> {
        match <&[u8; REPORT_SIZE]>::try_from(bytes) {
            Ok(bytes) => Ok(ReportView { bytes }),
            Err(_) if bytes.len() < REPORT_SIZE => Err(ReportError::Truncated {
                len: bytes.len(),
                expected: REPORT_SIZE,
            }),
            Err(_) => Err(ReportError::Oversized {
                len: bytes.len(),
                expected: REPORT_SIZE,
            }),
        }
    }

    /// View a fixed-size report buffer (cannot fail).
    pub fn from_array(bytes: &'a [u8; REPORT_SIZE]) -> ReportView<'a> {
        ReportView { bytes }
    }

    fn array<const OFF: usize, const N: usize>(&self) -> &'a [u8; N] {
        const { assert!(OFF + N <= REPORT_SIZE) };
        let bytes: &'a [u8; REPORT_SIZE] = self.bytes;
        match bytes.get(OFF..OFF + N).map(<&[u8; N]>::try_from) {
            Some(Ok(a)) => a,
            // Unreachable: the range is checked at compile time above.
            _ => unreachable!("report field {OFF:#x}+{N} out of range"),
        }
    }

    fn u32_at<const OFF: usize>(&self) -> u32 {
        u32::from_le_bytes(*self.array::<OFF, 4>())
    }

    fn u64_at<const OFF: usize>(&self) -> u64 {
        u64::from_le_bytes(*self.array::<OFF, 8>())
    }

    fn u8_at<const OFF: usize>(&self) -> u8 {
        self.array::<OFF, 1>()[0]
    }

    /// All received bytes.
    pub fn as_bytes(&self) -> &'a [u8; REPORT_SIZE] {
        self.bytes
    }

    /// The bytes the signature covers (0x000..0x2A0), exactly as received.
    pub fn signed_bytes(&self) -> &'a [u8; SIGNED_LEN] {
        self.array::<0, SIGNED_LEN>()
    }

    /// Report format version.
    pub fn version(&self) -> u32 {
        self.u32_at::<{ offset::VERSION }>()
    }

    /// Guest SVN.
    pub fn guest_svn(&self) -> u32 {
        self.u32_at::<{ offset::GUEST_SVN }>()
    }

    /// Guest policy.
    pub fn policy(&self) -> u64 {
        self.u64_at::<{ offset::POLICY }>()
    }

    /// Family ID.
    pub fn family_id(&self) -> &'a [u8; len::FAMILY_ID] {
        self.array::<{ offset::FAMILY_ID }, { len::FAMILY_ID }>()
    }

    /// Image ID.
    pub fn image_id(&self) -> &'a [u8; len::IMAGE_ID] {
        self.array::<{ offset::IMAGE_ID }, { len::IMAGE_ID }>()
    }

    /// VMPL the report was requested at.
    pub fn vmpl(&self) -> u32 {
        self.u32_at::<{ offset::VMPL }>()
    }

    /// Signature algorithm (1 = ECDSA P-384 SHA-384).
    pub fn signature_algo(&self) -> u32 {
        self.u32_at::<{ offset::SIGNATURE_ALGO }>()
    }

    /// Raw CURRENT_TCB.
    pub fn current_tcb_raw(&self) -> [u8; TCB_LEN] {
        *self.array::<{ offset::CURRENT_TCB }, TCB_LEN>()
    }

    /// Platform info bits.
    pub fn platform_info(&self) -> u64 {
        self.u64_at::<{ offset::PLATFORM_INFO }>()
    }

    /// Signer info (KEY_INFO) word.
    pub fn signer_info(&self) -> u32 {
        self.u32_at::<{ offset::SIGNER_INFO }>()
    }

    /// Which key the firmware says signed the report.
    pub fn signing_key(&self) -> SigningKey {
        signer_info::signing_key(self.signer_info())
    }

    /// AUTHOR_KEY_EN bit.
    pub fn author_key_en(&self) -> bool {
        self.signer_info() & signer_info::AUTHOR_KEY_EN != 0
    }

    /// MASK_CHIP_KEY bit.
    pub fn mask_chip_key(&self) -> bool {
        self.signer_info() & signer_info::MASK_CHIP_KEY != 0
    }

    /// Guest-supplied report data.
    pub fn report_data(&self) -> &'a [u8; len::REPORT_DATA] {
        self.array::<{ offset::REPORT_DATA }, { len::REPORT_DATA }>()
    }

    /// Launch measurement.
    pub fn measurement(&self) -> &'a [u8; len::MEASUREMENT] {
        self.array::<{ offset::MEASUREMENT }, { len::MEASUREMENT }>()
    }

    /// Host data.
    pub fn host_data(&self) -> &'a [u8; len::HOST_DATA] {
        self.array::<{ offset::HOST_DATA }, { len::HOST_DATA }>()
    }

    /// ID key digest.
    pub fn id_key_digest(&self) -> &'a [u8; len::KEY_DIGEST] {
        self.array::<{ offset::ID_KEY_DIGEST }, { len::KEY_DIGEST }>()
    }

    /// Author key digest.
    pub fn author_key_digest(&self) -> &'a [u8; len::KEY_DIGEST] {
        self.array::<{ offset::AUTHOR_KEY_DIGEST }, { len::KEY_DIGEST }>()
    }

    /// Report ID.
    pub fn report_id(&self) -> &'a [u8; len::REPORT_ID] {
        self.array::<{ offset::REPORT_ID }, { len::REPORT_ID }>()
    }

    /// Report ID of the migration agent.
    pub fn report_id_ma(&self) -> &'a [u8; len::REPORT_ID] {
        self.array::<{ offset::REPORT_ID_MA }, { len::REPORT_ID }>()
    }

    /// Raw REPORTED_TCB.
    pub fn reported_tcb_raw(&self) -> [u8; TCB_LEN] {
        *self.array::<{ offset::REPORTED_TCB }, TCB_LEN>()
    }

    /// CPUID family/model/stepping, present from version 3 on.
    pub fn cpuid(&self) -> Option<Cpuid> {
        (self.version() >= FIRST_VERSION_WITH_CPUID).then(|| Cpuid {
            family: self.u8_at::<{ offset::CPUID_FAM_ID }>(),
            model: self.u8_at::<{ offset::CPUID_MOD_ID }>(),
            stepping: self.u8_at::<{ offset::CPUID_STEP }>(),
        })
    }

    /// The product line named by the signed CPUID fields: `None` for v2 reports (the product
    /// then has to come from the certificate), an error for unknown parts.
    pub fn product_from_cpuid(&self) -> Option<Result<Product, ProductError>> {
        self.cpuid().map(|c| c.product())
    }

    /// Chip ID (all zero when masked; Turin uses only the first 8 bytes).
    pub fn chip_id(&self) -> &'a [u8; len::CHIP_ID] {
        self.array::<{ offset::CHIP_ID }, { len::CHIP_ID }>()
    }

    /// Whether the chip ID is masked (all zero), as on VLEK-signed cloud reports and with
    /// MASK_CHIP_ID set by the host.
    pub fn chip_id_masked(&self) -> bool {
        self.chip_id().iter().all(|&b| b == 0)
    }

    /// Raw COMMITTED_TCB.
    pub fn committed_tcb_raw(&self) -> [u8; TCB_LEN] {
        *self.array::<{ offset::COMMITTED_TCB }, TCB_LEN>()
    }

    /// Raw LAUNCH_TCB.
    pub fn launch_tcb_raw(&self) -> [u8; TCB_LEN] {
        *self.array::<{ offset::LAUNCH_TCB }, TCB_LEN>()
    }

    /// Strictly decoded REPORTED_TCB for `product`.
    pub fn reported_tcb(&self, product: Product) -> Result<Tcb, TcbError> {
        Tcb::decode(self.reported_tcb_raw(), product)
    }

    /// Strictly decoded CURRENT_TCB for `product`.
    pub fn current_tcb(&self, product: Product) -> Result<Tcb, TcbError> {
        Tcb::decode(self.current_tcb_raw(), product)
    }

    /// Strictly decoded COMMITTED_TCB for `product`.
    pub fn committed_tcb(&self, product: Product) -> Result<Tcb, TcbError> {
        Tcb::decode(self.committed_tcb_raw(), product)
    }

    /// Strictly decoded LAUNCH_TCB for `product`.
    pub fn launch_tcb(&self, product: Product) -> Result<Tcb, TcbError> {
        Tcb::decode(self.launch_tcb_raw(), product)
    }

    /// Current firmware version.
    pub fn current_version(&self) -> FirmwareVersion {
        FirmwareVersion {
            build: self.u8_at::<{ offset::CURRENT_BUILD }>(),
            minor: self.u8_at::<{ offset::CURRENT_MINOR }>(),
            major: self.u8_at::<{ offset::CURRENT_MAJOR }>(),
        }
    }

    /// Committed firmware version.
    pub fn committed_version(&self) -> FirmwareVersion {
        FirmwareVersion {
            build: self.u8_at::<{ offset::COMMITTED_BUILD }>(),
            minor: self.u8_at::<{ offset::COMMITTED_MINOR }>(),
            major: self.u8_at::<{ offset::COMMITTED_MAJOR }>(),
        }
    }

    /// Launch mitigation vector, present from version 5 on.
    pub fn launch_mit_vector(&self) -> Option<u64> {
        (self.version() >= FIRST_VERSION_WITH_MIT_VECTORS)
            .then(|| self.u64_at::<{ offset::LAUNCH_MIT_VECTOR }>())
    }

    /// Current mitigation vector, present from version 5 on.
    pub fn current_mit_vector(&self) -> Option<u64> {
        (self.version() >= FIRST_VERSION_WITH_MIT_VECTORS)
            .then(|| self.u64_at::<{ offset::CURRENT_MIT_VECTOR }>())
    }

    /// Signature R, 72 bytes little-endian as received.
    pub fn signature_r(&self) -> &'a [u8; SIG_COMPONENT_LEN] {
        self.array::<{ offset::SIGNATURE_R }, SIG_COMPONENT_LEN>()
    }

    /// Signature S, 72 bytes little-endian as received.
    pub fn signature_s(&self) -> &'a [u8; SIG_COMPONENT_LEN] {
        self.array::<{ offset::SIGNATURE_S }, SIG_COMPONENT_LEN>()
    }

    /// The reserved rest of the signature area after S (0x330..0x4A0), as received; unsigned,
    /// and zero in every genuine report.
    pub fn signature_reserved(&self) -> &'a [u8; SIGNATURE_RESERVED_LEN] {
        self.array::<{ offset::SIGNATURE_RESERVED }, SIGNATURE_RESERVED_LEN>()
    }
}

impl fmt::Debug for ReportView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportView")
            .field("version", &self.version())
            .field("vmpl", &self.vmpl())
            .field("signing_key", &self.signing_key())
            .field("cpuid", &self.cpuid())
            .field(
                "reported_tcb",
                &format_args!("{:02x?}", self.reported_tcb_raw()),
            )
            .field("chip_id_masked", &self.chip_id_masked())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn length_is_exact() {
        let buf = vec![0u8; REPORT_SIZE + 1];
        assert!(ReportView::new(&buf[..REPORT_SIZE]).is_ok());
        assert_eq!(
            ReportView::new(&buf[..REPORT_SIZE - 1]),
            Err(ReportError::Truncated {
                len: REPORT_SIZE - 1,
                expected: REPORT_SIZE
            })
        );
        assert_eq!(
            ReportView::new(&buf),
            Err(ReportError::Oversized {
                len: REPORT_SIZE + 1,
                expected: REPORT_SIZE
            })
        );
        assert!(matches!(
            ReportView::new(&[]),
            Err(ReportError::Truncated { len: 0, .. })
        ));
    }

    #[test]
    fn fields_at_their_offsets() {
        let mut b = [0u8; REPORT_SIZE];
        b[offset::VERSION] = 5;
        b[offset::VMPL] = 1;
        b[offset::SIGNER_INFO] = signer_info::encode(SigningKey::Vlek, true, false) as u8;
        b[offset::CPUID_FAM_ID] = 0x1A;
        b[offset::CPUID_MOD_ID] = 0x02;
        b[offset::CPUID_STEP] = 0x01;
        b[offset::CHIP_ID] = 0xAA;
        b[offset::CURRENT_MAJOR] = 1;
        b[offset::CURRENT_MINOR] = 58;
        b[offset::CURRENT_BUILD] = 7;
        b[offset::LAUNCH_MIT_VECTOR] = 0x0b;
        b[offset::REPORTED_TCB..offset::REPORTED_TCB + 8]
            .copy_from_slice(&[0, 1, 0, 2, 0, 0, 0, 0x47]);
        b[offset::SIGNATURE_R] = 0x11;
        b[offset::SIGNATURE_S + 71] = 0x22;
        let v = ReportView::from_array(&b);
        assert_eq!(v.version(), 5);
        assert_eq!(v.vmpl(), 1);
        assert_eq!(v.signing_key(), SigningKey::Vlek);
        assert!(v.author_key_en());
        assert!(!v.mask_chip_key());
        assert_eq!(v.product_from_cpuid(), Some(Ok(Product::Turin)));
        assert!(!v.chip_id_masked());
        assert_eq!(v.current_version().to_string(), "1.58.7");
        assert_eq!(v.launch_mit_vector(), Some(0x0b));
        assert_eq!(
            v.reported_tcb(Product::Turin),
            Ok(Tcb::with_fmc(0, 1, 0, 2, 0x47))
        );
        assert_eq!(v.signature_r()[0], 0x11);
        assert_eq!(v.signature_s()[71], 0x22);
        assert!(v.signature_reserved().iter().all(|&x| x == 0));
        assert_eq!(v.signed_bytes().len(), SIGNED_LEN);

        b[REPORT_SIZE - 1] = 0x33;
        assert_eq!(ReportView::from_array(&b).signature_reserved()[367], 0x33);
        b[REPORT_SIZE - 1] = 0;

        b[offset::VERSION] = 2;
        let v = ReportView::from_array(&b);
        assert_eq!(v.cpuid(), None);
        assert_eq!(v.launch_mit_vector(), None);
    }

    #[test]
    fn signing_key_bits() {
        for bits in 0..8u8 {
            let k = SigningKey::from_bits(bits);
            assert_eq!(k.bits(), bits);
            assert_eq!(
                signer_info::signing_key(signer_info::encode(k, false, true)),
                k
            );
        }
        assert_eq!(signer_info::signing_key(0x4), SigningKey::Vlek);
        assert_eq!(signer_info::signing_key(0x1c), SigningKey::None);
    }

    proptest! {
        #[test]
        fn view_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1400)) {
            if let Ok(v) = ReportView::new(&bytes) {
                let _ = format!("{v:?}");
                let _ = (v.cpuid(), v.product_from_cpuid(), v.chip_id_masked(), v.current_version());
                let _ = (v.launch_mit_vector(), v.current_mit_vector(), v.signing_key());
                for p in Product::ALL {
                    let _ = (v.reported_tcb(p), v.current_tcb(p), v.committed_tcb(p), v.launch_tcb(p));
                }
            } else {
                prop_assert_ne!(bytes.len(), REPORT_SIZE);
            }
        }
    }
}
