//! Stable names of the checks, as printed by the CLI and put into EAR-style output.

/// Report length, version, signature algorithm.
pub const REPORT_FORMAT: &str = "report_format";
/// VCEK/VLEK certificate parse and profile.
pub const VEK_CERTIFICATE: &str = "vek_certificate";
/// Product line determination and agreement.
pub const PRODUCT: &str = "product";
/// Host-served CA certificates vs. the anchors.
pub const HOST_CERTIFICATES: &str = "host_certificates";
/// ARK self-signature.
pub const ARK_SELF_SIGNATURE: &str = "ark_self_signature";
/// ASK/ASVK signed by the ARK.
pub const ASK_SIGNED_BY_ARK: &str = "ask_signed_by_ark";
/// VCEK/VLEK signed by the ASK/ASVK.
pub const VEK_SIGNED_BY_ASK: &str = "vek_signed_by_ask";
/// Validity periods at the verification time.
pub const VALIDITY: &str = "validity";
/// CRL.
pub const CRL: &str = "crl";
/// Report signature.
pub const REPORT_SIGNATURE: &str = "report_signature";
/// Certificate TCB == REPORTED_TCB.
pub const TCB_BINDING: &str = "tcb_binding";
/// CHIP_ID == hwID.
pub const CHIP_ID_BINDING: &str = "chip_id_binding";
/// Signing key kind == certificate kind.
pub const SIGNER_BINDING: &str = "signer_binding";

/// Every check in evaluation order.
pub const ALL: [&str; 13] = [
    REPORT_FORMAT,
    VEK_CERTIFICATE,
    PRODUCT,
    HOST_CERTIFICATES,
    ARK_SELF_SIGNATURE,
    ASK_SIGNED_BY_ARK,
    VEK_SIGNED_BY_ASK,
    VALIDITY,
    CRL,
    REPORT_SIGNATURE,
    TCB_BINDING,
    CHIP_ID_BINDING,
    SIGNER_BINDING,
];
