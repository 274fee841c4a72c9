//! `snp-agent verify --batch DIR|-`: verify many evidence files in one process, on every core.
//!
//! A relying party that checks a fleet pays the process start, the pinned-root set-up and the
//! first sight of each VCEK once, not per file: every worker shares the process-wide
//! [`snp_certs::cache::ChainCache`], so evidence from a chip already seen costs its report
//! signature and the per-report checks (bindings, validity, CRL, policy) — never less, since
//! each file goes through the same [`appraise`] as a single `verify`.
//!
//! Input: the entries of `DIR` (files or snpguest directories, sorted by name, dot-files
//! skipped), or with `-` one path per line on standard input (blank lines skipped), read as
//! the workers go so a producer can stream paths. Output: one JSON object per input on stdout,
//! in completion order (each names its input and its position), with the verdict, the exit code
//! a single `verify` would have returned, and with `--format json` the full result. The exit
//! status is the worst verdict (see [`severity`]). On a terminal, a one-line counter on stderr
//! shows progress.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use snp_agent::evidence::{Evidence, Format};
use snp_agent::exit_code;
use snp_agent::policy::{Expectations, Policy};

use super::appraise::{appraise, Request, Roots};
use super::verify::VerifyArgs;
use super::{render, CliError, CliResult, OutputFormat};

/// Longest input line accepted on stdin (a path); longer lines are reported, not read whole.
const MAX_LINE: u64 = 4096;

/// Rank of an exit code for "the worst verdict": a forged or broken chain outranks unreadable
/// evidence, which outranks CRL trouble, a missing certificate, a policy miss and success.
/// Usage errors and internal failures rank just below a verification failure.
pub fn severity(code: u8) -> u8 {
    match code {
        exit_code::SUCCESS => 0,
        exit_code::POLICY_FAILED => 1,
        exit_code::CERTIFICATE_UNAVAILABLE => 2,
        exit_code::CRL_FAILED => 3,
        exit_code::EVIDENCE_INVALID => 4,
        exit_code::USAGE | exit_code::BACKEND_FAILED | exit_code::OTHER => 5,
        _ => 6, // VERIFICATION_FAILED and anything unknown
    }
}

/// The worse of two exit codes by [`severity`].
pub fn worst(a: u8, b: u8) -> u8 {
    if severity(b) > severity(a) {
        b
    } else {
        a
    }
}

/// One input's answer.
struct Answer {
    index: u64,
    code: u8,
    line: Vec<u8>,
}

/// What every worker needs, shared read-only.
struct Shared {
    roots: Roots,
    kds: super::KdsArgs,
    product: Option<snp_certs::product::Product>,
    at: Option<u64>,
    crl: Option<PathBuf>,
    require_crl: bool,
    fetch_crl: bool,
    policy: Policy,
    expected: Expectations,
    in_format: Option<Format>,
    full: bool,
}

/// Verify one input and render its line.
fn one(shared: &Shared, index: u64, path: &Path) -> Answer {
    let input = path.display().to_string();
    let result = Evidence::read_path(path, shared.in_format)
        .map_err(|e| {
            CliError::new(
                exit_code::EVIDENCE_INVALID,
                format!("cannot read evidence: {e}"),
            )
        })
        .and_then(|(ev, format)| {
            let req = Request {
                roots: shared.roots,
                kds: &shared.kds,
                product: shared.product,
                at: shared.at,
                crl: shared.crl.clone(),
                require_crl: shared.require_crl,
                fetch_crl: shared.fetch_crl,
                policy: &shared.policy,
                expected: &shared.expected,
            };
            appraise(&ev, &req).map(|a| (a, format))
        });
    let (code, mut value) = match result {
        Ok((a, format)) => {
            let code = a.exit_code();
            let verdict = if a.affirmed() {
                "affirming"
            } else {
                "contraindicated"
            };
            let mut v = json!({
                "verdict": verdict,
                "format": format.as_str(),
                "failed": a.verification.failed(),
                "error": a.verification.result.as_ref().err().map(|e| e.to_string()),
                "policy_failed": a.policy.as_ref().map(|p| p.failures().map(|c| c.name.clone()).collect::<Vec<_>>()),
            });
            if shared.full {
                let subject = format!("{input} ({format})");
                v["result"] = render::appraisal_json(&a, &subject, unix_now());
            }
            (code, v)
        }
        Err(e) => (e.code, json!({"verdict": "error", "error": e.message})),
    };
    value["input"] = Value::String(input);
    value["index"] = json!(index);
    value["exit_code"] = json!(code);
    let mut line = serde_json::to_vec(&value).unwrap_or_else(|e| {
        format!("{{\"index\":{index},\"exit_code\":8,\"error\":\"cannot encode result: {e}\"}}")
            .into_bytes()
    });
    line.push(b'\n');
    Answer { index, code, line }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The inputs of a directory: its entries sorted by name, dot-files skipped.
fn dir_inputs(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let rd = std::fs::read_dir(dir).map_err(|e| {
        CliError::new(
            exit_code::USAGE,
            format!(
                "--batch {}: {e} (give a directory of evidence files, or - for paths on stdin)",
                dir.display()
            ),
        )
    })?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| {
            CliError::new(exit_code::OTHER, format!("--batch {}: {e}", dir.display()))
        })?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        out.push(entry.path());
    }
    out.sort();
    Ok(out)
}

/// Read one line of at most [`MAX_LINE`] bytes; `Ok(None)` at end of input.
fn read_line(input: &mut impl BufRead) -> std::io::Result<Option<Result<String, String>>> {
    let mut buf = Vec::new();
    let n = std::io::Read::take(&mut *input, MAX_LINE).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') && n as u64 == MAX_LINE {
        // Skip the rest of the overlong line.
        let mut rest = Vec::new();
        while std::io::Read::take(&mut *input, MAX_LINE).read_until(b'\n', &mut rest)? > 0 {
            if rest.last() == Some(&b'\n') {
                break;
            }
            rest.clear();
        }
        return Ok(Some(Err(format!(
            "input line longer than {MAX_LINE} bytes: not a path"
        ))));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(
        String::from_utf8(buf).map_err(|_| "input line is not UTF-8".to_string()),
    ))
}

/// A progress counter on stderr, only when stderr is a terminal. Hand-written: one `\r` line
/// redrawn at most ten times a second needs no progress-bar crate.
struct Progress {
    enabled: bool,
    total: Option<u64>,
    start: Instant,
    last: Instant,
}

impl Progress {
    fn new(total: Option<u64>) -> Progress {
        let now = Instant::now();
        Progress {
            enabled: std::io::stderr().is_terminal(),
            total,
            start: now,
            last: now - Duration::from_secs(1),
        }
    }

    fn show(&mut self, done: u64, failed: u64, force: bool) {
        if !self.enabled || (!force && self.last.elapsed() < Duration::from_millis(100)) {
            return;
        }
        self.last = Instant::now();
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        let of = self.total.map(|t| format!("/{t}")).unwrap_or_default();
        let bar = match self.total {
            Some(t) if t > 0 => {
                let filled = (done * 30 / t) as usize;
                format!(
                    "[{}{}] ",
                    "#".repeat(filled),
                    ".".repeat(30 - filled.min(30))
                )
            }
            _ => String::new(),
        };
        eprint!(
            "\r{bar}{done}{of} verified, {failed} not affirmed, {:.0}/s ",
            done as f64 / secs
        );
        let _ = std::io::stderr().flush();
    }

    fn finish(&mut self, done: u64, failed: u64) {
        if self.enabled {
            self.show(done, failed, true);
            eprintln!();
        }
    }
}

/// Run `verify --batch`.
pub fn run(a: VerifyArgs, policy: Policy, expected: Expectations) -> CliResult {
    let source = a.input.evidence.clone();
    let shared = Arc::new(Shared {
        roots: if a.sim_roots {
            Roots::Simulator
        } else {
            Roots::Amd
        },
        kds: a.kds.clone(),
        product: a.product,
        at: a.at,
        crl: a.crl.clone(),
        require_crl: a.require_crl,
        fetch_crl: a.check_crl,
        policy,
        expected,
        in_format: a.input.in_format,
        full: a.format == OutputFormat::Json,
    });

    // Inputs: a directory listing (known length) or stdin lines (streamed).
    let from_stdin = source == Path::new("-");
    let listed = if from_stdin {
        None
    } else {
        Some(dir_inputs(&source)?)
    };
    let mut progress = Progress::new(listed.as_ref().map(|l| l.len() as u64));

    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (job_tx, job_rx) = mpsc::sync_channel::<(u64, Result<PathBuf, String>)>(workers * 4);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (ans_tx, ans_rx) = mpsc::channel::<Answer>();

    let feeder = std::thread::Builder::new()
        .name("snp-agent-batch-input".into())
        .spawn(move || -> Result<(), CliError> {
            match listed {
                Some(paths) => {
                    for (i, p) in paths.into_iter().enumerate() {
                        if job_tx.send((i as u64, Ok(p))).is_err() {
                            break;
                        }
                    }
                }
                None => {
                    let stdin = std::io::stdin();
                    let mut input = stdin.lock();
                    let mut i = 0u64;
                    while let Some(line) = read_line(&mut input).map_err(|e| {
                        CliError::new(exit_code::OTHER, format!("reading paths from stdin: {e}"))
                    })? {
                        let item = match line {
                            Ok(l) if l.trim().is_empty() => continue,
                            Ok(l) => Ok(PathBuf::from(l.trim())),
                            Err(e) => Err(e),
                        };
                        if job_tx.send((i, item)).is_err() {
                            break;
                        }
                        i += 1;
                    }
                }
            }
            Ok(())
        })
        .map_err(|e| CliError::new(exit_code::OTHER, format!("starting a thread: {e}")))?;

    let mut handles = Vec::with_capacity(workers);
    for n in 0..workers {
        let (rx, tx, shared) = (Arc::clone(&job_rx), ans_tx.clone(), Arc::clone(&shared));
        let h = std::thread::Builder::new()
            .name(format!("snp-agent-batch-{n}"))
            .spawn(move || loop {
                let job = match rx.lock() {
                    Ok(guard) => guard.recv(),
                    Err(_) => return,
                };
                let Ok((index, item)) = job else { return };
                let answer = match item {
                    Ok(path) => one(&shared, index, &path),
                    Err(why) => {
                        let mut line = serde_json::to_vec(&json!({
                            "index": index, "verdict": "error", "exit_code": exit_code::USAGE,
                            "error": why,
                        }))
                        .unwrap_or_default();
                        line.push(b'\n');
                        Answer {
                            index,
                            code: exit_code::USAGE,
                            line,
                        }
                    }
                };
                if tx.send(answer).is_err() {
                    return;
                }
            })
            .map_err(|e| CliError::new(exit_code::OTHER, format!("starting a thread: {e}")))?;
        handles.push(h);
    }
    drop(ans_tx);

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (mut done, mut failed, mut worst_code) = (0u64, 0u64, exit_code::SUCCESS);
    let mut write_error = None;
    for answer in ans_rx {
        done += 1;
        if answer.code != exit_code::SUCCESS {
            failed += 1;
        }
        worst_code = worst(worst_code, answer.code);
        if write_error.is_none() {
            if let Err(e) = out.write_all(&answer.line) {
                write_error = Some(e);
            }
        }
        tracing::trace!(index = answer.index, code = answer.code, "batch item done");
        progress.show(done, failed, false);
    }
    progress.finish(done, failed);
    for h in handles {
        let _ = h.join();
    }
    let fed = feeder
        .join()
        .map_err(|_| CliError::new(exit_code::OTHER, "the input thread panicked"))?;
    if let Some(e) = write_error.map(Err).unwrap_or_else(|| out.flush()).err() {
        return Err(CliError::new(
            exit_code::OTHER,
            format!("cannot write to stdout: {e}"),
        ));
    }
    fed?;
    if done == 0 {
        eprintln!("snp-agent: --batch: no inputs");
    }
    Ok(worst_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_is_by_severity_not_number() {
        use exit_code::*;
        assert_eq!(worst(SUCCESS, POLICY_FAILED), POLICY_FAILED);
        assert_eq!(
            worst(VERIFICATION_FAILED, EVIDENCE_INVALID),
            VERIFICATION_FAILED
        );
        assert_eq!(
            worst(EVIDENCE_INVALID, VERIFICATION_FAILED),
            VERIFICATION_FAILED
        );
        assert_eq!(worst(POLICY_FAILED, CRL_FAILED), CRL_FAILED);
        assert_eq!(
            worst(CERTIFICATE_UNAVAILABLE, SUCCESS),
            CERTIFICATE_UNAVAILABLE
        );
        for (code, _, _) in TABLE {
            assert_eq!(worst(code, code), code);
            assert_eq!(worst(SUCCESS, code), code);
            assert_eq!(worst(code, VERIFICATION_FAILED), VERIFICATION_FAILED);
        }
    }

    #[test]
    fn stdin_lines_are_bounded() {
        let long = "a".repeat(MAX_LINE as usize + 10);
        let text = format!("one\r\n\n{long}\ntwo");
        let mut r = std::io::Cursor::new(text.into_bytes());
        assert_eq!(read_line(&mut r).unwrap(), Some(Ok("one".into())));
        assert_eq!(read_line(&mut r).unwrap(), Some(Ok(String::new())));
        assert!(matches!(read_line(&mut r).unwrap(), Some(Err(_))));
        assert_eq!(read_line(&mut r).unwrap(), Some(Ok("two".into())));
        assert_eq!(read_line(&mut r).unwrap(), None);
    }
}
