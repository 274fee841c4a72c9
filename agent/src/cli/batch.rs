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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use snp_agent::evidence::{Evidence, Format};
use snp_agent::exit_code;
use snp_agent::policy::{Expectations, Policy};

use super::appraise::{appraise, Request, Roots};
use super::ear_out::VerifyFormat;
use super::verify::VerifyArgs;
use super::{render, CliError, CliResult};

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
            let mut v = json!({
                "verdict": a.tier(),
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

/// Where the inputs come from. Workers take the next input themselves (an atomic index into a
/// listing, or a line of stdin under a lock) and write their own output line under a lock: no
/// channel hand-off and no thread wake-up per input (those cost ~5 % of a verification).
enum Source {
    Listed {
        paths: Vec<PathBuf>,
        next: AtomicUsize,
    },
    Stdin(Mutex<StdinState>),
}

struct StdinState {
    reader: std::io::BufReader<std::io::Stdin>,
    next: u64,
    /// Set once reading fails or ends; later callers get `None` at once.
    finished: bool,
    error: Option<std::io::Error>,
}

impl Source {
    fn next(&self) -> Option<(u64, Result<PathBuf, String>)> {
        match self {
            Source::Listed { paths, next } => {
                let i = next.fetch_add(1, Ordering::Relaxed);
                paths.get(i).map(|p| (i as u64, Ok(p.clone())))
            }
            Source::Stdin(state) => {
                let mut st = state.lock().ok()?;
                loop {
                    if st.finished {
                        return None;
                    }
                    match read_line(&mut st.reader) {
                        Ok(None) => st.finished = true,
                        Err(e) => {
                            st.finished = true;
                            st.error = Some(e);
                        }
                        Ok(Some(Ok(l))) if l.trim().is_empty() => {}
                        Ok(Some(line)) => {
                            let i = st.next;
                            st.next += 1;
                            return Some((i, line.map(|l| PathBuf::from(l.trim()))));
                        }
                    }
                }
            }
        }
    }
}

/// The output side, shared by the workers.
struct Output {
    out: std::io::BufWriter<std::io::Stdout>,
    error: Option<std::io::Error>,
    done: u64,
    failed: u64,
    worst: u8,
    progress: Progress,
}

impl Output {
    fn record(&mut self, answer: &Answer) {
        self.done += 1;
        if answer.code != exit_code::SUCCESS {
            self.failed += 1;
        }
        self.worst = worst(self.worst, answer.code);
        if self.error.is_none() {
            if let Err(e) = self.out.write_all(&answer.line) {
                self.error = Some(e);
            }
        }
        tracing::trace!(index = answer.index, code = answer.code, "batch item done");
        self.progress.show(self.done, self.failed, false);
    }
}

fn usage_answer(index: u64, why: String) -> Answer {
    let mut line = serde_json::to_vec(&json!({
        "index": index, "verdict": "error", "exit_code": exit_code::USAGE, "error": why,
    }))
    .unwrap_or_default();
    line.push(b'\n');
    Answer {
        index,
        code: exit_code::USAGE,
        line,
    }
}

/// Run `verify --batch`.
pub fn run(a: VerifyArgs, policy: Policy, expected: Expectations) -> CliResult {
    let source = a.input.evidence.clone();
    let shared = Shared {
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
        full: a.format == VerifyFormat::Json,
    };
    let (inputs, total) = if source == Path::new("-") {
        let st = StdinState {
            reader: std::io::BufReader::new(std::io::stdin()),
            next: 0,
            finished: false,
            error: None,
        };
        (Source::Stdin(Mutex::new(st)), None)
    } else {
        let paths = dir_inputs(&source)?;
        let n = paths.len() as u64;
        (
            Source::Listed {
                paths,
                next: AtomicUsize::new(0),
            },
            Some(n),
        )
    };
    let output = Mutex::new(Output {
        out: std::io::BufWriter::new(std::io::stdout()),
        error: None,
        done: 0,
        failed: 0,
        worst: exit_code::SUCCESS,
        progress: Progress::new(total),
    });

    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let spawned = std::thread::scope(|scope| -> std::io::Result<()> {
        for n in 0..workers {
            let (inputs, output, shared) = (&inputs, &output, &shared);
            std::thread::Builder::new()
                .name(format!("snp-agent-batch-{n}"))
                .spawn_scoped(scope, move || {
                    while let Some((index, item)) = inputs.next() {
                        let answer = match item {
                            Ok(path) => one(shared, index, &path),
                            Err(why) => usage_answer(index, why),
                        };
                        match output.lock() {
                            Ok(mut o) => o.record(&answer),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(())
    });
    spawned.map_err(|e| CliError::new(exit_code::OTHER, format!("starting a thread: {e}")))?;

    let mut o = output
        .into_inner()
        .map_err(|_| CliError::new(exit_code::OTHER, "a batch worker panicked"))?;
    let (done, failed) = (o.done, o.failed);
    o.progress.finish(done, failed);
    if let Some(e) = o
        .error
        .take()
        .map(Err)
        .unwrap_or_else(|| o.out.flush())
        .err()
    {
        return Err(CliError::new(
            exit_code::OTHER,
            format!("cannot write to stdout: {e}"),
        ));
    }
    if let Source::Stdin(st) = &inputs {
        if let Some(e) = st.lock().ok().and_then(|mut s| s.error.take()) {
            return Err(CliError::new(
                exit_code::OTHER,
                format!("reading paths from stdin: {e}"),
            ));
        }
    }
    if done == 0 {
        eprintln!("snp-agent: --batch: no inputs");
    }
    Ok(o.worst)
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
