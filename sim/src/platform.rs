//! `SimPlatform`: firmware + KVM (either generation) + VMM + guest memory + faults, wired together.
//!
//! One platform hosts one simulated VM (its KVM generation is chosen when it is built). The
//! platform is `Clone + Send + Sync` (an `Arc` of mutex-protected parts) so a server can share
//! it across threads; every guest-visible exit goes through [`SimPlatform::vmgexit`], which is
//! what the faces ([`crate::face`]) call.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use snp_certs::blob::{BlobError, ExclusiveBlob};
use snp_certs::product::Product;
use snp_certs::table::{CertTableBuilder, EntryKind};
use snp_certs::tcb::Tcb;
use snp_ghcb::driver::PlatformError;
use snp_ghcb::exit::{GhcbErr, BUSY, INVALID_LEN, SNP_EXTENDED_GUEST_REQUEST, SNP_GUEST_REQUEST};
use snp_ghcb::message::MsgType;
use snp_ghcb::page::{Field, Ghcb};

use crate::clock::{ClockRef, SystemClock};
use crate::counters::{Counters, CountersSnapshot};
use crate::faults::{Faults, ThrottleState};
use crate::firmware::{
    Firmware, FirmwareConfig, FwFaults, FwOutcome, GuestConfig, GuestHandle, Page,
};
use crate::kvm::{merged, seed, CertsDecision, Generation};
use crate::memory::{Gpa, GuestMemory, MemoryError, DEFAULT_MAX_PAGES, PAGE_SIZE};
use crate::pki::{PkiError, SimRoots};
use crate::secrets::{self, SimSecretsStore};
use crate::vmm::{ServeFaults, Vmm, VmmConfig, DEFAULT_CERTS_TIMEOUT};
use crate::wirelog::WireLog;

/// Errors building or operating the platform (host side; guests see GHCB answers instead).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Key hierarchy problem.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The certificate blob file could not be written or locked.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// Creating the temporary blob directory failed.
    #[error("cannot create a temporary directory for the certificate blob: {0}")]
    Io(#[from] std::io::Error),
    /// Building the certificate table failed.
    #[error("cannot build the certificate table: {0}")]
    Table(String),
}

/// Where the VMM's certificate blob lives.
#[derive(Debug, Clone)]
pub enum CertsSource {
    /// A file in a private temporary directory, removed with the platform (default).
    TempFile,
    /// This path (created/overwritten at build time).
    File(PathBuf),
    /// No certificate file configured (QEMU without `certs-filename`).
    None,
}

/// Something the host did, in order (for tests of the lock protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostEvent {
    /// The VMM answered a REQ_CERTS exit (holding the shared lock iff it proceeded with a file).
    VmmAnswered {
        /// Whether the VMM holds the shared lock now.
        holds_lock: bool,
    },
    /// A message reached the firmware.
    FirmwareRequest {
        /// Whether the VMM held the shared blob lock at that moment.
        under_lock: bool,
    },
    /// The VMM got the completion (NOTIFY_DONE / immediate exit) and released the lock.
    CompletionDelivered,
}

const MAX_EVENTS: usize = 1024;

/// Builder for [`SimPlatform`].
#[derive(Debug, Clone)]
pub struct SimPlatformBuilder {
    fw: FirmwareConfig,
    guest: GuestConfig,
    generation: Generation,
    certs: CertsSource,
    certs_timeout: Duration,
    clock: Option<ClockRef>,
    faults: Faults,
    max_guest_pages: usize,
}

impl SimPlatformBuilder {
    /// Defaults: `product` with [`FirmwareConfig::new`], the merged KVM interface, a temporary
    /// blob file, QEMU's 100 ms lock timeout, the system clock, no faults.
    pub fn new(product: Product) -> Self {
        Self {
            fw: FirmwareConfig::new(product),
            guest: GuestConfig::default(),
            generation: Generation::Merged,
            certs: CertsSource::TempFile,
            certs_timeout: DEFAULT_CERTS_TIMEOUT,
            clock: None,
            faults: Faults::default(),
            max_guest_pages: DEFAULT_MAX_PAGES,
        }
    }
    /// Firmware configuration (TCB, chip id, report version, VLEK…).
    pub fn firmware(mut self, cfg: FirmwareConfig) -> Self {
        self.fw = cfg;
        self
    }
    /// Change the firmware configuration in place.
    pub fn with_firmware(mut self, f: impl FnOnce(&mut FirmwareConfig)) -> Self {
        f(&mut self.fw);
        self
    }
    /// Guest launch configuration.
    pub fn guest(mut self, cfg: GuestConfig) -> Self {
        self.guest = cfg;
        self
    }
    /// Change the guest configuration in place.
    pub fn with_guest(mut self, f: impl FnOnce(&mut GuestConfig)) -> Self {
        f(&mut self.guest);
        self
    }
    /// KVM host-interface generation of the VM.
    pub fn generation(mut self, g: Generation) -> Self {
        self.generation = g;
        self
    }
    /// Certificate blob location.
    pub fn certs(mut self, c: CertsSource) -> Self {
        self.certs = c;
        self
    }
    /// VMM lock timeout (`certs-timeout`).
    pub fn certs_timeout(mut self, t: Duration) -> Self {
        self.certs_timeout = t;
        self
    }
    /// Clock for throttling and the Linux-driver model.
    pub fn clock(mut self, c: ClockRef) -> Self {
        self.clock = Some(c);
        self
    }
    /// Initial faults.
    pub fn faults(mut self, f: Faults) -> Self {
        self.faults = f;
        self
    }
    /// Bound on guest pages.
    pub fn max_guest_pages(mut self, n: usize) -> Self {
        self.max_guest_pages = n;
        self
    }

    /// Boot the platform and launch the guest.
    pub fn build(self) -> Result<SimPlatform, SimError> {
        let mut fw = Firmware::new(self.fw)?;
        let secrets = secrets::launch_page(&self.guest.vmpcks);
        let guest = fw.launch(self.guest);
        let (tmp, blob_path) = match self.certs {
            CertsSource::TempFile => {
                let dir = tempfile::Builder::new().prefix("snp-sim-").tempdir()?;
                let p = dir.path().join("certs.bin");
                (Some(dir), Some(p))
            }
            CertsSource::File(p) => (None, Some(p)),
            CertsSource::None => (None, None),
        };
        if let Some(p) = &blob_path {
            let mut ex = ExclusiveBlob::acquire(p, Duration::from_secs(5))?;
            ex.replace(&blob_for(&fw)?)?;
        }
        let vmm = Vmm::new(VmmConfig {
            certs_path: blob_path.clone(),
            certs_timeout: self.certs_timeout,
        });
        Ok(SimPlatform {
            inner: Arc::new(Inner {
                fw: Mutex::new(fw),
                guest,
                vm: Mutex::new(VmState {
                    mem: GuestMemory::new(self.max_guest_pages),
                    vmm,
                    last_response: None,
                    ghcb_gpa: None,
                }),
                faults: Mutex::new(FaultState {
                    faults: self.faults,
                    throttle: ThrottleState::default(),
                }),
                counters: Counters::default(),
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock::new())),
                blob_path,
                generation: self.generation,
                events: Mutex::new(VecDeque::new()),
                secrets: Mutex::new(secrets),
                wire: Mutex::new(WireLog::default()),
                _tmp: tmp,
            }),
        })
    }
}

/// The certificate table the host serves for the firmware's current keys: ARK, ASK (or ASVK),
/// VCEK (or VLEK), in the order real hosts use.
fn blob_for(fw: &Firmware) -> Result<Vec<u8>, SimError> {
    let ca = fw.ca();
    let mut b = CertTableBuilder::new();
    b.push_kind(EntryKind::Ark, ca.ark_der().to_vec());
    match fw.vlek() {
        Some(vlek) => {
            b.push_kind(EntryKind::Ask, ca.asvk_der().to_vec());
            b.push_kind(EntryKind::Vlek, vlek.cert_der.clone());
        }
        None => {
            b.push_kind(EntryKind::Ask, ca.ask_der().to_vec());
            b.push_kind(EntryKind::Vcek, fw.vcek().cert_der.clone());
        }
    }
    b.build().map_err(|e| SimError::Table(e.to_string()))
}

#[derive(Debug)]
struct VmState {
    mem: GuestMemory,
    vmm: Vmm,
    last_response: Option<Box<Page>>,
    ghcb_gpa: Option<Gpa>,
}

#[derive(Debug)]
struct FaultState {
    faults: Faults,
    throttle: ThrottleState,
}

#[derive(Debug)]
struct Inner {
    fw: Mutex<Firmware>,
    guest: GuestHandle,
    vm: Mutex<VmState>,
    faults: Mutex<FaultState>,
    counters: Counters,
    clock: ClockRef,
    blob_path: Option<PathBuf>,
    generation: Generation,
    events: Mutex<VecDeque<HostEvent>>,
    /// The guest's secrets page (VMPCKs and the OS area's message counts).
    secrets: Mutex<Box<Page>>,
    /// Every guest message the host saw, to detect (VMPCK, sequence number) reuse.
    wire: Mutex<WireLog>,
    _tmp: Option<tempfile::TempDir>,
}

/// The simulated platform (cheap to clone; clones share everything).
#[derive(Debug, Clone)]
pub struct SimPlatform {
    inner: Arc<Inner>,
}

/// Lock a mutex, recovering from poisoning (a panicking test thread must not wedge the others;
/// every critical section leaves the state consistent).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An operator update in progress: holds the blob lock exclusively until dropped, so no VMM
/// serves certificates (they answer BUSY after their timeout) while the TCB changes.
#[derive(Debug)]
pub struct TcbUpdate {
    platform: SimPlatform,
    lock: Option<ExclusiveBlob>,
}

impl TcbUpdate {
    /// SNP_COMMIT / SNP_SET_CONFIG to `tcb` (new VCEK), then rewrite the blob — unless the
    /// `stale_blob` fault is set, in which case the old blob stays.
    pub fn raise_tcb(&mut self, tcb: Tcb) -> Result<(), SimError> {
        let inner = &self.platform.inner;
        // Lock order: faults before fw (the VM path takes them in that order too).
        let stale = lock(&inner.faults).faults.stale_blob;
        let mut fw = lock(&inner.fw);
        fw.update_tcb(tcb)?;
        Counters::bump(&inner.counters.tcb_updates);
        if let Some(ex) = self.lock.as_mut() {
            if stale {
                tracing::warn!(
                    "stale_blob fault: TCB raised but the certificate blob is not rewritten"
                );
            } else {
                ex.replace(&blob_for(&fw)?)?;
            }
        }
        Ok(())
    }
}

impl SimPlatform {
    /// Shorthand for [`SimPlatformBuilder::new`].
    pub fn builder(product: Product) -> SimPlatformBuilder {
        SimPlatformBuilder::new(product)
    }

    /// The KVM generation of the VM.
    pub fn generation(&self) -> Generation {
        self.inner.generation
    }
    /// The product line.
    pub fn product(&self) -> Product {
        lock(&self.inner.fw).config().product
    }
    /// The counters.
    pub fn counters(&self) -> CountersSnapshot {
        self.inner.counters.snapshot()
    }
    /// The live counters (for components that bump them, e.g. the Linux-driver model).
    pub fn live_counters(&self) -> &Counters {
        &self.inner.counters
    }
    /// The clock.
    pub fn clock(&self) -> ClockRef {
        self.inner.clock.clone()
    }
    /// Current faults.
    pub fn faults(&self) -> Faults {
        lock(&self.inner.faults).faults.clone()
    }
    /// Replace the faults.
    pub fn set_faults(&self, f: Faults) {
        lock(&self.inner.faults).faults = f;
    }
    /// Edit the faults in place.
    pub fn update_faults(&self, f: impl FnOnce(&mut Faults)) {
        f(&mut lock(&self.inner.faults).faults);
    }
    /// Host events so far (oldest first, the last 1024).
    pub fn events(&self) -> Vec<HostEvent> {
        lock(&self.inner.events).iter().copied().collect()
    }
    /// Forget recorded events.
    pub fn clear_events(&self) {
        lock(&self.inner.events).clear();
    }
    /// The blob file path, if certificates are configured.
    pub fn blob_path(&self) -> Option<&Path> {
        self.inner.blob_path.as_deref()
    }
    /// The certificate table the host *should* serve now (current keys).
    pub fn expected_blob(&self) -> Result<Vec<u8>, SimError> {
        blob_for(&lock(&self.inner.fw))
    }
    /// The current VCEK certificate (DER).
    pub fn vcek_der(&self) -> Vec<u8> {
        lock(&self.inner.fw).vcek().cert_der.clone()
    }
    /// The loaded VLEK certificate (DER), if any.
    pub fn vlek_der(&self) -> Option<Vec<u8>> {
        lock(&self.inner.fw).vlek().map(|k| k.cert_der.clone())
    }
    /// The firmware's REPORTED_TCB.
    pub fn reported_tcb(&self) -> Tcb {
        lock(&self.inner.fw).reported_tcb()
    }
    /// CHIP_ID.
    pub fn chip_id(&self) -> [u8; 64] {
        *lock(&self.inner.fw).chip_id()
    }
    /// The simulator's root certificates for this product (give them to a verifier explicitly).
    pub fn roots(&self) -> Result<SimRoots, SimError> {
        Ok(SimRoots::for_product(self.product())?)
    }
    /// The guest's VMPCK `id` as its secrets page holds it now (all zero once a guest driver
    /// wiped it); `None` for an id above 3.
    pub fn guest_vmpck(&self, id: u8) -> Option<[u8; 32]> {
        let id = snp_ghcb::message::VmpckId::new(id).ok()?;
        Some(self.with_secrets(|s| s.vmpck(id)))
    }
    /// The message count of VMPCK `id` in the secrets page's OS area (what the next driver
    /// continues from); `None` for an id above 3.
    pub fn secrets_message_count(&self, id: u8) -> Option<u64> {
        let id = snp_ghcb::message::VmpckId::new(id).ok()?;
        Some(u64::from(self.with_secrets(|s| s.msg_seqno(id))))
    }
    /// A copy of the guest's secrets page.
    pub fn secrets_page(&self) -> Page {
        **lock(&self.inner.secrets)
    }
    /// The guest's secrets page as the home of its VMPCKs, for a guest driver.
    pub fn vmpck_store(&self) -> SimSecretsStore {
        SimSecretsStore::new(self.clone())
    }
    /// Run `f` on the guest's secrets page.
    pub(crate) fn with_secrets<R>(
        &self,
        f: impl FnOnce(&mut snp_ghcb::secrets::SecretsPage<'_>) -> R,
    ) -> R {
        let mut page = lock(&self.inner.secrets);
        f(&mut snp_ghcb::secrets::SecretsPage(&mut page))
    }
    /// Every (VMPCK, sequence number) under which the host saw two *different* messages (an
    /// AES-GCM IV reuse), in the order found. Identical re-sends (BUSY) are not reuse.
    pub fn seqno_reuses(&self) -> Vec<(u8, u64)> {
        lock(&self.inner.wire).reuses().to_vec()
    }
    /// The firmware's message count for VMPCK `id` (last response sequence number).
    pub fn firmware_message_count(&self, id: u8) -> Option<u64> {
        lock(&self.inner.fw).message_count(self.inner.guest, id)
    }
    /// Whether the VMM holds the shared blob lock right now.
    pub fn vmm_holds_lock(&self) -> bool {
        lock(&self.inner.vm).vmm.holds_lock()
    }

    /// Start an operator update: take the blob lock exclusively (waiting at most `timeout`).
    pub fn begin_update(&self, timeout: Duration) -> Result<TcbUpdate, SimError> {
        let lock = match &self.inner.blob_path {
            Some(p) => Some(ExclusiveBlob::acquire(p, timeout)?),
            None => None,
        };
        Ok(TcbUpdate {
            platform: self.clone(),
            lock,
        })
    }

    /// Raise the TCB in one step (lock, update, rewrite, unlock).
    pub fn raise_tcb(&self, tcb: Tcb) -> Result<(), SimError> {
        self.begin_update(Duration::from_secs(5))?.raise_tcb(tcb)
    }

    /// SNP_VLEK_LOAD for `csp_id`, rewriting the blob under the exclusive lock.
    pub fn load_vlek(&self, csp_id: &str) -> Result<(), SimError> {
        let mut up = self.begin_update(Duration::from_secs(5))?;
        let mut fw = lock(&self.inner.fw);
        fw.load_vlek(csp_id)?;
        if let Some(ex) = up.lock.as_mut() {
            ex.replace(&blob_for(&fw)?)?;
        }
        Ok(())
    }

    // ----- guest memory (host-shared pages) -----

    /// Allocate shared guest pages.
    pub fn alloc_shared(&self, npages: usize) -> Result<Gpa, PlatformError> {
        lock(&self.inner.vm)
            .mem
            .alloc(npages)
            .map_err(|_| PlatformError::OutOfSharedMemory { npages })
    }
    /// Free shared guest pages.
    pub fn free_shared(&self, gpa: Gpa, npages: usize) {
        lock(&self.inner.vm).mem.free(gpa, npages);
    }
    /// Write guest memory.
    pub fn write_shared(&self, gpa: Gpa, data: &[u8]) -> Result<(), PlatformError> {
        lock(&self.inner.vm)
            .mem
            .write(gpa, data)
            .map_err(|e| mem_err(e, gpa, data.len()))
    }
    /// Read guest memory.
    pub fn read_shared(&self, gpa: Gpa, out: &mut [u8]) -> Result<(), PlatformError> {
        let len = out.len();
        lock(&self.inner.vm)
            .mem
            .read(gpa, out)
            .map_err(|e| mem_err(e, gpa, len))
    }

    /// Record the GHCB GPA registered through the MSR protocol.
    pub fn register_ghcb(&self, gpa: Gpa) -> bool {
        let mut vm = lock(&self.inner.vm);
        if !gpa.is_multiple_of(PAGE_SIZE as u64) || !vm.mem.is_mapped(gpa, PAGE_SIZE) {
            return false;
        }
        vm.ghcb_gpa = Some(gpa);
        true
    }
    /// The registered GHCB GPA.
    pub fn registered_ghcb(&self) -> Option<Gpa> {
        lock(&self.inner.vm).ghcb_gpa
    }

    fn event(&self, e: HostEvent) {
        let mut ev = lock(&self.inner.events);
        if ev.len() >= MAX_EVENTS {
            ev.pop_front();
        }
        ev.push_back(e);
    }

    /// Handle one VMGEXIT for a guest request (exit codes 0x8000_0011 / 0x8000_0012). The GHCB
    /// is updated as KVM would: SW_EXITINFO1/2 and, for INVALID_LEN, RBX. Returns `Err` only
    /// where real KVM would fail `KVM_RUN` instead of resuming the guest.
    pub fn vmgexit(&self, ghcb: &mut Ghcb) -> Result<(), PlatformError> {
        let inner = &self.inner;
        let c = &inner.counters;
        let code = ghcb.sw_exit_code();
        if code != SNP_GUEST_REQUEST && code != SNP_EXTENDED_GUEST_REQUEST {
            return malformed(ghcb, GhcbErr::InvalidUsage, c);
        }
        let ext = code == SNP_EXTENDED_GUEST_REQUEST;
        Counters::bump(if ext {
            &c.ext_requests
        } else {
            &c.plain_requests
        });
        if !ghcb.is_valid(Field::SwExitInfo1) || !ghcb.is_valid(Field::SwExitInfo2) {
            return malformed(ghcb, GhcbErr::MissingInput, c);
        }
        let (req_gpa, resp_gpa) = (ghcb.sw_exit_info_1(), ghcb.sw_exit_info_2());
        let mut vm = lock(&inner.vm);
        let mut fs = lock(&inner.faults);
        // Lock order everywhere: vm -> faults -> fw.
        if fs.faults.ghcb_reject.fire() {
            return malformed(ghcb, GhcbErr::InvalidInput, c);
        }
        if let Some(t) = fs.faults.throttle {
            let now = inner.clock.now();
            if !fs.throttle.admit(now, &t) {
                Counters::bump(&c.throttled);
                return answer(ghcb, BUSY, c);
            }
        }
        drop(fs);
        let page_ok = |g: u64| g.is_multiple_of(PAGE_SIZE as u64);
        if !page_ok(req_gpa) || !page_ok(resp_gpa) || req_gpa == resp_gpa {
            return malformed(ghcb, GhcbErr::InvalidInput, c);
        }
        let req = match vm.mem.read_page(req_gpa) {
            Ok(p) => p,
            Err(_) => return malformed(ghcb, GhcbErr::InvalidInput, c),
        };
        if !vm.mem.is_mapped(resp_gpa, PAGE_SIZE) {
            return malformed(ghcb, GhcbErr::InvalidInput, c);
        }
        lock(&inner.wire).record(&req);

        // What merged reads the plaintext MSG_TYPE to decide whether certificates are involved;
        // the seed exits to the VMM for every extended request.
        let wants_certs = ext
            && inner
                .generation
                .exits_for_certs(MsgType::from_u8(req[0x34]));
        let mut completion: Option<Generation> = None;
        if wants_certs {
            if !ghcb.is_valid(Field::Rax) || !ghcb.is_valid(Field::Rbx) {
                return malformed(ghcb, GhcbErr::MissingInput, c);
            }
            let (data_gpa, npages) = (ghcb.rax(), ghcb.rbx());
            if !data_gpa.is_multiple_of(PAGE_SIZE as u64) {
                // Both generations reject a misaligned data GPA before exiting to the VMM.
                return malformed(ghcb, GhcbErr::InvalidInput, c);
            }
            let mut fs = lock(&inner.faults);
            let serve = ServeFaults {
                corrupt_table: fs.faults.corrupt_table,
                wrong_vcek_der: if fs.faults.wrong_vcek {
                    lock(&inner.fw).foreign_vcek().ok().map(|k| k.cert_der)
                } else {
                    None
                },
                no_certs: fs.faults.no_certs,
            };
            let forced = Vmm::forced_answer(&mut fs.faults, npages);
            let bogus = fs.faults.bogus_completion.fire();
            // Never hold the fault state while the VMM may wait for the blob lock: an updater
            // thread needs it to finish and release that lock.
            drop(fs);
            let VmState { mem, vmm, .. } = &mut *vm;
            let decision = match inner.generation {
                Generation::Seed => {
                    let mut exit = seed::ReqCertsExit::pending(data_gpa, npages);
                    let a = vmm.req_certs(data_gpa, npages, mem, forced, &serve, c);
                    exit.answer(a);
                    if bogus {
                        // The buggy VMM still drops its lock when its exit fails.
                        exit.ret = 22;
                        vmm.request_sent(c);
                    }
                    if exit.wants_notify_done() {
                        completion = Some(Generation::Seed);
                    }
                    exit.complete()
                }
                Generation::Merged => {
                    let mut exit = merged::SnpReqCertsExit::new(data_gpa, npages);
                    let a = vmm.req_certs(data_gpa, npages, mem, forced, &serve, c);
                    if exit.answer(a) {
                        completion = Some(Generation::Merged);
                    }
                    if bogus {
                        exit.ret = 22;
                        vmm.request_sent(c);
                    }
                    exit.complete().map_err(|e| {
                        tracing::error!(error = %e, "simulated KVM refused the VMM completion");
                        PlatformError::HostRunFailed(
                            "KVM_RUN failed with EINVAL: the VMM completed REQ_CERTS with an invalid ret",
                        )
                    })?
                }
            };
            self.event(HostEvent::VmmAnswered {
                holds_lock: vm.vmm.holds_lock(),
            });
            match decision {
                CertsDecision::Proceed => {}
                CertsDecision::InvalidLen(n) => {
                    ghcb.set_rbx(n);
                    return answer(ghcb, INVALID_LEN, c);
                }
                CertsDecision::Busy => return answer(ghcb, BUSY, c),
                CertsDecision::Fail(exitinfo2) => return answer(ghcb, exitinfo2, c),
            }
        } else if ext && ghcb.is_valid(Field::Rax) && !ghcb.rax().is_multiple_of(PAGE_SIZE as u64) {
            return malformed(ghcb, GhcbErr::InvalidInput, c);
        }

        // The firmware request.
        let mut fs = lock(&inner.faults);
        let fw_faults = FwFaults {
            error: match fs.faults.fw_error.as_mut() {
                Some((status, rep)) => rep.fire().then_some(*status),
                None => None,
            },
            truncate: fs.faults.truncate_response.fire(),
        };
        let tamper = fs.faults.tamper_tag.fire();
        let replay = fs.faults.replay_response.fire();
        let lie = Lie::decide(&mut fs.faults);
        drop(fs);
        self.event(HostEvent::FirmwareRequest {
            under_lock: vm.vmm.holds_lock(),
        });
        Counters::bump(&c.fw_requests);
        let (outcome, ev) = lock(&inner.fw).guest_request(inner.guest, &req, fw_faults);
        if ev.seqno_violation {
            Counters::bump(&c.seqno_violations);
        }
        if ev.auth_failure {
            Counters::bump(&c.auth_failures);
        }
        if ev.report_signed {
            Counters::bump(&c.reports_signed);
        }
        // The request went out: deliver the completion that lets the VMM drop its lock.
        match completion {
            Some(Generation::Seed) => {
                vm.vmm.request_sent(c);
                Counters::bump(&c.notify_done_completions);
                self.event(HostEvent::CompletionDelivered);
            }
            Some(Generation::Merged) => {
                vm.vmm.request_sent(c);
                Counters::bump(&c.immediate_exit_completions);
                self.event(HostEvent::CompletionDelivered);
            }
            None => {}
        }
        match outcome {
            FwOutcome::Response(mut page) => {
                Counters::bump(&c.fw_responses);
                let fresh = page.clone();
                if replay {
                    if let Some(old) = vm.last_response.as_ref() {
                        page = old.clone();
                    }
                }
                if tamper {
                    page[0] ^= 0x01;
                }
                vm.last_response = Some(fresh);
                if vm.mem.write(resp_gpa, &page[..]).is_err() {
                    return malformed(ghcb, GhcbErr::InvalidInput, c);
                }
                ghcb.set_sw_exit_info_1(0);
                ghcb.set_sw_exit_info_2(0);
            }
            FwOutcome::Error(status) => {
                Counters::bump(&c.fw_errors);
                ghcb.set_sw_exit_info_1(0);
                ghcb.set_sw_exit_info_2(inner.generation.firmware_failure(status.to_u32()));
            }
        }
        match lie {
            None => Ok(()),
            Some(lie) => {
                tracing::warn!(
                    ?lie,
                    "lying host: the firmware saw the request, the guest is told otherwise"
                );
                match lie {
                    Lie::Busy => answer(ghcb, BUSY, c),
                    Lie::InvalidLen => {
                        ghcb.set_rbx(ghcb.rbx().saturating_add(1));
                        answer(ghcb, INVALID_LEN, c)
                    }
                    Lie::Error(v) => answer(ghcb, v, c),
                }
            }
        }
    }
}

/// What a lying host tells the guest after it forwarded the request to the firmware.
#[derive(Debug, Clone, Copy)]
enum Lie {
    Busy,
    InvalidLen,
    Error(u64),
}

impl Lie {
    /// The lie the faults ask for this time (consumes their counts).
    fn decide(f: &mut Faults) -> Option<Lie> {
        if f.forwarded_then_busy.fire() {
            return Some(Lie::Busy);
        }
        if f.forwarded_then_invalid_len.fire() {
            return Some(Lie::InvalidLen);
        }
        match f.forwarded_then_error.as_mut() {
            Some((v, rep)) => rep.fire().then_some(Lie::Error(*v)),
            None => None,
        }
    }
}

fn mem_err(e: MemoryError, gpa: Gpa, len: usize) -> PlatformError {
    match e {
        MemoryError::OutOfMemory { requested, .. } => {
            PlatformError::OutOfSharedMemory { npages: requested }
        }
        _ => PlatformError::InvalidGpa { gpa, len },
    }
}

/// SW_EXITINFO1 = 0, SW_EXITINFO2 = `value` (a VMM error answer), counted.
fn answer(ghcb: &mut Ghcb, value: u64, c: &Counters) -> Result<(), PlatformError> {
    match value {
        INVALID_LEN => Counters::bump(&c.invalid_len_answers),
        BUSY => Counters::bump(&c.busy_answers),
        _ => Counters::bump(&c.generic_answers),
    }
    ghcb.set_sw_exit_info_1(0);
    ghcb.set_sw_exit_info_2(value);
    Ok(())
}

/// SW_EXITINFO1 = 2 (malformed input), SW_EXITINFO2 = the GHCB error code.
fn malformed(ghcb: &mut Ghcb, err: GhcbErr, c: &Counters) -> Result<(), PlatformError> {
    Counters::bump(&c.ghcb_rejections);
    ghcb.set_sw_exit_info_1(2);
    ghcb.set_sw_exit_info_2(err.to_u64());
    Ok(())
}
