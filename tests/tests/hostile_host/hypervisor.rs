//! The hostile hypervisor: a `Vmgexit` that sits where the host sits and can answer without
//! forwarding, rewrite what it forwards, change shared pages under the guest, or lose the exit.

use super::*;

/// What the host does with one guest-request exit, decided before it is forwarded.
pub(crate) enum Before {
    /// Forward it to KVM/firmware as a well-behaved host would.
    Forward,
    /// Answer without forwarding: SW_EXITINFO2 = `exit_info_2`, RBX = `rbx` (if `Some`).
    Answer { exit_info_2: u64, rbx: Option<u64> },
    /// The exit is lost (the platform reports it could not be completed).
    Lose(PlatformError),
}

/// Everything one exit hands the host: the platform (shared memory), the GHCB, and which
/// guest-request exit of the test this is (0-based).
pub(crate) struct Exit<'a> {
    pub(crate) platform: &'a SimPlatform,
    pub(crate) ghcb: &'a mut Ghcb,
    pub(crate) index: usize,
    /// SW_EXITINFO1/2 and RAX as the guest set them (the host overwrites the first two with
    /// its answer).
    pub(crate) req: Gpa,
    pub(crate) resp: Gpa,
    pub(crate) certs: Gpa,
}

impl Exit<'_> {
    pub(crate) fn is_extended(&self) -> bool {
        self.ghcb.sw_exit_code() == SNP_EXTENDED_GUEST_REQUEST
    }
    pub(crate) fn req_gpa(&self) -> Gpa {
        self.req
    }
    pub(crate) fn resp_gpa(&self) -> Gpa {
        self.resp
    }
    pub(crate) fn cert_gpa(&self) -> Gpa {
        self.certs
    }
    pub(crate) fn read(&self, gpa: Gpa, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.platform
            .read_shared(gpa, &mut v)
            .expect("host reads shared memory");
        v
    }
    pub(crate) fn write(&self, gpa: Gpa, data: &[u8]) {
        self.platform
            .write_shared(gpa, data)
            .expect("host writes shared memory");
    }
}

pub(crate) type BeforeHook = Box<dyn FnMut(&mut Exit<'_>) -> Before + Send>;
pub(crate) type AfterHook = Box<dyn FnMut(&mut Exit<'_>) + Send>;
/// Called on every guest read of shared memory *after* the data was copied out, with the GPA
/// and length: the host may then change the page (a second read would see the change).
pub(crate) type ReadHook = Box<dyn FnMut(&SimPlatform, Gpa, usize) + Send>;

#[derive(Default)]
pub(crate) struct Script {
    pub(crate) before: Option<BeforeHook>,
    pub(crate) after: Option<AfterHook>,
    pub(crate) on_read: Option<ReadHook>,
}

/// What the host saw.
#[derive(Default)]
pub(crate) struct Log {
    /// Guest-request exits seen (forwarded or not).
    pub(crate) exits: usize,
    /// Every message by (VMPCK, seqno): the request page bytes.
    pub(crate) wire: HashMap<(u8, u64), Vec<u8>>,
    /// (VMPCK, seqno) pairs that carried two different messages.
    pub(crate) reuse: Vec<(u8, u64)>,
    /// Every (VMPCK, seqno) in the order sent.
    pub(crate) sent: Vec<(u8, u64)>,
    /// Reads of each GPA the guest made.
    pub(crate) reads: HashMap<Gpa, usize>,
}

pub(crate) struct Hostile {
    pub(crate) inner: GhcbFace,
    pub(crate) platform: SimPlatform,
    pub(crate) script: Arc<Mutex<Script>>,
    pub(crate) log: Arc<Mutex<Log>>,
}

impl Vmgexit for Hostile {
    fn alloc_shared(&mut self, npages: usize) -> Result<Gpa, PlatformError> {
        self.inner.alloc_shared(npages)
    }
    fn free_shared(&mut self, gpa: Gpa, npages: usize) {
        self.inner.free_shared(gpa, npages)
    }
    fn write_shared(&mut self, gpa: Gpa, data: &[u8]) -> Result<(), PlatformError> {
        self.inner.write_shared(gpa, data)
    }
    fn read_shared(&mut self, gpa: Gpa, out: &mut [u8]) -> Result<(), PlatformError> {
        self.inner.read_shared(gpa, out)?;
        *self.log.lock().unwrap().reads.entry(gpa).or_default() += 1;
        if let Some(hook) = self.script.lock().unwrap().on_read.as_mut() {
            hook(&self.platform, gpa, out.len());
        }
        Ok(())
    }
    fn vmgexit(&mut self, ghcb: &mut Ghcb) -> Result<(), PlatformError> {
        let mut page = vec![0u8; PAGE_SIZE];
        self.inner.read_shared(ghcb.sw_exit_info_1(), &mut page)?;
        let seqno = u64::from_le_bytes(page[0x20..0x28].try_into().unwrap());
        let vmpck = page[0x3C];
        let index = {
            let mut log = self.log.lock().unwrap();
            match log.wire.get(&(vmpck, seqno)) {
                Some(prev) if *prev != page => log.reuse.push((vmpck, seqno)),
                Some(_) => {}
                None => {
                    log.wire.insert((vmpck, seqno), page);
                }
            }
            log.sent.push((vmpck, seqno));
            log.exits += 1;
            log.exits - 1
        };
        let mut script = self.script.lock().unwrap();
        let (req, resp, certs) = (ghcb.sw_exit_info_1(), ghcb.sw_exit_info_2(), ghcb.rax());
        let mut exit = Exit {
            platform: &self.platform,
            ghcb,
            index,
            req,
            resp,
            certs,
        };
        let before = match script.before.as_mut() {
            Some(h) => h(&mut exit),
            None => Before::Forward,
        };
        match before {
            Before::Forward => {}
            Before::Answer { exit_info_2, rbx } => {
                exit.ghcb.set_sw_exit_info_1(0);
                exit.ghcb.set_sw_exit_info_2(exit_info_2);
                if let Some(r) = rbx {
                    exit.ghcb.set_rbx(r);
                } else {
                    exit.ghcb.mark_invalid(Field::Rbx);
                }
                return Ok(());
            }
            Before::Lose(e) => return Err(e),
        }
        self.inner.vmgexit(exit.ghcb)?;
        if let Some(h) = script.after.as_mut() {
            h(&mut exit);
        }
        Ok(())
    }
    fn msr_exchange(&mut self, value: u64) -> Result<u64, PlatformError> {
        self.inner.msr_exchange(value)
    }
}
