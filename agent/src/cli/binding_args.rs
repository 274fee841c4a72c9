//! `--binding PROFILE` with `--nonce` / `--runtime-data`, shared by `attest` and `verify`: which
//! REPORT_DATA a challenge stands for under each relying-party convention
//! ([`snp_agent::binding::Profile`]).

use snp_agent::binding::{InputKind, Profile};
use snp_agent::exit_code;
use snp_agent::policy::Expectations;

use super::{args::HexBytes, CliError};

/// The REPORT_DATA `profile` binds for the given arguments, or `None` when the arguments are
/// left to the default `snp-agent` handling (`--nonce`, `--report-data`, or nothing).
pub fn resolve(
    profile: Profile,
    nonce: Option<&HexBytes>,
    runtime_data: Option<&HexBytes>,
) -> Result<Option<[u8; 64]>, CliError> {
    let usage = |m: String| CliError::new(exit_code::USAGE, m);
    let input = match (profile.input_kind(), nonce, runtime_data) {
        (InputKind::Nonce, _, Some(_)) => {
            return Err(usage(format!(
                "--runtime-data is for --binding trustee or maa; --binding {profile} takes --nonce"
            )))
        }
        (InputKind::RuntimeData, Some(_), _) => {
            return Err(usage(format!(
                "--binding {profile} binds runtime data: give --runtime-data TEXT|@FILE instead of --nonce"
            )))
        }
        (InputKind::RuntimeData, None, None) => {
            return Err(usage(format!(
                "--binding {profile} needs --runtime-data TEXT|@FILE (what it hashes into REPORT_DATA)"
            )))
        }
        (InputKind::RuntimeData, None, Some(rd)) => &rd.0,
        (InputKind::Nonce, None, None) => return Ok(None),
        (InputKind::Nonce, Some(n), None) => {
            if profile == Profile::SnpAgent {
                return Ok(None);
            }
            &n.0
        }
    };
    profile
        .report_data(input, None)
        .map(Some)
        .map_err(|e| usage(e.to_string()))
}

/// Expectations for a profile's REPORT_DATA: the check is named `report_data.<profile>`.
pub fn expect(profile: Profile, report_data: [u8; 64]) -> Expectations {
    let mut e = Expectations::exact(report_data);
    e.report_data = Some((report_data, profile.as_str()));
    e
}
