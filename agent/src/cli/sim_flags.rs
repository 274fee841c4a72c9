//! `--sim-fault NAME[=N]` and `--sim-kvm seed|merged` (with `--backend sim`): let an operator
//! see each host misconfiguration on the simulator before meeting it on a real host.
//!
//! Faults come in three shapes. Most set a knob of the simulator's [`Faults`] (BUSY answers, a
//! corrupt table, another chip's VCEK…). Misconfigured *blobs* are made the way an operator
//! makes them: the simulated host's blob file is rewritten (under the exclusive lock) with the
//! wrong content — another product's chain, a VCEK where a VLEK signs, a duplicate entry.
//! `tcb-race` wraps the backend so that each of the next N requests races a TCB update made
//! without the lock scheme (see `snp_sim::updater`).

use std::fmt;

use clap::Args;
use snp_agent::backend::{self, Backend, BackendError, BackendKind, BackendOptions};
use snp_agent::exit_code;

use super::{BackendArgs, CliError};

/// The simulator options shared by `attest`, `doctor` and `serve`.
#[derive(Args, Debug, Clone, Default)]
pub struct SimArgs {
    /// Inject a host misconfiguration into the simulator (repeatable; with --backend sim).
    /// `--sim-fault help` lists them.
    #[arg(long = "sim-fault", value_name = "NAME[=N]", value_parser = parse_fault)]
    pub sim_fault: Vec<SimFault>,
    /// KVM host interface the simulator plays: merged (KVM_EXIT_SNP_REQ_CERTS, the default) or
    /// seed (KVM_EXIT_VMGEXIT REQ_CERTS with NOTIFY_DONE). With --backend sim.
    #[arg(long, value_name = "seed|merged", value_parser = parse_kvm)]
    pub sim_kvm: Option<KvmGeneration>,
}

/// `--sim-kvm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvmGeneration {
    /// The seed patch's interface.
    Seed,
    /// What merged.
    Merged,
}

fn parse_kvm(s: &str) -> Result<KvmGeneration, String> {
    match s {
        "seed" => Ok(KvmGeneration::Seed),
        "merged" => Ok(KvmGeneration::Merged),
        other => Err(format!(
            "unknown KVM interface {other:?}: expected seed or merged"
        )),
    }
}

/// One `--sim-fault`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimFault {
    /// Which.
    pub kind: FaultKind,
    /// Its `=N`, if given.
    pub n: Option<u64>,
}

macro_rules! faults {
    ($($variant:ident $name:literal $arg:literal $help:literal;)*) => {
        /// Every fault `--sim-fault` knows.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum FaultKind {
            /// `--sim-fault help`.
            Help,
            $(#[doc = $help] $variant,)*
        }

        /// (name, argument, description) of every fault, in `--sim-fault help` order.
        pub const CATALOG: &[(FaultKind, &str, &str, &str)] = &[
            $((FaultKind::$variant, $name, $arg, $help),)*
        ];
    };
}

faults! {
    NoCerts "no-certs" "" "the VMM serves an empty certificate table (no certificates at all)";
    WrongVcek "wrong-vcek" "" "the VMM serves another chip's VCEK";
    StaleBlob "stale-blob" "" "the operator raised the TCB but never rewrote the blob (VCEK for the old TCB)";
    TcbRace "tcb-race" "[=N]" "the next N requests (default 1) race a TCB update made without the blob lock; not with serve";
    NotAmdCa "not-amd-ca" "" "the blob's ASK/ARK are not the pinned roots of the report's product";
    ForeignChain "foreign-chain" "" "the blob carries another product line's ASK/ARK";
    VcekForVlek "vcek-for-vlek" "" "a VLEK is loaded (and signs) but the blob serves a VCEK";
    VlekForVcek "vlek-for-vcek" "" "the VCEK signs but the blob serves a VLEK (with the ASVK)";
    OversizedBlob "oversized-blob" "[=KIB]" "the blob grows to KIB KiB (default 20): more than the 16 KiB a Linux guest passes";
    CorruptTable "corrupt-table" "" "the VMM serves a malformed table (an entry points past the end)";
    DuplicateEntries "duplicate-entries" "" "the blob lists the VCEK twice";
    GhcbReject "ghcb-reject" "[=N]" "KVM rejects the extended request at the GHCB level (no extended-request support); N times, default always";
    Busy "busy" "[=N]" "the VMM answers BUSY N times (default always)";
    Throttle "throttle" "[=N]" "the host admits N guest requests per second (default 1) and answers BUSY beyond";
    GenericVmmError "generic-vmm-error" "[=N]" "the VMM fails the request with its generic error; N times, default always";
    InvalidLenStorm "invalid-len-storm" "=N" "N INVALID_LEN answers, each asking for one page more";
    AbsurdPages "absurd-pages" "[=N]" "INVALID_LEN asking for N pages (default 2^32-1)";
    TamperTag "tamper-tag" "[=N]" "the response's authentication tag is altered on its way back";
    ReplayResponse "replay-response" "[=N]" "the host hands back an earlier response";
    TruncateResponse "truncate-response" "[=N]" "the firmware's response payload is truncated";
    FwError "fw-error" "=STATUS" "the firmware refuses every request with STATUS";
    BogusCompletion "bogus-completion" "[=N]" "the VMM completes REQ_CERTS with an invalid value";
    Vlek "vlek" "" "a VLEK is loaded and served correctly (a healthy cloud host)";
}

impl fmt::Display for SimFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = CATALOG
            .iter()
            .find(|e| e.0 == self.kind)
            .map_or("help", |e| e.1);
        match self.n {
            Some(n) => write!(f, "{name}={n}"),
            None => f.write_str(name),
        }
    }
}

fn parse_fault(s: &str) -> Result<SimFault, String> {
    let (name, n) = match s.split_once('=') {
        Some((name, n)) => {
            let n = n
                .parse::<u64>()
                .map_err(|e| format!("--sim-fault {name}: {n:?} is not a count: {e}"))?;
            (name, Some(n))
        }
        None => (s, None),
    };
    if name == "help" {
        return Ok(SimFault {
            kind: FaultKind::Help,
            n: None,
        });
    }
    let (kind, _, arg, _) = CATALOG.iter().find(|e| e.1 == name).ok_or_else(|| {
        format!("unknown simulator fault {name:?}; `--sim-fault help` lists them")
    })?;
    match (*arg, n) {
        ("", Some(_)) => Err(format!("--sim-fault {name} takes no value")),
        (a, None) if a.starts_with('=') => {
            Err(format!("--sim-fault {name} needs a value: {name}{a}"))
        }
        _ => Ok(SimFault { kind: *kind, n }),
    }
}

/// The `--sim-fault help` text.
pub fn help_text() -> String {
    let mut s =
        String::from("Simulator faults (--backend sim --sim-fault NAME[=N], repeatable):\n");
    for (_, name, arg, help) in CATALOG {
        s.push_str(&format!("  {:<24} {help}\n", format!("{name}{arg}")));
    }
    s
}

/// The backend options and wrappers the arguments ask for.
pub struct Prepared {
    /// Options for [`backend::open`].
    pub options: BackendOptions,
    kind: BackendKind,
    race: u32,
    #[cfg(feature = "sim")]
    platform: Option<snp_sim::platform::SimPlatform>,
}

impl Prepared {
    /// Whether the backend must be opened through [`Prepared::open`] (a `tcb-race` wrapper).
    pub fn has_wrapper(&self) -> bool {
        self.race > 0
    }

    /// Open the backend with the stale-blob guard (what `attest` uses).
    pub fn open(&self) -> Result<Box<dyn Backend>, BackendError> {
        let inner = self.open_unguarded()?;
        Ok(Box::new(backend::stale::StaleGuard::new(
            inner,
            self.options.reask,
        )))
    }

    /// Open the backend without the guard (what `doctor` uses: it judges raw answers).
    pub fn open_unguarded(&self) -> Result<Box<dyn Backend>, BackendError> {
        let inner = backend::open_unguarded(self.kind, &self.options)?;
        #[cfg(feature = "sim")]
        if let (Some(platform), true) = (&self.platform, self.race > 0) {
            return Ok(Box::new(race::TcbRace::new(
                inner,
                platform.clone(),
                self.race,
            )));
        }
        Ok(inner)
    }
}

/// Build the backend options for `args`, applying `--sim-fault`/`--sim-kvm`. `Ok(None)` means
/// `--sim-fault help` was given and printed: exit successfully.
pub fn prepare(args: &BackendArgs) -> Result<Option<Prepared>, CliError> {
    let sim = &args.sim;
    if sim.sim_fault.iter().any(|f| f.kind == FaultKind::Help) {
        super::stdout_write(help_text().as_bytes())?;
        return Ok(None);
    }
    let given = !sim.sim_fault.is_empty() || sim.sim_kvm.is_some();
    if given && args.backend != BackendKind::Sim {
        return Err(CliError::new(
            exit_code::USAGE,
            "--sim-fault and --sim-kvm only apply to --backend sim",
        ));
    }
    #[allow(unused_mut)]
    let mut options = args.options();
    let race = sim
        .sim_fault
        .iter()
        .filter(|f| f.kind == FaultKind::TcbRace)
        .map(|f| f.n.unwrap_or(1).min(u64::from(u32::MAX)) as u32)
        .sum();
    #[cfg(feature = "sim")]
    {
        let platform = if given {
            let p = inject::build(args.sim_product, sim).map_err(|e| {
                CliError::new(
                    exit_code::BACKEND_FAILED,
                    format!("cannot set up the simulator: {e}"),
                )
            })?;
            options.sim.platform = Some(p.clone());
            Some(p)
        } else {
            None
        };
        Ok(Some(Prepared {
            options,
            kind: args.backend,
            race,
            platform,
        }))
    }
    #[cfg(not(feature = "sim"))]
    {
        if given {
            return Err(CliError::new(
                exit_code::BACKEND_FAILED,
                "this snp-agent was built without the simulator (cargo feature `sim`)",
            ));
        }
        Ok(Some(Prepared {
            options,
            kind: args.backend,
            race,
        }))
    }
}

#[cfg(feature = "sim")]
mod race {
    use snp_agent::backend::{Backend, BackendError, BackendKind, ExtendedReport, ReportRequest};
    use snp_sim::platform::SimPlatform;
    use snp_sim::updater::{next_tcb, raise_unlocked};

    /// Each of the next `left` requests races an unlocked TCB update: the firmware's TCB rises
    /// before the request, and the blob is rewritten only after it.
    pub struct TcbRace {
        inner: Box<dyn Backend>,
        platform: SimPlatform,
        left: u32,
    }

    impl TcbRace {
        pub fn new(inner: Box<dyn Backend>, platform: SimPlatform, left: u32) -> TcbRace {
            TcbRace {
                inner,
                platform,
                left,
            }
        }
    }

    impl Backend for TcbRace {
        fn kind(&self) -> BackendKind {
            self.inner.kind()
        }

        fn get_ext_report(&mut self, req: &ReportRequest) -> Result<ExtendedReport, BackendError> {
            if self.left == 0 {
                return self.inner.get_ext_report(req);
            }
            self.left -= 1;
            let setup = |e: snp_sim::platform::SimError| BackendError::SimSetup(e.to_string());
            let window = raise_unlocked(&self.platform, next_tcb(self.platform.reported_tcb()))
                .map_err(setup)?;
            let out = self.inner.get_ext_report(req);
            window.close().map_err(setup)?;
            out
        }
    }
}

#[cfg(feature = "sim")]
mod inject {
    use std::time::Duration;

    use snp_certs::blob::ExclusiveBlob;
    use snp_certs::chain::pem_certificates;
    use snp_certs::product::Product;
    use snp_certs::table::{CertTable, EntryKind, Guid, ENTRY_LEN};
    use snp_sim::faults::{NoCerts, Repeat, Throttle};
    use snp_sim::kvm::Generation;
    use snp_sim::pki::ProductCa;
    use snp_sim::platform::SimPlatform;
    use snp_sim::updater::next_tcb;

    use super::{FaultKind, KvmGeneration, SimArgs};

    const CSP: &str = "CN=cc-sim.example";

    fn repeat(n: Option<u64>) -> Repeat {
        match n {
            Some(n) => Repeat::Times(n.min(u64::from(u32::MAX)) as u32),
            None => Repeat::Always,
        }
    }

    /// A table with `entries` in order, encoded by hand: unlike the builder it lets a test
    /// host list a kind twice, which is the misconfiguration `duplicate-entries` shows.
    fn encode_raw(entries: &[(Guid, Vec<u8>)]) -> Vec<u8> {
        let header = (entries.len() + 1) * ENTRY_LEN;
        let mut head = Vec::with_capacity(header);
        let mut body = Vec::new();
        for (guid, bytes) in entries {
            let offset = (header + body.len()) as u32;
            head.extend_from_slice(guid.as_bytes());
            head.extend_from_slice(&offset.to_le_bytes());
            head.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            body.extend_from_slice(bytes);
        }
        head.resize(header, 0);
        head.extend(body);
        head
    }

    fn entries(blob: &[u8]) -> Result<Vec<(Guid, Vec<u8>)>, String> {
        let t = CertTable::parse(blob).map_err(|e| e.to_string())?;
        Ok(t.entries()
            .iter()
            .map(|e| (e.guid, e.bytes.to_vec()))
            .collect())
    }

    fn install(p: &SimPlatform, blob: &[u8]) -> Result<(), String> {
        let path = p.blob_path().ok_or("the simulated host has no blob file")?;
        let mut ex =
            ExclusiveBlob::acquire(path, Duration::from_secs(5)).map_err(|e| e.to_string())?;
        ex.replace(blob).map_err(|e| e.to_string())
    }

    fn current(p: &SimPlatform) -> Result<Vec<(Guid, Vec<u8>)>, String> {
        entries(&p.expected_blob().map_err(|e| e.to_string())?)
    }

    fn replace_kind(list: &mut [(Guid, Vec<u8>)], kind: EntryKind, guid: Guid, der: Vec<u8>) {
        for e in list.iter_mut() {
            if EntryKind::from_guid(e.0) == kind {
                *e = (guid, der);
                return;
            }
        }
    }

    /// Build the platform for `product` and apply every fault in `args`.
    pub fn build(product: Product, args: &SimArgs) -> Result<SimPlatform, String> {
        let generation = match args.sim_kvm {
            Some(KvmGeneration::Seed) => Generation::Seed,
            _ => Generation::Merged,
        };
        let p = SimPlatform::builder(product)
            .generation(generation)
            .build()
            .map_err(|e| e.to_string())?;
        // Loading a VLEK changes which key signs; do it before blob rewrites that depend on it.
        if args
            .sim_fault
            .iter()
            .any(|f| matches!(f.kind, FaultKind::Vlek | FaultKind::VcekForVlek))
        {
            p.load_vlek(CSP).map_err(|e| e.to_string())?;
        }
        for f in &args.sim_fault {
            apply(&p, product, f.kind, f.n)?;
        }
        Ok(p)
    }

    fn apply(
        p: &SimPlatform,
        product: Product,
        kind: FaultKind,
        n: Option<u64>,
    ) -> Result<(), String> {
        match kind {
            FaultKind::Help | FaultKind::TcbRace | FaultKind::Vlek => {}
            FaultKind::NoCerts => p.update_faults(|f| f.no_certs = Some(NoCerts::EmptyTable)),
            FaultKind::WrongVcek => p.update_faults(|f| f.wrong_vcek = true),
            FaultKind::CorruptTable => p.update_faults(|f| f.corrupt_table = true),
            FaultKind::GhcbReject => p.update_faults(|f| f.ghcb_reject = repeat(n)),
            FaultKind::Busy => p.update_faults(|f| f.busy = repeat(n)),
            FaultKind::GenericVmmError => p.update_faults(|f| f.generic_vmm_error = repeat(n)),
            FaultKind::TamperTag => p.update_faults(|f| f.tamper_tag = repeat(n)),
            FaultKind::ReplayResponse => p.update_faults(|f| f.replay_response = repeat(n)),
            FaultKind::TruncateResponse => p.update_faults(|f| f.truncate_response = repeat(n)),
            FaultKind::BogusCompletion => p.update_faults(|f| f.bogus_completion = repeat(n)),
            FaultKind::InvalidLenStorm => {
                p.update_faults(|f| f.invalid_len_storm = n.unwrap_or(1).min(1 << 20) as u32)
            }
            FaultKind::AbsurdPages => {
                p.update_faults(|f| f.absurd_pages = Some(n.unwrap_or(u64::from(u32::MAX))))
            }
            FaultKind::FwError => {
                let status = n.unwrap_or(0).min(u64::from(u32::MAX)) as u32;
                p.update_faults(|f| f.fw_error = Some((status, Repeat::Always)))
            }
            FaultKind::Throttle => {
                let max = n.unwrap_or(1).clamp(1, u64::from(u32::MAX)) as u32;
                p.update_faults(|f| {
                    f.throttle = Some(Throttle {
                        max_requests: max,
                        window: Duration::from_secs(1),
                    })
                })
            }
            FaultKind::StaleBlob => {
                p.update_faults(|f| f.stale_blob = true);
                p.raise_tcb(next_tcb(p.reported_tcb()))
                    .map_err(|e| e.to_string())?;
            }
            FaultKind::NotAmdCa => {
                // The real AMD ASK/ARK: genuine, but not the roots this (simulated) report's
                // product is pinned to — the shape of a host serving a chain it made up.
                let (vcek_chain, _) = snp_certs::roots::amd_chain_pems(product);
                let certs = pem_certificates(vcek_chain.as_bytes()).map_err(|e| e.to_string())?;
                let (ask, ark) = match certs.as_slice() {
                    [ask, ark, ..] => (ask.clone(), ark.clone()),
                    _ => return Err("embedded AMD chain has fewer than two certificates".into()),
                };
                let mut list = current(p)?;
                replace_kind(&mut list, EntryKind::Ask, Guid::ASK, ask);
                replace_kind(&mut list, EntryKind::Ark, Guid::ARK, ark);
                install(p, &encode_raw(&list))?;
            }
            FaultKind::ForeignChain => {
                let other = if product == Product::Milan {
                    Product::Genoa
                } else {
                    Product::Milan
                };
                let ca = ProductCa::get(other).map_err(|e| e.to_string())?;
                let mut list = current(p)?;
                replace_kind(&mut list, EntryKind::Ask, Guid::ASK, ca.ask_der().to_vec());
                replace_kind(&mut list, EntryKind::Ark, Guid::ARK, ca.ark_der().to_vec());
                install(p, &encode_raw(&list))?;
            }
            FaultKind::VcekForVlek => {
                let ca = ProductCa::get(product).map_err(|e| e.to_string())?;
                let list = vec![
                    (Guid::ARK, ca.ark_der().to_vec()),
                    (Guid::ASK, ca.ask_der().to_vec()),
                    (Guid::VCEK, p.vcek_der()),
                ];
                install(p, &encode_raw(&list))?;
            }
            FaultKind::VlekForVcek => {
                let other = SimPlatform::builder(product)
                    .certs(snp_sim::platform::CertsSource::None)
                    .build()
                    .map_err(|e| e.to_string())?;
                other.load_vlek(CSP).map_err(|e| e.to_string())?;
                let vlek = other.vlek_der().ok_or("no VLEK issued")?;
                let ca = ProductCa::get(product).map_err(|e| e.to_string())?;
                let list = vec![
                    (Guid::ARK, ca.ark_der().to_vec()),
                    (Guid::ASK, ca.asvk_der().to_vec()),
                    (Guid::VLEK, vlek),
                ];
                install(p, &encode_raw(&list))?;
            }
            FaultKind::DuplicateEntries => {
                let mut list = current(p)?;
                let vcek = list
                    .iter()
                    .find(|e| EntryKind::from_guid(e.0) == EntryKind::Vcek)
                    .cloned()
                    .ok_or("no VCEK in the blob to duplicate")?;
                list.push(vcek);
                install(p, &encode_raw(&list))?;
            }
            FaultKind::OversizedBlob => {
                let kib = n.unwrap_or(20).clamp(1, 512) as usize;
                let mut list = current(p)?;
                let used: usize = list.iter().map(|e| e.1.len()).sum();
                let pad = (kib * 1024).saturating_sub(used + (list.len() + 2) * ENTRY_LEN);
                // An opaque entry under a GUID no reader knows: hosts may add their own.
                let guid: Guid = "5f1bb3e5-1c4a-4b8e-9d2c-0e5a7c3f2b11"
                    .parse()
                    .map_err(|e: snp_certs::table::GuidParseError| e.to_string())?;
                list.push((guid, vec![0x5A; pad.max(1)]));
                install(p, &encode_raw(&list))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_names_parse_and_print() {
        for (kind, name, arg, _) in CATALOG {
            let spec = if arg.starts_with('=') {
                format!("{name}=3")
            } else {
                name.to_string()
            };
            let f = parse_fault(&spec).unwrap();
            assert_eq!(f.kind, *kind);
            assert_eq!(f.to_string(), spec);
        }
        assert_eq!(parse_fault("help").unwrap().kind, FaultKind::Help);
        assert!(parse_fault("nope")
            .unwrap_err()
            .contains("--sim-fault help"));
        assert!(parse_fault("busy=x").is_err());
        assert!(parse_fault("wrong-vcek=2")
            .unwrap_err()
            .contains("no value"));
        assert!(parse_fault("fw-error")
            .unwrap_err()
            .contains("needs a value"));
        assert!(help_text().contains("tcb-race[=N]"));
    }

    proptest::proptest! {
        #[test]
        fn fault_parser_never_panics(s in ".{0,40}") {
            let _ = parse_fault(&s);
        }
    }
}
