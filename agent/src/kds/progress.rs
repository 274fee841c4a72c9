//! Progress events during KDS fetches, for a CLI that shows what it is waiting for (a KDS
//! rate limit can mean minutes). The library only reports; printing is the caller's choice
//! (the CLI prints `event.to_string()` on stderr when stderr is a terminal).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Something the client is doing or waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A certificate was served from the in-memory or disk cache.
    CacheHit {
        /// What was served.
        what: String,
        /// The cache file (`None` for the in-memory layer).
        path: Option<PathBuf>,
    },
    /// A request is about to be sent.
    Fetching {
        /// What is being fetched.
        what: String,
        /// The URL.
        url: String,
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// The client is waiting before the next attempt.
    Waiting {
        /// What is being fetched.
        what: String,
        /// How long.
        delay: Duration,
        /// Why (e.g. "HTTP 429, Retry-After 30s").
        reason: String,
    },
    /// A response body was received and is being verified.
    Received {
        /// What was fetched.
        what: String,
        /// Body size in bytes.
        bytes: usize,
    },
    /// A verified certificate was written to the disk cache.
    Stored {
        /// What was stored.
        what: String,
        /// The cache file.
        path: PathBuf,
    },
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Progress::CacheHit {
                what,
                path: Some(p),
            } => {
                write!(f, "{what}: from cache {}", p.display())
            }
            Progress::CacheHit { what, path: None } => write!(f, "{what}: from memory cache"),
            Progress::Fetching {
                what,
                url,
                attempt: 1,
            } => write!(f, "{what}: fetching {url}"),
            Progress::Fetching { what, url, attempt } => {
                write!(f, "{what}: fetching {url} (attempt {attempt})")
            }
            Progress::Waiting {
                what,
                delay,
                reason,
            } => {
                write!(f, "{what}: {reason}; waiting {:.1}s", delay.as_secs_f64())
            }
            Progress::Received { what, bytes } => write!(f, "{what}: received {bytes} bytes"),
            Progress::Stored { what, path } => write!(f, "{what}: cached at {}", path.display()),
        }
    }
}

/// A progress callback. Called synchronously on the fetching thread; keep it cheap.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// A callback that ignores every event.
pub fn silent() -> ProgressFn {
    Arc::new(|_| {})
}
