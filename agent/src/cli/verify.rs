//! `snp-agent verify`: the relying party's side.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use snp_agent::exit_code;
use snp_agent::policy::{Expectations, Policy};
use snp_certs::product::Product;

use super::appraise::{appraise, Request, Roots};
use super::ear_out::VerifyFormat;
use super::{args, render, stdout_write, CliError, CliResult, EvidenceIn, KdsArgs};

pub const AFTER_HELP: &str = "\
Exit 0 only when the evidence verifies and the policy (and --nonce/--report-data) holds;
2 verification failed, 3 no certificate, 4 CRL, 5 policy, 6 unreadable evidence (see snp-agent --help).
Asking for this help exits 1 (usage), never 0. Put -- before a file name you did not choose, so
that a file called -h or --offline is read as evidence: snp-agent verify --offline -- \"$FILE\"

Examples:
  snp-agent verify evidence.json --nonce 00112233
  snp-agent verify evidence.bin --policy policy.toml --format json
  snp-agent verify ./snpguest-out --at 2026-06-01T00:00:00Z      # snpguest directory
  snp-agent verify evidence.json --sim-roots                      # simulator evidence
  snp-agent verify report.bin --offline --cache-dir /srv/amd-certs  # air-gapped store
  snp-agent verify --batch ./fleet-evidence/ --policy policy.toml   # one JSON line per file
  find /srv/evidence -name '*.bin' | snp-agent verify --batch -
  snp-agent verify --offline -- \"$UNTRUSTED_NAME\"                 # -- before names you did not choose
  snp-agent verify evidence.json --format ear --ear-key ear-signing.pem > result.jwt
  snp-agent verify evidence.json --binding trustee --runtime-data @runtime-data.json
  snp-agent verify trustee-token.jwt --token-key as-public.jwk    # a Trustee EAR token";

/// Subcommands whose exit status 0 is a verdict ("verified"; for `attest`, "obtained and
/// verified"). Help on them exits with [`exit_code::USAGE`] instead of 0: otherwise a script
/// running `snp-agent verify "$NAME"` would take a file named `-h` as verified evidence.
pub const VERDICT_COMMANDS: [&str; 2] = ["verify", "attest"];

/// The exit code for a help or version display that clap answered instead of running a
/// command: [`exit_code::USAGE`] when the subcommand named on the command line (the first
/// argument after the global options) is one of [`VERDICT_COMMANDS`], else success.
pub fn help_exit_code<I, S>(args: I) -> u8
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let subcommand = args
        .into_iter()
        .skip(1)
        .find(|a| !a.as_ref().to_string_lossy().starts_with('-'));
    match subcommand {
        Some(sub) if VERDICT_COMMANDS.iter().any(|c| sub.as_ref() == *c) => exit_code::USAGE,
        _ => exit_code::SUCCESS,
    }
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub input: EvidenceIn,
    /// Policy file (TOML). Without one only the debug bit is checked (forbidden).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Expect REPORT_DATA to bind this nonce (hex), as `attest --nonce` and `serve` do.
    #[arg(long, value_parser = args::nonce_hex, value_name = "HEX", conflicts_with = "report_data")]
    pub nonce: Option<args::HexBytes>,
    /// Expect exactly this REPORT_DATA (hex, zero-padded to 64 bytes).
    #[arg(long, value_parser = args::report_data_hex, value_name = "HEX")]
    pub report_data: Option<args::HexBytes>,
    /// The REPORT_DATA convention --nonce / --runtime-data are checked under: snp-agent
    /// (default), trustee, veraison, maa, raw (see `attest --help`).
    #[arg(long, value_parser = args::binding, default_value = "snp-agent", value_name = "PROFILE")]
    pub binding: snp_agent::binding::Profile,
    /// Runtime data for --binding trustee (JSON) or maa (bytes); @FILE reads a file.
    #[arg(long, value_parser = args::runtime_data, value_name = "TEXT|@FILE", conflicts_with = "report_data")]
    pub runtime_data: Option<args::HexBytes>,
    /// Verification time (RFC 3339, or a date) instead of now, e.g. for expired VLEKs.
    #[arg(long, value_parser = args::rfc3339, value_name = "RFC3339")]
    pub at: Option<u64>,
    /// Trust the simulator's roots instead of AMD's (for `attest --backend sim` evidence).
    #[arg(long)]
    pub sim_roots: bool,
    /// Product line for v2 reports when the VCEK must be fetched (v3+ reports name it).
    #[arg(long, value_parser = args::product, value_name = "PRODUCT")]
    pub product: Option<Product>,
    /// Check the chain against this CRL file (DER, from KDS /vcek/v1/{product}/crl).
    #[arg(long, value_name = "FILE")]
    pub crl: Option<PathBuf>,
    /// Fail unless a CRL is given and passes.
    #[arg(long, requires = "crl")]
    pub require_crl: bool,
    /// Check the CRL from the cache or KDS (with --offline: the cache only); a missing,
    /// stale or revoking CRL fails (exit 4). With this or --require-crl a CRL the host served
    /// must be current too; otherwise a stale host CRL only warns (its revocations still fail).
    #[arg(long, conflicts_with = "crl")]
    pub check_crl: bool,
    #[command(flatten)]
    pub kds: KdsArgs,
    /// Output: text (one line per check), json (every check and the verified claims), or ear
    /// (an EAT Attestation Result; a signed JWT with --ear-key).
    #[arg(long, value_enum, default_value_t = VerifyFormat::Text)]
    pub format: VerifyFormat,
    /// Sign the EAR with this PKCS#8 PEM private key (EC P-256 → ES256, P-384 → ES384, RSA →
    /// PS256, Ed25519 → EdDSA) and write the compact JWT.
    #[arg(long, value_name = "FILE")]
    pub ear_key: Option<PathBuf>,
    /// When EVIDENCE is an EAR token (e.g. Trustee's): check its signature with this public JWK.
    #[arg(long, value_name = "JWK_FILE")]
    pub token_key: Option<PathBuf>,
    /// EVIDENCE is a directory of evidence files, or - for one path per line on stdin: verify
    /// them all on every core, one JSON line each (with --format json, the full result too);
    /// exit with the worst verdict.
    #[arg(long)]
    pub batch: bool,
}

/// Build expectations from `--nonce` / `--report-data`.
pub fn expectations(nonce: Option<&[u8]>, report_data: Option<&[u8]>) -> Expectations {
    match (nonce, report_data) {
        (Some(n), _) => Expectations::nonce(n),
        (None, Some(rd)) => {
            let mut full = [0u8; 64];
            for (d, s) in full.iter_mut().zip(rd.iter()) {
                *d = *s;
            }
            Expectations::exact(full)
        }
        (None, None) => Expectations::default(),
    }
}

/// Load `--policy` or the default.
pub fn load_policy(path: Option<&PathBuf>) -> Result<Policy, CliError> {
    Ok(load_policy_with_id(path.map(PathBuf::as_path))?.0)
}

/// Load `--policy` or the default, with the identifier an EAR names it by: `sha256:` of the
/// file's bytes (the bytes that were compiled), or the built-in policy's id.
pub fn load_policy_with_id(path: Option<&Path>) -> Result<(Policy, String), CliError> {
    match path {
        Some(p) => {
            let (policy, text) =
                Policy::read(p).map_err(|e| CliError::new(exit_code::USAGE, e.to_string()))?;
            Ok((policy, super::ear_out::policy_id_of(text.as_bytes())))
        }
        None => Ok((
            Policy::default_policy(),
            super::ear_out::DEFAULT_POLICY_ID.into(),
        )),
    }
}

pub fn run(a: VerifyArgs) -> CliResult {
    // An EAR token (Trustee's attestation results) instead of evidence: report its claims.
    if let Some(code) = super::ear_out::maybe_token(
        &a.input.evidence,
        a.token_key.as_deref(),
        a.format == VerifyFormat::Json,
    )? {
        return Ok(code);
    }
    if a.ear_key.is_some() && a.format != VerifyFormat::Ear {
        return Err(CliError::new(
            exit_code::USAGE,
            "--ear-key signs an EAR: use it with --format ear",
        ));
    }
    // Cheap argument checks first: a bad policy or key is a usage error before any evidence is
    // read.
    let (policy, policy_id) = load_policy_with_id(a.policy.as_deref())?;
    let signer = a
        .ear_key
        .as_deref()
        .map(super::ear_out::load_signer)
        .transpose()?;
    let expected =
        match super::binding_args::resolve(a.binding, a.nonce.as_ref(), a.runtime_data.as_ref())? {
            Some(rd) => super::binding_args::expect(a.binding, rd),
            None => expectations(
                a.nonce.as_ref().map(|b| b.0.as_slice()),
                a.report_data.as_ref().map(|b| b.0.as_slice()),
            ),
        };
    if a.batch {
        if a.format == VerifyFormat::Ear {
            return Err(CliError::new(
                exit_code::USAGE,
                "--batch writes one JSON line per input (--format json for the full results); \
                 --format ear is for one evidence file",
            ));
        }
        return super::batch::run(a, policy, expected);
    }
    let (ev, format) = a.input.read()?;
    let subject = format!("{} ({format})", a.input.evidence.display());
    let roots = if a.sim_roots {
        Roots::Simulator
    } else {
        Roots::Amd
    };
    let appraisal = appraise(
        &ev,
        &Request {
            roots,
            kds: &a.kds,
            product: a.product,
            at: a.at,
            crl: a.crl.clone(),
            require_crl: a.require_crl,
            fetch_crl: a.check_crl,
            policy: &policy,
            expected: &expected,
        },
    )?;
    match a.format {
        VerifyFormat::Ear => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let shape = super::ear_out::EarShape {
                raw_evidence: true,
                pretty: true,
            };
            let issued = super::ear_out::issue(
                &appraisal,
                &ev,
                &subject,
                &policy_id,
                signer.as_ref(),
                now,
                shape,
            )
            .map_err(|e| CliError::new(exit_code::OTHER, e.to_string()))?;
            stdout_write(&issued)?;
        }
        VerifyFormat::Text => {
            stdout_write(render::appraisal_text(&appraisal, &subject).as_bytes())?
        }
        VerifyFormat::Json => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let mut out =
                serde_json::to_vec_pretty(&render::appraisal_json(&appraisal, &subject, now))
                    .map_err(|e| CliError::new(exit_code::OTHER, e.to_string()))?;
            out.push(b'\n');
            stdout_write(&out)?;
        }
    }
    Ok(appraisal.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_on_a_verdict_command_is_a_usage_exit() {
        for args in [
            &["snp-agent", "verify", "-h"][..],
            &["snp-agent", "verify", "--help"][..],
            &["snp-agent", "-v", "verify", "--help"][..],
            &["snp-agent", "attest", "--nonce", "-h"][..],
        ] {
            assert_eq!(help_exit_code(args), exit_code::USAGE, "{args:?}");
        }
        for args in [
            &["snp-agent", "--help"][..],
            &["snp-agent", "--version"][..],
            &["snp-agent", "show", "--help"][..],
            &["snp-agent", "help", "verify"][..],
        ] {
            assert_eq!(help_exit_code(args), exit_code::SUCCESS, "{args:?}");
        }
    }
}
