//! The blob lock scheme between two real processes: per lock kind, and a mixed pair.
//!
//! Locks are owned by open file descriptions, so in-process tests already conflict the way two
//! processes would; these tests check it with a second process anyway, because that is what an
//! operator runs (an updater tool next to QEMU). The second process is this test binary re-run
//! with `SNP_BLOB_LOCK_CHILD` set: it takes the lock it is told, prints a marker line, and holds the
//! lock until its stdin is closed.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use snp_certs::blob::{BlobError, ExclusiveBlob, LockKind, SharedBlob};

const CHILD_ENV: &str = "SNP_BLOB_LOCK_CHILD";
const MARKER: &str = "SNP-BLOB-LOCK-HELD";
const SHORT: Duration = Duration::from_millis(100);
const LONG: Duration = Duration::from_secs(20);

/// Entry point of the child process; does nothing in a normal test run.
#[test]
fn child_process_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (role, path) = spec.split_once(':').expect("ROLE:PATH");
    let path = PathBuf::from(path);
    let _guard: Box<dyn std::any::Any> = match role {
        "shared-ofd" => Box::new(SharedBlob::acquire_kind(&path, LockKind::Ofd, LONG).unwrap()),
        "shared-flock" => Box::new(SharedBlob::acquire_kind(&path, LockKind::Flock, LONG).unwrap()),
        "updater" => {
            let mut ex = ExclusiveBlob::acquire(&path, LONG).unwrap();
            ex.replace(b"from the updater process").unwrap();
            Box::new(ex)
        }
        other => panic!("unknown role {other}"),
    };
    let mut out = std::io::stdout().lock();
    // libtest prints "test child_process_entry ... " before this without a newline.
    writeln!(out, "{MARKER}").unwrap();
    out.flush().unwrap();
    // Hold the lock until the parent closes our stdin.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

/// A child holding `role`'s lock on `path`; [`Holder::release`] releases it and reaps the child.
/// Its stdout stays open (and is drained at the end) so libtest's closing line does not hit a
/// closed pipe.
struct Holder(Child, BufReader<std::process::ChildStdout>);

impl Holder {
    fn start(role: &str, path: &Path) -> Holder {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_process_entry",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, format!("{role}:{}", path.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            let n = stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "child {role} never reported its lock");
            if line.contains(MARKER) {
                break;
            }
        }
        Holder(child, stdout)
    }

    fn release(mut self) {
        drop(self.0.stdin.take());
        let mut rest = String::new();
        let _ = self.1.read_to_string(&mut rest);
        let status = self.0.wait().unwrap();
        assert!(status.success(), "child failed: {status}");
    }
}

fn blob(content: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("certs.bin");
    std::fs::write(&path, content).unwrap();
    (dir, path)
}

fn timed_out<T: std::fmt::Debug>(r: Result<T, BlobError>) -> bool {
    matches!(r, Err(BlobError::LockTimeout { .. }))
}

#[test]
fn ofd_reader_process_excludes_an_updater_and_admits_readers() {
    let (_d, path) = blob(b"v1");
    let reader = Holder::start("shared-ofd", &path);
    assert!(timed_out(ExclusiveBlob::acquire(&path, SHORT)));
    assert_eq!(
        SharedBlob::acquire_kind(&path, LockKind::Ofd, SHORT)
            .unwrap()
            .bytes(),
        b"v1"
    );
    reader.release();
    ExclusiveBlob::acquire(&path, SHORT).unwrap();
}

#[test]
fn flock_reader_process_excludes_an_updater_and_admits_readers() {
    let (_d, path) = blob(b"v1");
    let reader = Holder::start("shared-flock", &path);
    assert!(timed_out(ExclusiveBlob::acquire(&path, SHORT)));
    assert_eq!(
        SharedBlob::acquire_kind(&path, LockKind::Flock, SHORT)
            .unwrap()
            .bytes(),
        b"v1"
    );
    reader.release();
    ExclusiveBlob::acquire(&path, SHORT).unwrap();
}

#[test]
fn updater_process_excludes_readers_of_both_kinds_until_it_exits() {
    let (_d, path) = blob(b"v1");
    let updater = Holder::start("updater", &path);
    // The replacement is already renamed into place, but still locked: no torn or early read.
    assert_eq!(std::fs::read(&path).unwrap(), b"from the updater process");
    assert!(timed_out(SharedBlob::acquire_kind(
        &path,
        LockKind::Ofd,
        SHORT
    )));
    assert!(timed_out(SharedBlob::acquire_kind(
        &path,
        LockKind::Flock,
        SHORT
    )));
    assert!(timed_out(ExclusiveBlob::acquire(&path, SHORT)));
    updater.release();
    for kind in [LockKind::Ofd, LockKind::Flock] {
        assert_eq!(
            SharedBlob::acquire_kind(&path, kind, SHORT)
                .unwrap()
                .bytes(),
            b"from the updater process"
        );
    }
}

/// The mixed pair: an OFD reader and a flock reader in two processes coexist, and each one on
/// its own keeps an updater in a third party (this process) out.
#[test]
fn mixed_pair_ofd_and_flock_readers_coexist_and_each_excludes_updaters() {
    let (_d, path) = blob(b"v1");
    let ofd = Holder::start("shared-ofd", &path);
    let flock = Holder::start("shared-flock", &path);
    assert!(timed_out(ExclusiveBlob::acquire(&path, SHORT)));
    ofd.release();
    assert!(timed_out(ExclusiveBlob::acquire(&path, SHORT)));
    flock.release();
    let mut ex = ExclusiveBlob::acquire(&path, SHORT).unwrap();
    ex.replace(b"v2").unwrap();
    drop(ex);
    // And the reverse direction: a reader in this process waiting on an updater process of the
    // other kind's view gets the new blob once it exits.
    let updater = Holder::start("updater", &path);
    let p = path.clone();
    let waiter =
        std::thread::spawn(move || SharedBlob::acquire_kind(&p, LockKind::Flock, LONG).unwrap());
    std::thread::sleep(Duration::from_millis(50));
    assert!(!waiter.is_finished(), "a flock reader got past the updater");
    updater.release();
    assert_eq!(waiter.join().unwrap().bytes(), b"from the updater process");
}
