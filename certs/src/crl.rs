//! AMD CRLs: parse, ARK signature, freshness, revocation.
//!
//! KDS publishes one CRL per product and key kind (`/vcek/v1/{P}/crl`, `/vlek/v1/{P}/crl`),
//! signed by the ARK. It revokes intermediates (the Genoa CRL lists serial 0x020001, an earlier
//! Genoa ASK). A CRL counts only if the ARK signed it (RSASSA-PSS exactly as for certificates)
//! and the verification time lies within thisUpdate..nextUpdate: a stale CRL could hide a
//! revocation, so it is an error, not a warning — except for a CRL the host served unasked,
//! whose staleness the verifier reports as a warning unless the relying party asked for CRL
//! checking (see `verify::revocation`); the revocations a stale CRL lists still count.

use x509_cert::crl::CertificateList;

use crate::chain::{check_pss_sha384, fmt_time, serial_hex, split_signed, AmdCert, PublicKey};
use crate::crypto::CryptoProvider;
use crate::error::CrlError;
use der::{Decode, Encode};

/// Largest CRL accepted (real AMD CRLs are about 1 KiB).
pub const MAX_CRL_LEN: usize = 256 * 1024;
/// Most revoked entries kept.
pub const MAX_REVOKED: usize = 4096;

/// A parsed CRL whose signature and window are checked on demand.
#[derive(Debug, Clone)]
pub struct Crl {
    der: Vec<u8>,
    tbs: std::ops::Range<usize>,
    signature: Vec<u8>,
    issuer_der: Vec<u8>,
    this_update: u64,
    next_update: Option<u64>,
    revoked: Vec<String>,
    sig_alg_ok: Result<(), String>,
}

fn malformed(e: impl std::fmt::Display) -> CrlError {
    CrlError::Malformed(e.to_string())
}

impl Crl {
    /// Parse a DER CRL. Unknown critical CRL or entry extensions are refused (RFC 5280 §5.2).
    pub fn from_der(der: &[u8]) -> Result<Crl, CrlError> {
        if der.len() > MAX_CRL_LEN {
            return Err(malformed(format!(
                "{} bytes is larger than {MAX_CRL_LEN}",
                der.len()
            )));
        }
        let parts = split_signed(der).map_err(malformed)?;
        let tbs = parts.tbs;
        let signature = parts.signature.to_vec();
        let list = CertificateList::from_der(der).map_err(malformed)?;
        let tbs_list = &list.tbs_cert_list;
        let inner = tbs_list.signature.to_der().map_err(malformed)?;
        let outer = list.signature_algorithm.to_der().map_err(malformed)?;
        let sig_alg_ok = if inner != outer {
            Err("tbsCertList.signature differs from signatureAlgorithm".to_string())
        } else {
            check_pss_sha384("CRL", &list.signature_algorithm).map_err(|e| e.to_string())
        };
        if let Some(ext) = tbs_list
            .crl_extensions
            .iter()
            .flatten()
            .find(|e| e.critical)
        {
            return Err(malformed(format!(
                "unknown critical CRL extension {}",
                ext.extn_id
            )));
        }
        let entries = tbs_list.revoked_certificates.as_deref().unwrap_or(&[]);
        if entries.len() > MAX_REVOKED {
            return Err(malformed(format!(
                "more than {MAX_REVOKED} revoked entries"
            )));
        }
        let mut revoked = Vec::with_capacity(entries.len());
        for entry in entries {
            if let Some(ext) = entry
                .crl_entry_extensions
                .iter()
                .flatten()
                .find(|e| e.critical)
            {
                return Err(malformed(format!(
                    "unknown critical CRL entry extension {}",
                    ext.extn_id
                )));
            }
            revoked.push(serial_hex(entry.serial_number.as_bytes()));
        }
        Ok(Crl {
            der: der.to_vec(),
            tbs,
            signature,
            issuer_der: tbs_list.issuer.to_der().map_err(malformed)?,
            this_update: tbs_list.this_update.to_unix_duration().as_secs(),
            next_update: tbs_list.next_update.map(|t| t.to_unix_duration().as_secs()),
            revoked,
            sig_alg_ok,
        })
    }

    /// The DER bytes as received.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// thisUpdate (UNIX seconds).
    pub fn this_update(&self) -> u64 {
        self.this_update
    }

    /// nextUpdate (UNIX seconds), if present.
    pub fn next_update(&self) -> Option<u64> {
        self.next_update
    }

    /// Revoked serial numbers, hex without leading zeros.
    pub fn revoked_serials(&self) -> &[String] {
        &self.revoked
    }

    /// Verify the CRL is signed by `ark` (issuer name, cRLSign usage, exact PSS parameters,
    /// signature over the received TBS bytes).
    pub fn verify_signature(
        &self,
        ark: &AmdCert,
        provider: &dyn CryptoProvider,
    ) -> Result<(), CrlError> {
        let ark_name = ark.common_name().unwrap_or("ARK").to_string();
        let fail = |detail: String| CrlError::Signature {
            ark: ark_name.clone(),
            detail,
        };
        self.sig_alg_ok.clone().map_err(fail)?;
        if self.issuer_der != ark.subject_der() {
            return Err(fail("CRL issuer is not the ARK".into()));
        }
        ark.check_crl_signer().map_err(|e| fail(e.to_string()))?;
        let PublicKey::Rsa { pkcs1, .. } = ark.public_key() else {
            return Err(fail("ARK key is not RSA".into()));
        };
        let tbs = self
            .der
            .get(self.tbs.clone())
            .ok_or_else(|| fail("TBS range out of bounds".into()))?;
        provider
            .verify_rsa_pss_sha384(pkcs1, tbs, &self.signature)
            .map_err(|e| fail(e.to_string()))
    }

    /// Require `time` within thisUpdate..=nextUpdate; a CRL without nextUpdate is never
    /// current (its freshness cannot be judged).
    pub fn check_current(&self, time: u64) -> Result<(), CrlError> {
        match self.next_update {
            Some(next) if self.this_update <= time && time <= next => Ok(()),
            _ => {
                tracing::debug!(
                    this_update = %fmt_time(self.this_update),
                    next_update = ?self.next_update.map(fmt_time),
                    time = %fmt_time(time),
                    "CRL not current"
                );
                Err(CrlError::Stale {
                    time,
                    this_update: self.this_update,
                    next_update: self.next_update,
                })
            }
        }
    }

    /// Whether a serial number (content bytes) is listed.
    pub fn is_revoked(&self, serial: &[u8]) -> bool {
        let s = serial_hex(serial);
        self.revoked.contains(&s)
    }

    /// Full check: signed by `ark`, current at `time`, and none of `certs` revoked.
    pub fn check(
        &self,
        ark: &AmdCert,
        certs: &[&AmdCert],
        time: u64,
        provider: &dyn CryptoProvider,
    ) -> Result<(), CrlError> {
        self.verify_signature(ark, provider)?;
        self.check_current(time)?;
        for cert in certs {
            if self.is_revoked(cert.serial()) {
                return Err(CrlError::Revoked {
                    role: cert.role(),
                    serial: cert.serial_hex(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::default_provider;
    use crate::product::Product;
    use crate::roots::TrustAnchors;
    use proptest::prelude::*;

    const GENOA_CRL: &[u8] =
        include_bytes!("../../tests/data/real/cyntrisec-cml-transport/crl_886a378d.crl");
    const MILAN_CRL: &[u8] = include_bytes!("../../tests/data/real/atakit/milan.crl_53b18266.crl");
    // 2026-01-01T00:00:00Z, inside both CRLs' windows? Genoa: 2025-10-24..2026-10-31 yes;
    // Milan: 2026-06-22..2026-08-08 no — each test picks its own time.
    const T_2026_07_01: u64 = 1_782_864_000;
    const T_2026_11_25: u64 = 1_795_564_800;

    #[test]
    fn real_crls() {
        let anchors = TrustAnchors::amd();
        let p = default_provider();
        let genoa = anchors.get(Product::Genoa).expect("genoa");
        let milan = anchors.get(Product::Milan).expect("milan");

        let crl = Crl::from_der(GENOA_CRL).expect("parses");
        assert_eq!(crl.revoked_serials(), ["020001"]);
        crl.verify_signature(genoa.ark(), &*p)
            .expect("ARK-Genoa signed it");
        assert!(
            crl.verify_signature(milan.ark(), &*p).is_err(),
            "not ARK-Milan's"
        );
        let ask = genoa.ask().expect("ask");
        crl.check(genoa.ark(), &[ask], T_2026_07_01, &*p)
            .expect("current ASK 0x020002 not revoked");
        assert!(matches!(
            crl.check(genoa.ark(), &[ask], T_2026_11_25, &*p),
            Err(CrlError::Stale { .. })
        ));
        assert!(crl.is_revoked(&[0x02, 0x00, 0x01]));
        assert!(crl.is_revoked(&[0x00, 0x02, 0x00, 0x01]));
        assert!(!crl.is_revoked(&[0x02, 0x00, 0x02]));

        let crl = Crl::from_der(MILAN_CRL).expect("parses");
        assert!(crl.revoked_serials().is_empty());
        crl.check(milan.ark(), &[milan.ask().expect("ask")], T_2026_07_01, &*p)
            .expect("current on 2026-07-01");
        assert!(matches!(
            crl.check_current(T_2026_11_25),
            Err(CrlError::Stale { .. })
        ));
    }

    #[test]
    fn tampered_crl_rejected() {
        let anchors = TrustAnchors::amd();
        let ark = anchors.get(Product::Genoa).expect("genoa").ark();
        // Flip one byte inside the TBS (the revoked serial's last byte area) and re-check.
        let mut bad = GENOA_CRL.to_vec();
        let pos = bad
            .windows(3)
            .position(|w| w == [0x02, 0x00, 0x01])
            .expect("serial present");
        bad[pos + 2] = 0x02;
        let crl = Crl::from_der(&bad).expect("still parses");
        assert!(matches!(
            crl.verify_signature(ark, &*default_provider()),
            Err(CrlError::Signature { .. })
        ));
    }

    proptest! {
        #[test]
        fn parser_never_panics(pos in 0usize..1500, val in any::<u8>(), cut in 1usize..1500) {
            let mut m = GENOA_CRL.to_vec();
            if let Some(b) = m.get_mut(pos) { *b = val; }
            m.truncate(cut.min(m.len()));
            let _ = Crl::from_der(&m);
        }

        #[test]
        fn parser_never_panics_on_junk(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Crl::from_der(&bytes);
        }
    }
}
