//! Face (c): a configfs-tsm tree (`/sys/kernel/config/tsm` as the kernel exposes it with the
//! `sev_guest` provider) served over FUSE at a caller-given directory, so the agent's configfs
//! backend runs against real filesystem calls.
//!
//! Layout: `<mount>/report/` in which `mkdir <name>` creates a report entry and `rmdir` removes
//! it. Each entry holds `inblob` (write-only, at most 64 bytes, applied when the file is closed —
//! like configfs binary attributes, whose write errors are dropped), `privlevel` (write-only
//! decimal, `privlevel_floor..=3`), `privlevel_floor` (the device's VMPCK id), `outblob` (the raw
//! attestation report), `auxblob` (the certificate table, from a 16 KiB buffer), `provider`
//! (`sev_guest`) and `generation` (counts successful writes). Reading a blob regenerates all
//! blobs when the write generation moved or no outblob exists (L-tsm `tsm_report_read`; a failed
//! generation is not cached, the next read runs it again) through the simulated
//! `/dev/sev-guest` driver with a 16 KiB certificate buffer; a response status 0x16/0x27 reads as
//! `EINVAL`, another non-zero status as `ENXIO`, a driver errno as that errno, and a GHCB-level
//! rejection (the driver's positive return) as an **empty** `outblob`, as the kernel does.
//!
//! Mounting needs `/dev/fuse` and `fusermount3` (`apt-get install fuse3`); [`fuse_available`]
//! says why it cannot mount, so tests can skip visibly.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fuser::{
    BackgroundSession, FileAttr, FileType, Filesystem, MountOption, ReplyAttr, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, Request, TimeOrNow,
};
use snp_ghcb::payload::{ReportReq, REPORT_RSP_HEADER_SIZE};

use crate::face::sev_guest::{DeviceError, SevGuestDevice, REPORT_RESP_LEN, SEV_FW_BLOB_MAX_SIZE};
use crate::platform::SimPlatform;

/// `TSM_REPORT_INBLOB_MAX`.
pub const INBLOB_MAX: usize = 64;
/// `TSM_REPORT_PRIVLEVEL_MAX`.
pub const PRIVLEVEL_MAX: u32 = 3;
/// Bound on concurrently existing report entries (each holds at most ~20 KiB).
pub const MAX_ENTRIES: usize = 256;

const TTL: Duration = Duration::from_secs(0);
const ROOT: u64 = 1;
const REPORT_DIR: u64 = 2;
const ENTRY_BASE: u64 = 0x100;
const STRIDE: u64 = 0x10;

/// Files inside an entry, by inode offset from the entry's directory inode.
const FILES: [(&str, u64, u16); 7] = [
    ("inblob", 1, 0o200),
    ("outblob", 2, 0o444),
    ("auxblob", 3, 0o444),
    ("provider", 4, 0o444),
    ("generation", 5, 0o444),
    ("privlevel", 6, 0o200),
    ("privlevel_floor", 7, 0o444),
];

/// Why the tree cannot be mounted.
#[derive(Debug, thiserror::Error)]
pub enum TsmError {
    /// FUSE is not usable here.
    #[error("FUSE is not available: {0}")]
    Unavailable(String),
    /// The simulated sev-guest driver could not be loaded.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The mount itself failed.
    #[error("mounting the simulated configfs-tsm tree at {path} failed: {source}")]
    Mount {
        /// Mount point.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
}

/// Whether FUSE mounts can work here; `Err` says what is missing.
pub fn fuse_available() -> Result<(), String> {
    if !Path::new("/dev/fuse").exists() {
        return Err("/dev/fuse does not exist (no FUSE in this kernel/container)".into());
    }
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("fusermount3").is_file()))
        .unwrap_or(false);
    if !found {
        return Err("fusermount3 is not installed (apt-get install fuse3)".into());
    }
    Ok(())
}

/// A mounted tree; unmounted when dropped.
pub struct TsmMount {
    _session: BackgroundSession,
    path: PathBuf,
}

impl std::fmt::Debug for TsmMount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsmMount")
            .field("path", &self.path)
            .finish()
    }
}

impl TsmMount {
    /// Mount the tree at `dir` (an existing empty directory), backed by a simulated sev-guest
    /// driver using VMPCK `vmpck_id` on `platform`.
    pub fn mount(platform: SimPlatform, dir: &Path, vmpck_id: u8) -> Result<TsmMount, TsmError> {
        fuse_available().map_err(TsmError::Unavailable)?;
        let dev = SevGuestDevice::open(platform, vmpck_id)?;
        let fs = TsmFs {
            dev: Arc::new(dev),
            floor: u32::from(vmpck_id),
            entries: BTreeMap::new(),
            next_slot: 0,
            writes: BTreeMap::new(),
            next_fh: 1,
        };
        let opts = [
            MountOption::FSName("snp-sim-tsm".into()),
            MountOption::Subtype("configfs".into()),
            MountOption::DefaultPermissions,
        ];
        let session = fuser::spawn_mount2(fs, dir, &opts).map_err(|source| TsmError::Mount {
            path: dir.to_owned(),
            source,
        })?;
        Ok(TsmMount {
            _session: session,
            path: dir.to_owned(),
        })
    }

    /// `<mount>/report`.
    pub fn report_dir(&self) -> PathBuf {
        self.path.join("report")
    }
}

#[derive(Debug, Default)]
struct Entry {
    slot: u64,
    inblob: Vec<u8>,
    privlevel: u32,
    write_gen: u64,
    read_gen: Option<u64>,
    outblob: Vec<u8>,
    auxblob: Vec<u8>,
}

struct TsmFs {
    dev: Arc<SevGuestDevice>,
    floor: u32,
    entries: BTreeMap<String, Entry>,
    next_slot: u64,
    /// Open write handles: fh -> (inode, buffered bytes).
    writes: BTreeMap<u64, (u64, Vec<u8>)>,
    next_fh: u64,
}

fn attr(ino: u64, kind: FileType, perm: u16, size: u64) -> FileAttr {
    let t = SystemTime::UNIX_EPOCH;
    FileAttr {
        ino,
        size,
        blocks: 0,
        atime: t,
        mtime: t,
        ctime: t,
        crtime: t,
        kind,
        perm,
        nlink: if kind == FileType::Directory { 2 } else { 1 },
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

enum Node<'a> {
    Root,
    ReportDir,
    EntryDir(&'a str),
    File(&'a str, &'static str),
}

impl TsmFs {
    fn node(&self, ino: u64) -> Option<Node<'_>> {
        match ino {
            ROOT => Some(Node::Root),
            REPORT_DIR => Some(Node::ReportDir),
            i if i >= ENTRY_BASE => {
                let slot = (i - ENTRY_BASE) / STRIDE;
                let off = (i - ENTRY_BASE) % STRIDE;
                let (name, _) = self.entries.iter().find(|(_, e)| e.slot == slot)?;
                if off == 0 {
                    Some(Node::EntryDir(name))
                } else {
                    let (f, _, _) = FILES.iter().find(|(_, o, _)| *o == off)?;
                    Some(Node::File(name, f))
                }
            }
            _ => None,
        }
    }

    fn attr_of(&self, ino: u64) -> Option<FileAttr> {
        Some(match self.node(ino)? {
            Node::Root | Node::ReportDir | Node::EntryDir(_) => {
                attr(ino, FileType::Directory, 0o755, 0)
            }
            Node::File(_, f) => {
                let perm = FILES
                    .iter()
                    .find(|(n, _, _)| *n == f)
                    .map_or(0o444, |x| x.2);
                // configfs attributes report a size of 4096; reads are direct I/O anyway.
                attr(ino, FileType::RegularFile, perm, 4096)
            }
        })
    }

    /// Make the blobs of `name` current, as `tsm_report_read` does: cached blobs are served
    /// while an outblob exists and the write generation has not moved; otherwise the provider
    /// runs again. A failed run is not cached — the kernel returns its error without advancing
    /// the read generation — so the next read asks the firmware again.
    fn refresh(&mut self, name: &str) -> Result<(), i32> {
        let dev = self.dev.clone();
        let e = self.entries.get_mut(name).ok_or(libc::ENOENT)?;
        if !e.outblob.is_empty() && e.read_gen == Some(e.write_gen) {
            return Ok(());
        }
        e.outblob.clear();
        e.auxblob.clear();
        // A GHCB-level rejection (the driver's positive return) passes the kernel's `rc < 0`
        // check: the generation counts as read, with no outblob (it reads as empty).
        if let Some((outblob, auxblob)) = sev_report_new(&dev, &e.inblob, e.privlevel)? {
            e.outblob = outblob;
            e.auxblob = auxblob;
        }
        e.read_gen = Some(e.write_gen);
        Ok(())
    }
}

/// The sev_guest provider's `report_new` (L-drv `sev_report_new`): an extended report with a
/// 16 KiB certificate buffer. `Ok(None)` is a GHCB-level rejection (no blobs, no error).
#[allow(clippy::type_complexity)]
fn sev_report_new(
    dev: &SevGuestDevice,
    inblob: &[u8],
    privlevel: u32,
) -> Result<Option<(Vec<u8>, Vec<u8>)>, i32> {
    // sev_guest requires exactly 64 bytes of report data.
    let report_data = <[u8; 64]>::try_from(inblob).map_err(|_| libc::EINVAL)?;
    let req = ReportReq {
        report_data,
        vmpl: privlevel,
        key_sel: 0,
    };
    let req = req.to_bytes().map_err(|_| libc::EINVAL)?;
    let mut resp = [0u8; REPORT_RESP_LEN];
    let mut certs = vec![0u8; SEV_FW_BLOB_MAX_SIZE];
    let o = dev.ioctl_get_ext_report(1, &req, &mut resp, Some(&mut certs));
    if o.ret > 0 {
        return Ok(None);
    }
    if let Some(errno) = o.errno {
        return Err(errno as i32);
    }
    let word = |i: usize| u32::from_le_bytes([resp[i], resp[i + 1], resp[i + 2], resp[i + 3]]);
    match word(0) {
        0 => {}
        0x16 | 0x27 => return Err(libc::EINVAL),
        _ => return Err(libc::ENXIO),
    }
    let size = word(4) as usize;
    if size.saturating_add(REPORT_RSP_HEADER_SIZE) > 4096 {
        return Err(libc::ENOMEM);
    }
    let outblob = resp
        .get(REPORT_RSP_HEADER_SIZE..REPORT_RSP_HEADER_SIZE + size)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let auxblob = certs.get(..aux_len(&certs)).unwrap_or_default().to_vec();
    Ok(Some((outblob, auxblob)))
}

/// auxblob length exactly as `sev_report_new` computes it: walk the 24-byte entries until an
/// all-zero one (or the end of the buffer), take the largest `offset + length` (u32 arithmetic,
/// as in C), cap it at the buffer size. Nothing else is validated — a table whose entries point
/// past its end still yields the whole 16 KiB buffer, so the caller sees what the host served.
/// 0 = no auxblob (no entries, or entries without sizes).
fn aux_len(certs: &[u8]) -> usize {
    let mut size: u32 = 0;
    for ent in certs.chunks_exact(24) {
        let field = |r: std::ops::Range<usize>| {
            ent.get(r)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map_or(0, u32::from_le_bytes)
        };
        let (offset, length) = (field(16..20), field(20..24));
        let null_guid = ent.iter().take(16).all(|&b| b == 0);
        if null_guid && offset == 0 && length == 0 {
            break;
        }
        size = size.max(offset.wrapping_add(length));
    }
    usize::try_from(size).map_or(certs.len(), |n| n.min(certs.len()))
}

impl Filesystem for TsmFs {
    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let Some(name) = name.to_str() else {
            return reply.error(libc::ENOENT);
        };
        let ino = match (self.node(parent), name) {
            (Some(Node::Root), "report") => Some(REPORT_DIR),
            (Some(Node::ReportDir), n) => self.entries.get(n).map(|e| ENTRY_BASE + e.slot * STRIDE),
            (Some(Node::EntryDir(entry)), f) => {
                let slot = self.entries.get(entry).map(|e| e.slot);
                FILES
                    .iter()
                    .find(|(n, _, _)| *n == f)
                    .and_then(|(_, off, _)| slot.map(|s| ENTRY_BASE + s * STRIDE + off))
            }
            _ => None,
        };
        match ino.and_then(|i| self.attr_of(i)) {
            Some(a) => reply.entry(&TTL, &a, 0),
            None => reply.error(libc::ENOENT),
        }
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        match self.attr_of(ino) {
            Some(a) => reply.attr(&TTL, &a),
            None => reply.error(libc::ENOENT),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        // Truncation on open(O_TRUNC) is accepted and ignored, as configfs does.
        match self.attr_of(ino) {
            Some(a) => reply.attr(&TTL, &a),
            None => reply.error(libc::ENOENT),
        }
    }

    fn mkdir(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        if parent != REPORT_DIR {
            return reply.error(libc::EPERM);
        }
        let Some(name) = name.to_str() else {
            return reply.error(libc::EINVAL);
        };
        if self.entries.contains_key(name) {
            return reply.error(libc::EEXIST);
        }
        if self.entries.len() >= MAX_ENTRIES {
            return reply.error(libc::ENOSPC);
        }
        let slot = self.next_slot;
        self.next_slot += 1;
        self.entries.insert(
            name.to_owned(),
            Entry {
                slot,
                privlevel: self.floor,
                ..Default::default()
            },
        );
        let ino = ENTRY_BASE + slot * STRIDE;
        reply.entry(&TTL, &attr(ino, FileType::Directory, 0o755, 0), 0);
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let removed = (parent == REPORT_DIR)
            .then(|| name.to_str().and_then(|n| self.entries.remove(n)))
            .flatten();
        match removed {
            Some(_) => reply.ok(),
            None => reply.error(libc::ENOENT),
        }
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        let Some(Node::File(_, f)) = self.node(ino) else {
            return reply.error(libc::EISDIR);
        };
        let writing = flags & libc::O_ACCMODE != libc::O_RDONLY;
        let writable = matches!(f, "inblob" | "privlevel");
        if writing != writable {
            return reply.error(libc::EACCES);
        }
        let fh = self.next_fh;
        self.next_fh += 1;
        if writing {
            self.writes.insert(fh, (ino, Vec::new()));
        }
        reply.opened(fh, fuser::consts::FOPEN_DIRECT_IO);
    }

    #[allow(clippy::too_many_arguments)]
    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock: Option<u64>,
        reply: ReplyData,
    ) {
        let Some(Node::File(entry, f)) = self.node(ino) else {
            return reply.error(libc::ENOENT);
        };
        let (entry, f) = (entry.to_owned(), f);
        let data: Vec<u8> = match f {
            "provider" => b"sev_guest\n".to_vec(),
            "generation" => match self.entries.get(&entry) {
                Some(e) => format!("{}\n", e.write_gen).into_bytes(),
                None => return reply.error(libc::ENOENT),
            },
            "privlevel_floor" => format!("{}\n", self.floor).into_bytes(),
            "outblob" | "auxblob" => {
                if let Err(errno) = self.refresh(&entry) {
                    return reply.error(errno);
                }
                let Some(e) = self.entries.get(&entry) else {
                    return reply.error(libc::ENOENT);
                };
                if f == "outblob" {
                    e.outblob.clone()
                } else {
                    e.auxblob.clone()
                }
            }
            _ => return reply.error(libc::EACCES),
        };
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let end = start.saturating_add(size as usize).min(data.len());
        reply.data(&data[start..end]);
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock: Option<u64>,
        reply: ReplyWrite,
    ) {
        let Some(Node::File(entry, f)) = self.node(ino) else {
            return reply.error(libc::ENOENT);
        };
        let entry = entry.to_owned();
        match f {
            "inblob" => {
                let Some((_, buf)) = self.writes.get_mut(&fh) else {
                    return reply.error(libc::EBADF);
                };
                let Ok(off) = usize::try_from(offset) else {
                    return reply.error(libc::EINVAL);
                };
                let end = off.saturating_add(data.len());
                if end > INBLOB_MAX {
                    return reply.error(libc::EFBIG);
                }
                if buf.len() < end {
                    buf.resize(end, 0);
                }
                buf[off..end].copy_from_slice(data);
                reply.written(data.len() as u32);
            }
            "privlevel" => {
                let v = std::str::from_utf8(data)
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok());
                let floor = self.floor;
                let Some(e) = self.entries.get_mut(&entry) else {
                    return reply.error(libc::ENOENT);
                };
                match v {
                    Some(v) if (floor..=PRIVLEVEL_MAX).contains(&v) => {
                        e.privlevel = v;
                        e.write_gen += 1;
                        reply.written(data.len() as u32);
                    }
                    _ => reply.error(libc::EINVAL),
                }
            }
            _ => reply.error(libc::EACCES),
        }
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _lock: u64, reply: ReplyEmpty) {
        reply.ok();
    }

    fn release(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        fh: u64,
        _flags: i32,
        _lock: Option<u64>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        // Binary attributes take effect on close; errors here are dropped like configfs does.
        if let Some((wino, buf)) = self.writes.remove(&fh) {
            if let Some(Node::File(entry, "inblob")) = self.node(wino) {
                let entry = entry.to_owned();
                if let Some(e) = self.entries.get_mut(&entry) {
                    e.inblob = buf;
                    e.write_gen += 1;
                }
            }
        }
        let _ = ino;
        reply.ok();
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        let mut list: Vec<(u64, FileType, String)> = vec![
            (ino, FileType::Directory, ".".into()),
            (ROOT, FileType::Directory, "..".into()),
        ];
        match self.node(ino) {
            Some(Node::Root) => list.push((REPORT_DIR, FileType::Directory, "report".into())),
            Some(Node::ReportDir) => {
                for (n, e) in &self.entries {
                    list.push((ENTRY_BASE + e.slot * STRIDE, FileType::Directory, n.clone()));
                }
            }
            Some(Node::EntryDir(_)) => {
                for (n, off, _) in FILES {
                    list.push((ino + off, FileType::RegularFile, n.into()));
                }
            }
            _ => return reply.error(libc::ENOTDIR),
        }
        let skip = usize::try_from(offset).unwrap_or(0);
        for (i, (ino, kind, name)) in list.into_iter().enumerate().skip(skip) {
            if reply.add(ino, (i + 1) as i64, kind, name) {
                break;
            }
        }
        reply.ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snp_certs::table::{CertTable, CertTableBuilder, EntryKind};

    fn in_16k(table: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; SEV_FW_BLOB_MAX_SIZE];
        buf[..table.len()].copy_from_slice(table);
        buf
    }

    #[test]
    fn aux_len_of_a_well_formed_table_is_what_it_uses() {
        let blob = CertTableBuilder::new()
            .with_kind(EntryKind::Vcek, vec![0x30; 1200])
            .with_kind(EntryKind::Ask, vec![0x31; 1500])
            .build()
            .unwrap();
        let buf = in_16k(&blob);
        assert_eq!(aux_len(&buf), blob.len());
        assert_eq!(aux_len(&buf), CertTable::parse(&buf).unwrap().used_len());
    }

    #[test]
    fn aux_len_does_not_validate_the_table_like_the_kernel() {
        // An entry pointing far past the end: the kernel warns "certificate data truncated"
        // and serves the whole buffer; the reader gets to see the corrupt table.
        let mut blob = CertTableBuilder::new()
            .with_kind(EntryKind::Vcek, vec![0x30; 100])
            .build()
            .unwrap();
        blob[16..20].copy_from_slice(&0x7FFF_FFF0u32.to_le_bytes());
        assert_eq!(aux_len(&in_16k(&blob)), SEV_FW_BLOB_MAX_SIZE);
        // offset + length is u32 arithmetic in C: it wraps.
        blob[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        blob[20..24].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(aux_len(&in_16k(&blob)), 1);
    }

    #[test]
    fn aux_len_is_zero_without_sized_entries() {
        assert_eq!(aux_len(&[0u8; SEV_FW_BLOB_MAX_SIZE]), 0);
        // Slots conveyed without size.
        let mut buf = vec![0u8; SEV_FW_BLOB_MAX_SIZE];
        buf[..16].copy_from_slice(&[0xAB; 16]);
        assert_eq!(aux_len(&buf), 0);
        // A short tail that is not a whole entry is ignored.
        assert_eq!(aux_len(&[0xFF; 23]), 0);
    }
}
