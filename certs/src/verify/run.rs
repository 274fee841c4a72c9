//! The core verification: every check of the module table, in order, recorded in
//! [`Checks`](super::outcome::Checks).

use crate::chain::{fmt_time, AmdCert, CertKind, PublicKey};
use crate::error::CertError;
use crate::extensions::VekExtensions;
use crate::report::{ReportView, SigningKey, REPORT_SIZE, SIG_ALGO_ECDSA_P384_SHA384};
use crate::roots::AnchorSource;

use super::check;
use super::endorsements::Endorsements;
use super::error::VerifyError;
use super::outcome::Checks;
use super::verified::VerifiedEvidence;
use super::Verifier;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Determine the certificate kind from its extensions and name.
pub(super) fn vek_kind(vek: &AmdCert) -> Result<CertKind, CertError> {
    let ext = vek.amd_extensions();
    let kind = match (ext.hw_id.is_some(), ext.csp_id.is_some()) {
        (true, false) => CertKind::Vcek,
        (false, true) => CertKind::Vlek,
        (true, true) => {
            return Err(CertError::Profile {
                role: "VEK",
                detail: "carries both hwID (VCEK) and cspId (VLEK)".into(),
            })
        }
        (false, false) => {
            return Err(CertError::Profile {
                role: "VEK",
                detail: "carries neither hwID (VCEK) nor cspId (VLEK): not a VCEK/VLEK".into(),
            })
        }
    };
    if vek.common_name() != Some(kind.common_name()) {
        return Err(CertError::Profile {
            role: "VEK",
            detail: format!(
                "subject CN {:?} does not name a {} ({})",
                vek.common_name().unwrap_or(""),
                kind,
                kind.common_name()
            ),
        });
    }
    vek.check_end_entity()?;
    if !matches!(vek.public_key(), PublicKey::P384 { .. }) {
        return Err(CertError::PublicKey {
            role: "VEK",
            detail: "VCEK/VLEK keys are P-384".into(),
        });
    }
    Ok(kind)
}

impl Verifier {
    pub(super) fn run(
        &self,
        report: &[u8],
        e: &Endorsements,
        checks: &mut Checks,
    ) -> Option<VerifiedEvidence> {
        let time = self.now();

        // report_format
        let view = match ReportView::new(report) {
            Ok(v) => v,
            Err(err) => {
                checks.fail(err.into());
                checks.skip_rest("report bytes unusable");
                return None;
            }
        };
        let version = view.version();
        if !(2..=5).contains(&version) {
            checks.fail(VerifyError::UnsupportedVersion(version));
            checks.skip_rest("report layout unknown");
            return None;
        }
        if view.signature_algo() != SIG_ALGO_ECDSA_P384_SHA384 {
            checks.fail(VerifyError::UnsupportedSignatureAlgo(view.signature_algo()));
            checks.skip_rest("report signature algorithm unsupported");
            return None;
        }
        checks.pass(
            check::REPORT_FORMAT,
            format!("{REPORT_SIZE} bytes, version {version}, ECDSA P-384/SHA-384"),
        );

        // vek_certificate
        if e.vek.is_empty() {
            checks.fail(VerifyError::NoCertificate);
            checks.skip_rest("no VCEK/VLEK");
            return None;
        }
        let parsed = self
            .cache
            .parse("VEK", &e.vek, &*self.provider)
            .and_then(|c| vek_kind(&c).map(|k| (c, k)));
        let (vek, kind) = match parsed {
            Ok(v) => v,
            Err(err) => {
                checks.fail(VerifyError::Certificate(err));
                checks.skip_rest("VCEK/VLEK unusable");
                return None;
            }
        };
        let ext: &VekExtensions = vek.amd_extensions();
        let cert_product = ext.product(kind.role());
        checks.pass(
            check::VEK_CERTIFICATE,
            format!(
                "{kind} (productName {:?}, serial {}, {}..{})",
                ext.product_name.as_deref().unwrap_or("?"),
                vek.serial_hex(),
                fmt_time(vek.not_before()),
                fmt_time(vek.not_after())
            ),
        );

        // product
        let product = match (view.product_from_cpuid(), cert_product) {
            (Some(Err(err)), _) => {
                checks.fail(VerifyError::Product(err.to_string()));
                checks.skip_rest("product unknown");
                return None;
            }
            (None, Err(err)) => {
                checks.fail(VerifyError::Product(format!(
                    "v{version} report has no CPUID fields and the certificate names no product: {err}"
                )));
                checks.skip_rest("product unknown");
                return None;
            }
            (Some(Ok(p)), Ok(c)) if p != c => {
                checks.fail(VerifyError::Product(format!(
                    "report CPUID says {p}, certificate productName says {c}"
                )));
                p
            }
            (Some(Ok(p)), Err(err)) => {
                checks.fail(VerifyError::Product(format!(
                    "report CPUID says {p}, but {err}"
                )));
                p
            }
            (Some(Ok(p)), Ok(_)) => {
                checks.pass(
                    check::PRODUCT,
                    format!("{p} (report CPUID, agrees with certificate)"),
                );
                p
            }
            (None, Ok(c)) => {
                checks.pass(
                    check::PRODUCT,
                    format!("{c} (certificate productName; v{version} report has no CPUID)"),
                );
                c
            }
        };

        let prepared = self.prepared(product);
        let source = match self.source {
            AnchorSource::AmdPinned => "AMD pinned",
            AnchorSource::Explicit => "explicit (not AMD)",
        };

        // host_certificates
        match prepared {
            _ if e.ark.is_none() && e.ask.is_none() => checks.skip(
                check::HOST_CERTIFICATES,
                "host supplied no ARK/ASK (not needed: anchors are pinned)",
            ),
            None => checks.skip(
                check::HOST_CERTIFICATES,
                format!("no {source} anchors for {product} to compare with"),
            ),
            Some(p) => {
                let r = self.check_host_certs(p, kind, e);
                checks.record(check::HOST_CERTIFICATES, r);
            }
        }

        // ark_self_signature, ask_signed_by_ark
        let no_anchor = |name: &'static str, what: String| VerifyError::Chain {
            check: name,
            detail: what,
        };
        let mut intermediate: Option<&AmdCert> = None;
        match prepared {
            None => {
                let msg = format!("no {source} trust anchors for {product}");
                checks.fail(no_anchor(check::ARK_SELF_SIGNATURE, msg.clone()));
                checks.fail(no_anchor(check::ASK_SIGNED_BY_ARK, msg.clone()));
                checks.fail(no_anchor(check::VEK_SIGNED_BY_ASK, msg));
            }
            Some(p) => {
                let r = p
                    .ark_result(&self.cache, &*self.provider)
                    .clone()
                    .map_err(|d| no_anchor(check::ARK_SELF_SIGNATURE, d));
                checks.record(
                    check::ARK_SELF_SIGNATURE,
                    r.map(|d| format!("{d} [{source}]")),
                );
                match p.intermediate(kind, &self.cache, &*self.provider) {
                    None => {
                        let msg = format!(
                            "no {} for {product} among the {source} trust anchors",
                            kind.intermediate_role()
                        );
                        checks.fail(no_anchor(check::ASK_SIGNED_BY_ARK, msg.clone()));
                        checks.fail(no_anchor(check::VEK_SIGNED_BY_ASK, msg));
                    }
                    Some((cert, res)) => {
                        let r = res
                            .clone()
                            .map_err(|d| no_anchor(check::ASK_SIGNED_BY_ARK, d));
                        checks.record(check::ASK_SIGNED_BY_ARK, r);
                        intermediate = Some(cert);
                        let r = p
                            .verify_vek_signature(&vek, kind, &self.cache, &*self.provider)
                            .map(|()| {
                                format!(
                                    "{kind} signed by {}",
                                    cert.common_name().unwrap_or(cert.role())
                                )
                            })
                            .map_err(|d| no_anchor(check::VEK_SIGNED_BY_ASK, d));
                        checks.record(check::VEK_SIGNED_BY_ASK, r);
                    }
                }
            }
        }

        // validity
        let mut chain: Vec<&AmdCert> = Vec::new();
        if let Some(p) = prepared {
            chain.push(p.set().ark());
        }
        chain.extend(intermediate);
        chain.push(&vek);
        let expired: Vec<String> = chain
            .iter()
            .filter_map(|c| c.check_validity(time).err())
            .collect();
        if expired.is_empty() {
            checks.pass(
                check::VALIDITY,
                format!("{} certificate(s) valid at {}", chain.len(), fmt_time(time)),
            );
        } else {
            checks.fail(VerifyError::Validity(expired.join("; ")));
        }

        // crl
        let mut listed: Vec<&AmdCert> = intermediate.into_iter().collect();
        listed.push(&vek);
        self.check_crls(
            e,
            prepared.map(|p| p.set().ark()),
            product,
            source,
            &listed,
            time,
            checks,
        );

        // report_signature
        let mut id = None;
        match self.check_report_signature(&view, &vek) {
            Ok((detail, evidence_id)) => {
                checks.pass(check::REPORT_SIGNATURE, detail);
                id = Some(evidence_id);
            }
            Err(err) => checks.fail(err),
        }

        // tcb_binding
        let reported = view.reported_tcb(product);
        let tcb = match (reported, ext.tcb(kind.role(), product)) {
            (Ok(r), Ok(c)) if r == c => {
                checks.pass(
                    check::TCB_BINDING,
                    format!("REPORTED_TCB {r} == {kind} TCB ({product} layout)"),
                );
                Some(r)
            }
            (r, c) => {
                checks.fail(VerifyError::TcbMismatch {
                    product,
                    kind,
                    report: match r {
                        Ok(t) => t.to_string(),
                        Err(err) => err.to_string(),
                    },
                    cert: match c {
                        Ok(t) => t.to_string(),
                        Err(err) => err.to_string(),
                    },
                });
                None
            }
        };

        // chip_id_binding
        let mut chip_id = None;
        match kind {
            CertKind::Vlek => checks.skip(
                check::CHIP_ID_BINDING,
                "not applicable: a VLEK is not tied to a chip (no hwID)",
            ),
            CertKind::Vcek if view.chip_id_masked() => checks.skip(
                check::CHIP_ID_BINDING,
                "CHIP_ID is masked (all zero) by the platform; the VCEK signature still binds the chip",
            ),
            CertKind::Vcek => {
                let n = product.hwid_len();
                let report_id = view.chip_id().get(..n).unwrap_or_default();
                match ext.hw_id_for(kind.role(), product) {
                    Ok(hw) if hw == report_id => {
                        checks.pass(check::CHIP_ID_BINDING, format!("CHIP_ID[..{n}] == VCEK hwID ({n} bytes)"));
                        chip_id = Some(hw.to_vec());
                    }
                    Ok(hw) => checks.fail(VerifyError::ChipIdMismatch {
                        report: hex(report_id.get(..8).unwrap_or_default()),
                        cert: hex(hw.get(..8).unwrap_or_default()),
                    }),
                    Err(err) => checks.fail(VerifyError::ChipIdMismatch {
                        report: hex(report_id.get(..8).unwrap_or_default()),
                        cert: format!("(unusable: {err})"),
                    }),
                }
            }
        }

        // signer_binding
        let signer = view.signing_key();
        let expected = match kind {
            CertKind::Vcek => SigningKey::Vcek,
            CertKind::Vlek => SigningKey::Vlek,
        };
        if view.mask_chip_key() {
            checks.fail(VerifyError::SignerMismatch {
                report: "MASK_CHIP_KEY set (report not signed with a chip key)".into(),
                cert: kind,
            });
        } else if signer != expected {
            checks.fail(VerifyError::SignerMismatch {
                report: signer.to_string(),
                cert: kind,
            });
        } else {
            checks.pass(
                check::SIGNER_BINDING,
                format!("signer info names {signer}, certificate is a {kind}"),
            );
        }

        let tcb = tcb?;
        let id = id?;
        let report_copy: Box<[u8; REPORT_SIZE]> = Box::new(*view.as_bytes());
        Some(VerifiedEvidence {
            report: report_copy,
            id,
            kind,
            product,
            tcb,
            chip_id,
            csp_id: ext.csp_id.clone(),
            vek_der: e.vek.clone(),
            checks: Vec::new(),
            verified_at: time,
            anchors: self.source,
            provider: self.provider.name(),
        })
    }
}
