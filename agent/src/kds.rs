//! KDS client and certificate cache.
//!
//! Many hosts serve no certificates beside a report (upstream KVM long could not), so the
//! agent or a relying party fetches the VCEK and the CA chains from AMD's Key Distribution
//! Service, which rate-limits — or, with the network closed, takes them from a local store.
//!
//! [`Kds`] is the entry point: an in-memory layer, then the disk cache ([`cache::DiskCache`],
//! whose layout doubles as an air-gapped store), then — unless offline — the network through
//! [`client::KdsClient`] (retries, `Retry-After`, deadline, body cap). Every certificate,
//! whether fetched or read from disk, is verified against the trust anchors (AMD's pinned
//! roots unless the caller chose others) before it is cached or returned; a VCEK must also
//! carry exactly the hwID and TCB that were asked for.
//!
//! ```no_run
//! # fn demo(report: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! use snp_agent::kds::{Kds, KdsClient, DiskCache};
//! use snp_certs::product::Product;
//! use snp_certs::tcb::Tcb;
//!
//! let kds = Kds::new(KdsClient::from_env_or(None)?, DiskCache::from_env_or(None)?);
//! let chip_id: [u8; 64] = report[0x1A0..0x1E0].try_into()?;
//! let tcb = Tcb::decode(report[0x180..0x188].try_into()?, Product::Milan)?;
//! let vcek = kds.vcek(Product::Milan, &chip_id, &tcb)?;
//! println!("VCEK ({} bytes) from {}", vcek.der.len(), vcek.source);
//! # Ok(()) }
//! ```

pub mod cache;
mod check;
pub mod client;
pub mod clock;
pub mod error;
pub mod progress;
pub mod retry_after;
pub mod snpguest;
pub mod transport;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use snp_certs::crypto::{default_provider, CryptoProvider};
use snp_certs::kds::{Endorser, HwId, CHIP_ID_LEN};
use snp_certs::product::Product;
use snp_certs::report::{ReportView, SigningKey};
use snp_certs::roots::TrustAnchors;
use snp_certs::tcb::Tcb;

pub use cache::{default_cache_dir, DiskCache, CACHE_DIR_ENV};
pub use client::{Deadline, KdsClient, RetryPolicy, KDS_URL_ENV};
pub use clock::{Clock, FakeClock, SystemClock};
pub use error::KdsError;
pub use progress::{Progress, ProgressFn};
pub use snpguest::ImportReport;

use check::{single_cert_der, unix_seconds, CheckError, Checker};

/// Default overall deadline of one [`Kds`] operation: long enough for a couple of
/// rate-limit waits, short enough that a boot script does not hang on a dead network.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(120);

/// What the CLI's flags map to; [`Kds::from_options`] applies the documented precedence.
#[derive(Clone, Default)]
pub struct KdsOptions {
    /// `--kds-url`; else `$SNP_AGENT_KDS_URL`; else AMD's KDS.
    pub kds_url: Option<String>,
    /// A cache directory given on the command line; else `$SNP_AGENT_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/snp-agent`, else `~/.cache/snp-agent`.
    pub cache_dir: Option<PathBuf>,
    /// `--offline`: never touch the network.
    pub offline: bool,
    /// Overall deadline per operation; [`DEFAULT_DEADLINE`] if `None`.
    pub deadline: Option<Duration>,
    /// Progress callback (the CLI passes one that prints `event.to_string()` on stderr when
    /// stderr is a terminal).
    pub progress: Option<ProgressFn>,
    /// Trust anchors other than AMD's pinned roots (e.g. the simulator's).
    pub anchors: Option<TrustAnchors>,
}

impl fmt::Debug for KdsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KdsOptions")
            .field("kds_url", &self.kds_url)
            .field("cache_dir", &self.cache_dir)
            .field("offline", &self.offline)
            .field("deadline", &self.deadline)
            .field("progress", &self.progress.is_some())
            .field("anchors", &self.anchors.as_ref().map(TrustAnchors::source))
            .finish()
    }
}

/// Where a returned item came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The in-memory layer (already verified in this process).
    Memory,
    /// The disk cache / store (verified on load).
    Disk(PathBuf),
    /// KDS or the configured mirror (verified, then cached).
    Network(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Memory => f.write_str("memory cache"),
            Source::Disk(p) => write!(f, "disk cache {}", p.display()),
            Source::Network(u) => write!(f, "{u}"),
        }
    }
}

/// A verified VCEK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vcek {
    /// The hwID it certifies (carries the product).
    pub hwid: HwId,
    /// The TCB it certifies.
    pub tcb: Tcb,
    /// DER.
    pub der: Vec<u8>,
    /// Where it came from.
    pub source: Source,
}

/// A verified CA chain as KDS serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaChain {
    /// Product line.
    pub product: Product,
    /// VCEK (ASK) or VLEK (ASVK) chain.
    pub endorser: Endorser,
    /// ASK or ASVK, DER.
    pub intermediate_der: Vec<u8>,
    /// ARK, DER.
    pub ark_der: Vec<u8>,
    /// Where it came from.
    pub source: Source,
}

/// A CRL whose ARK signature verified. It may be stale when it came from an offline store;
/// the verifier's CRL check judges freshness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlFile {
    /// Product line.
    pub product: Product,
    /// VCEK or VLEK CRL.
    pub endorser: Endorser,
    /// DER.
    pub der: Vec<u8>,
    /// Where it came from.
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum MemKey {
    Vcek(HwId, Tcb),
    Chain(Product, Endorser),
    Crl(Product, Endorser),
}

#[derive(Debug, Clone)]
enum MemVal {
    Vcek(Vcek),
    Chain(CaChain),
    Crl(CrlFile),
}

/// Certificates from memory, disk or KDS, always verified.
pub struct Kds {
    client: KdsClient,
    cache: DiskCache,
    offline: bool,
    deadline: Duration,
    checker: Checker,
    provider: Arc<dyn CryptoProvider>,
    memory: Mutex<HashMap<MemKey, MemVal>>,
}

impl fmt::Debug for Kds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kds")
            .field("client", &self.client)
            .field("cache", &self.cache.root())
            .field("offline", &self.offline)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl Kds {
    /// Online, AMD's pinned roots, [`DEFAULT_DEADLINE`] per operation.
    pub fn new(client: KdsClient, cache: DiskCache) -> Kds {
        Kds {
            client,
            cache,
            offline: false,
            deadline: DEFAULT_DEADLINE,
            checker: Checker::new(TrustAnchors::amd(), default_provider()),
            provider: default_provider(),
            memory: Mutex::new(HashMap::new()),
        }
    }

    /// Build from CLI-style options (see [`KdsOptions`] for the precedence of each).
    pub fn from_options(opts: KdsOptions) -> Result<Kds, KdsError> {
        let mut client = KdsClient::from_env_or(opts.kds_url.as_deref())?;
        if let Some(p) = opts.progress {
            client = client.with_progress(p);
        }
        let cache = DiskCache::from_env_or(opts.cache_dir.as_deref())?;
        let mut kds = Kds::new(client, cache)
            .offline(opts.offline)
            .with_deadline(opts.deadline.unwrap_or(DEFAULT_DEADLINE));
        if let Some(a) = opts.anchors {
            kds = kds.with_trust_anchors(a);
        }
        Ok(kds)
    }

    /// Never touch the network: serve from memory and disk only, and fail with
    /// [`KdsError::NotCached`] (naming the file) when an entry is missing.
    pub fn offline(mut self, offline: bool) -> Kds {
        self.offline = offline;
        self
    }

    /// The overall deadline of each operation (all attempts and waits included).
    pub fn with_deadline(mut self, d: Duration) -> Kds {
        self.deadline = d;
        self
    }

    /// Verify against these anchors instead of AMD's pinned roots (e.g. the simulator's).
    pub fn with_trust_anchors(mut self, anchors: TrustAnchors) -> Kds {
        self.checker = Checker::new(anchors, self.provider.clone());
        self.memory_lock().clear();
        self
    }

    /// Use this crypto provider for the checks.
    pub fn with_provider(mut self, provider: Arc<dyn CryptoProvider>) -> Kds {
        self.checker = Checker::new(self.checker.anchors().clone(), provider.clone());
        self.provider = provider;
        self
    }

    /// The HTTP client.
    pub fn client(&self) -> &KdsClient {
        &self.client
    }

    /// The disk cache.
    pub fn cache(&self) -> &DiskCache {
        &self.cache
    }

    /// Whether the network is off limits.
    pub fn is_offline(&self) -> bool {
        self.offline
    }

    fn memory_lock(&self) -> std::sync::MutexGuard<'_, HashMap<MemKey, MemVal>> {
        // Values are inserted whole; a panic elsewhere cannot leave one half-written.
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(&self) -> u64 {
        unix_seconds(self.client.clock().wall_time())
    }

    fn progress(&self, p: Progress) {
        self.client.progress(p);
    }

    /// The VCEK for a report's CHIP_ID and REPORTED_TCB (decoded with `product`'s layout).
    /// A masked chip ID fails before any lookup or request.
    pub fn vcek(
        &self,
        product: Product,
        chip_id: &[u8; CHIP_ID_LEN],
        tcb: &Tcb,
    ) -> Result<Vcek, KdsError> {
        let hwid = HwId::from_chip_id(product, chip_id)?;
        self.vcek_for(&hwid, tcb)
    }

    /// The VCEK that signed `report`: its CHIP_ID and REPORTED_TCB, the product from the
    /// report's CPUID fields (v3+) or `product` (needed for v2 reports, which carry none; if
    /// both are present they must agree). A VLEK-signed or unsigned report has no VCEK on KDS.
    pub fn vcek_for_report(
        &self,
        report: &ReportView<'_>,
        product: Option<Product>,
    ) -> Result<Vcek, KdsError> {
        match report.signing_key() {
            SigningKey::Vcek => {}
            SigningKey::Vlek => {
                return Err(KdsError::Report(
                    "the report is VLEK-signed; KDS does not serve VLEKs to guests — the VLEK comes from the host's certificate table".into(),
                ))
            }
            other => {
                return Err(KdsError::Report(format!(
                    "the report's signing key is {other}, which has no certificate"
                )))
            }
        }
        let from_cpuid = report
            .product_from_cpuid()
            .transpose()
            .map_err(|e| KdsError::Report(e.to_string()))?;
        let product = match (from_cpuid, product) {
            (Some(a), Some(b)) if a != b => {
                return Err(KdsError::Report(format!(
                    "the report's CPUID says {a} but {b} was given"
                )))
            }
            (Some(p), _) | (None, Some(p)) => p,
            (None, None) => {
                return Err(KdsError::Report(format!(
                    "a version {} report carries no CPUID, so its product line (Milan, Genoa, Turin) must be given (`--product milan|genoa|turin` on the command line)",
                    report.version()
                )))
            }
        };
        let tcb = report
            .reported_tcb(product)
            .map_err(|e| KdsError::Report(format!("REPORTED_TCB: {e}")))?;
        self.vcek(product, report.chip_id(), &tcb)
    }

    /// The VCEK for a hwID and TCB.
    pub fn vcek_for(&self, hwid: &HwId, tcb: &Tcb) -> Result<Vcek, KdsError> {
        let product = hwid.product();
        // Build the URL first: it validates the TCB's shape for the product, and names the
        // source in offline errors.
        let url = self.client.urls().vcek(hwid, tcb)?;
        let what = format!("{product} VCEK ({tcb})");
        let key = MemKey::Vcek(hwid.clone(), *tcb);
        if let Some(MemVal::Vcek(v)) = self.memory_lock().get(&key) {
            self.progress(Progress::CacheHit { what, path: None });
            return Ok(Vcek {
                source: Source::Memory,
                ..v.clone()
            });
        }
        let now = self.now();
        let check = |body: &[u8]| -> Result<Vec<u8>, CheckError> {
            let der = single_cert_der(body)?;
            self.checker.vcek(hwid, tcb, &der, now)?;
            Ok(der)
        };
        if let Some((path, bytes)) = self.cache.read_vcek(hwid, tcb)? {
            match check(&bytes) {
                Ok(der) => {
                    self.progress(Progress::CacheHit {
                        what,
                        path: Some(path.clone()),
                    });
                    let v = Vcek {
                        hwid: hwid.clone(),
                        tcb: *tcb,
                        der,
                        source: Source::Disk(path),
                    };
                    self.memory_lock().insert(key, MemVal::Vcek(v.clone()));
                    return Ok(v);
                }
                Err(e) if self.offline => return Err(stored_error(&what, &path, e)),
                // Online, a stored entry that no longer verifies (expired, damaged,
                // hand-placed wrongly) is replaced by a fresh, verified one.
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = ?e, "cached VCEK does not verify; refetching");
                }
            }
        }
        let path = self.cache.vcek_path(hwid, tcb);
        if self.offline {
            return Err(KdsError::NotCached { what, path, url });
        }
        let deadline = Deadline::after(&**self.client.clock(), self.deadline);
        let fetched = self.client.fetch_vcek(hwid, tcb, &deadline)?;
        let der = check(&fetched.body).map_err(|e| fetched_error(&what, &fetched.url, e))?;
        self.cache.write_atomic(&path, &der)?;
        self.progress(Progress::Stored {
            what,
            path: path.clone(),
        });
        tracing::info!(url = %fetched.url, path = %path.display(), "VCEK fetched, verified and cached");
        let v = Vcek {
            hwid: hwid.clone(),
            tcb: *tcb,
            der,
            source: Source::Network(fetched.url),
        };
        self.memory_lock().insert(key, MemVal::Vcek(v.clone()));
        Ok(v)
    }

    /// The CA chain (ASK or ASVK, then ARK) for a product, checked against the anchors.
    pub fn ca_chain(&self, product: Product, endorser: Endorser) -> Result<CaChain, KdsError> {
        let what = format!("{product} {endorser} cert_chain");
        let key = MemKey::Chain(product, endorser);
        if let Some(MemVal::Chain(c)) = self.memory_lock().get(&key) {
            self.progress(Progress::CacheHit { what, path: None });
            return Ok(CaChain {
                source: Source::Memory,
                ..c.clone()
            });
        }
        let now = self.now();
        let path = self.cache.chain_path(product, endorser);
        let url = self.client.urls().cert_chain(product, endorser);
        let mut stored = None;
        if let Some(b) = cache::read_bounded(&path)? {
            let src = Source::Disk(path.clone());
            match self.checker.ca_chain_pem(product, endorser, &b, now) {
                Ok(pair) => stored = Some((b, src, pair)),
                Err(e) if self.offline => return Err(source_error(&what, &src, e)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = ?e, "cached chain does not verify; refetching");
                }
            }
        }
        let (body, source, (inter, ark)) = match stored {
            Some(x) => x,
            None if self.offline => return Err(KdsError::NotCached { what, path, url }),
            None => {
                let deadline = Deadline::after(&**self.client.clock(), self.deadline);
                let f = self.client.fetch_cert_chain(product, endorser, &deadline)?;
                let src = Source::Network(f.url);
                let pair = self
                    .checker
                    .ca_chain_pem(product, endorser, &f.body, now)
                    .map_err(|e| source_error(&what, &src, e))?;
                (f.body, src, pair)
            }
        };
        match &source {
            Source::Network(_) => {
                self.cache.write_atomic(&path, &body)?;
                self.progress(Progress::Stored {
                    what,
                    path: path.clone(),
                });
            }
            Source::Disk(p) => self.progress(Progress::CacheHit {
                what,
                path: Some(p.clone()),
            }),
            Source::Memory => {}
        }
        let c = CaChain {
            product,
            endorser,
            intermediate_der: inter,
            ark_der: ark,
            source,
        };
        self.memory_lock().insert(key, MemVal::Chain(c.clone()));
        Ok(c)
    }

    /// The CRL for a product, ARK signature checked. Online, a cached CRL past its
    /// nextUpdate is refetched (and the cached one kept if KDS cannot be reached, so the
    /// verifier can report it as stale rather than missing); offline, the cached one is
    /// returned whatever its age.
    pub fn crl(&self, product: Product, endorser: Endorser) -> Result<CrlFile, KdsError> {
        let what = format!("{product} {endorser} CRL");
        let key = MemKey::Crl(product, endorser);
        let now = self.now();
        let is_current = |der: &[u8]| {
            snp_certs::crl::Crl::from_der(der).is_ok_and(|c| c.check_current(now).is_ok())
        };
        let mem = match self.memory_lock().get(&key) {
            Some(MemVal::Crl(c)) => Some(c.clone()),
            _ => None,
        };
        if let Some(c) = mem {
            if self.offline || is_current(&c.der) {
                self.progress(Progress::CacheHit { what, path: None });
                return Ok(CrlFile {
                    source: Source::Memory,
                    ..c
                });
            }
        }
        let path = self.cache.crl_path(product, endorser);
        let url = self.client.urls().crl(product, endorser);
        // A stored CRL that verifies, and whether it is current.
        let mut cached: Option<(CrlFile, bool)> = None;
        if let Some(b) = cache::read_bounded(&path)? {
            let src = Source::Disk(path.clone());
            match self.checker.crl(product, &b, now) {
                Ok(v) => {
                    let current = v.is_current();
                    let file = CrlFile {
                        product,
                        endorser,
                        der: b,
                        source: src,
                    };
                    cached = Some((file, current));
                }
                Err(e) if self.offline => return Err(source_error(&what, &src, e)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = ?e, "cached CRL does not verify; refetching");
                }
            }
        }
        let use_cached = |c: CrlFile| {
            self.progress(Progress::CacheHit {
                what: what.clone(),
                path: Some(path.clone()),
            });
            self.memory_lock()
                .insert(key.clone(), MemVal::Crl(c.clone()));
            c
        };
        let stale = match cached {
            Some((c, current)) if self.offline || current => return Ok(use_cached(c)),
            Some((c, _)) => Some(c),
            None if self.offline => return Err(KdsError::NotCached { what, path, url }),
            None => None,
        };
        let deadline = Deadline::after(&**self.client.clock(), self.deadline);
        let fetched = match (self.client.fetch_crl(product, endorser, &deadline), stale) {
            (Ok(f), _) => f,
            // KDS unreachable: a stale CRL is better than none; the verifier reports it stale.
            (Err(e), Some(c)) if e.is_network() => {
                tracing::warn!(error = %e, "cannot refresh the stale cached CRL; using it");
                return Ok(use_cached(c));
            }
            (Err(e), _) => return Err(e),
        };
        let src = Source::Network(fetched.url.clone());
        self.checker
            .crl(product, &fetched.body, now)
            .map_err(|e| source_error(&what, &src, e))?;
        self.cache.write_atomic(&path, &fetched.body)?;
        self.progress(Progress::Stored {
            what,
            path: path.clone(),
        });
        let c = CrlFile {
            product,
            endorser,
            der: fetched.body,
            source: src,
        };
        self.memory_lock().insert(key, MemVal::Crl(c.clone()));
        Ok(c)
    }

    /// Import an snpguest certificate directory (`ark`, `ask`/`asvk`, `vcek` as `.pem` or
    /// `.der`) into the cache, verifying everything first. See [`snpguest`].
    pub fn import_snpguest_dir(&self, dir: &std::path::Path) -> Result<ImportReport, KdsError> {
        snpguest::import(self, dir)
    }

    pub(crate) fn checker(&self) -> &Checker {
        &self.checker
    }
}

fn fetched_error(what: &str, url: &str, e: CheckError) -> KdsError {
    source_error(what, &Source::Network(url.to_owned()), e)
}

fn stored_error(what: &str, path: &std::path::Path, e: CheckError) -> KdsError {
    source_error(what, &Source::Disk(path.to_path_buf()), e)
}

fn source_error(what: &str, source: &Source, e: CheckError) -> KdsError {
    match (e, source) {
        (CheckError::Malformed(detail), Source::Network(url)) => KdsError::BadBody {
            url: url.clone(),
            expected: expected_for(what),
            detail,
        },
        (CheckError::Malformed(detail), Source::Disk(path)) => KdsError::BadFile {
            path: path.clone(),
            detail: format!("not a usable {what}: {detail}"),
        },
        (CheckError::Malformed(reason) | CheckError::Rejected(reason), src) => KdsError::Rejected {
            what: what.to_owned(),
            source_desc: src.to_string(),
            reason,
        },
    }
}

fn expected_for(what: &str) -> &'static str {
    if what.ends_with("cert_chain") {
        "PEM certificate chain (intermediate then ARK)"
    } else if what.ends_with("CRL") {
        "DER CRL"
    } else {
        "DER or PEM certificate"
    }
}
