//! The GHCB page: save-area fields used by guest requests, valid bitmap, shared buffer.
//!
//! The GHCB (Guest-Hypervisor Communication Block, AMD pub. 56421) is one 4 KiB page that the guest
//! shares with the hypervisor. Before a VMGEXIT the guest writes the fields it supplies and marks each
//! one in the valid bitmap; the hypervisor does the same for the fields it returns. Because the page is
//! host-writable, [`Ghcb`] is an owned byte array with explicit little-endian accessors: a snapshot the
//! caller copies in and out, never a reference into memory the host can change under our feet.
//!
//! Offsets (Linux `struct ghcb_save_area`, coconut-svsm `GHCB`, abi-facts §4.1):
//!
//! | field          | offset | valid bit |
//! |----------------|--------|-----------|
//! | RAX            | 0x1F8  | 63        |
//! | RCX            | 0x308  | 97        |
//! | RDX            | 0x310  | 98        |
//! | RBX            | 0x318  | 99        |
//! | SW_EXITCODE    | 0x390  | 114       |
//! | SW_EXITINFO1   | 0x398  | 115       |
//! | SW_EXITINFO2   | 0x3A0  | 116       |
//! | SW_SCRATCH     | 0x3A8  | 117       |
//! | VALID_BITMAP   | 0x3F0  | (16 bytes)|
//! | shared buffer  | 0x800..0xFF0 |     |
//! | PROTOCOL_VERSION | 0xFFA (u16) |    |
//! | GHCB_USAGE     | 0xFFC (u32) |      |
//!
//! Note: RBX lives at 0x318 — 0x308 is RCX (three consecutive qwords RCX, RDX, RBX).

/// Size of a guest page and of the GHCB.
pub const PAGE_SIZE: usize = 4096;

/// Offset of the 16-byte valid bitmap (bit *i* set ⇒ the qword at offset 8·*i* is valid).
pub const VALID_BITMAP_OFFSET: usize = 0x3F0;
/// Length of the valid bitmap in bytes.
pub const VALID_BITMAP_LEN: usize = 16;
/// End of the save area; everything below this offset is register state plus the bitmap.
pub const SAVE_AREA_END: usize = 0x800;
/// Start of the shared buffer (used with SW_SCRATCH by NAE events that pass data in the GHCB).
pub const SHARED_BUFFER_OFFSET: usize = 0x800;
/// End (exclusive) of the shared buffer.
pub const SHARED_BUFFER_END: usize = 0xFF0;
/// Offset of the negotiated GHCB protocol version (u16).
pub const PROTOCOL_VERSION_OFFSET: usize = 0xFFA;
/// Offset of the GHCB usage field (u32).
pub const GHCB_USAGE_OFFSET: usize = 0xFFC;

/// GHCB protocol version required for SEV-SNP guest requests.
pub const GHCB_PROTOCOL_VERSION_SNP: u16 = 2;
/// GHCB usage value for the standard (save-area) format; other values (Hyper-V uses 1) mean a
/// hypervisor-specific layout.
pub const GHCB_USAGE_STANDARD: u32 = 0;

/// A qword field of the GHCB save area that guest requests use.
///
/// Each field is a little-endian u64 at a fixed offset; its valid-bitmap bit is `offset / 8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// RAX (0x1F8): extended guest request → GPA of the certificate data pages.
    Rax,
    /// RCX (0x308).
    Rcx,
    /// RDX (0x310).
    Rdx,
    /// RBX (0x318): extended guest request → number of data pages; on INVALID_LEN the host writes
    /// the number of pages it needs here.
    Rbx,
    /// SW_EXITCODE (0x390): the NAE event (e.g. `SNP_GUEST_REQUEST`).
    SwExitCode,
    /// SW_EXITINFO1 (0x398): request page GPA in; GHCB-level result out.
    SwExitInfo1,
    /// SW_EXITINFO2 (0x3A0): response page GPA in; `(vmm_error << 32) | fw_status` out.
    SwExitInfo2,
    /// SW_SCRATCH (0x3A8): GPA of a scratch area (the shared buffer) for NAE events that use one.
    SwScratch,
}

impl Field {
    /// Every field this type names, for iteration in tests and dumps.
    pub const ALL: [Field; 8] = [
        Field::Rax,
        Field::Rcx,
        Field::Rdx,
        Field::Rbx,
        Field::SwExitCode,
        Field::SwExitInfo1,
        Field::SwExitInfo2,
        Field::SwScratch,
    ];

    /// Byte offset of the field in the GHCB page.
    pub const fn offset(self) -> usize {
        match self {
            Field::Rax => 0x1F8,
            Field::Rcx => 0x308,
            Field::Rdx => 0x310,
            Field::Rbx => 0x318,
            Field::SwExitCode => 0x390,
            Field::SwExitInfo1 => 0x398,
            Field::SwExitInfo2 => 0x3A0,
            Field::SwScratch => 0x3A8,
        }
    }

    /// The field's bit in the valid bitmap (`offset / 8`).
    pub const fn valid_bit(self) -> usize {
        self.offset() / 8
    }
}

/// An owned copy of one GHCB page.
///
/// Setters also mark the field valid, so a request can never carry a value the hypervisor is told
/// to ignore. Getters return the raw value whether or not it is marked valid; use
/// [`Ghcb::get_valid`] where "the host did not set it" must be told apart from zero.
#[derive(Clone, PartialEq, Eq)]
pub struct Ghcb {
    bytes: [u8; PAGE_SIZE],
}

impl Default for Ghcb {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Ghcb {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut d = f.debug_struct("Ghcb");
        for field in Field::ALL {
            if self.is_valid(field) {
                d.field(field_name(field), &format_args!("{:#x}", self.get(field)));
            }
        }
        d.field("protocol_version", &self.protocol_version())
            .field("ghcb_usage", &self.ghcb_usage())
            .finish_non_exhaustive()
    }
}

fn field_name(field: Field) -> &'static str {
    match field {
        Field::Rax => "rax",
        Field::Rcx => "rcx",
        Field::Rdx => "rdx",
        Field::Rbx => "rbx",
        Field::SwExitCode => "sw_exit_code",
        Field::SwExitInfo1 => "sw_exit_info_1",
        Field::SwExitInfo2 => "sw_exit_info_2",
        Field::SwScratch => "sw_scratch",
    }
}

impl Ghcb {
    /// An all-zero page: no field valid, protocol version 0, standard usage.
    pub const fn new() -> Self {
        Self {
            bytes: [0; PAGE_SIZE],
        }
    }

    /// Copy a page (e.g. read back from shared memory after the host wrote it).
    pub fn from_bytes(bytes: &[u8; PAGE_SIZE]) -> Self {
        Self { bytes: *bytes }
    }

    /// The page bytes, to copy into the shared GHCB page.
    pub fn as_bytes(&self) -> &[u8; PAGE_SIZE] {
        &self.bytes
    }

    /// Invalidate the page before building a new request: zero the whole save area (register
    /// fields, SW_EXITCODE and the valid bitmap), so nothing from a previous exit is offered to the
    /// host again. The shared buffer, protocol version and usage are left alone.
    pub fn clear(&mut self) {
        self.bytes[..SAVE_AREA_END].fill(0);
    }

    /// Raw value of a field (regardless of its valid bit).
    pub fn get(&self, field: Field) -> u64 {
        read_u64(&self.bytes, field.offset())
    }

    /// Value of a field if (and only if) it is marked valid.
    pub fn get_valid(&self, field: Field) -> Option<u64> {
        self.is_valid(field).then(|| self.get(field))
    }

    /// Write a field and mark it valid.
    pub fn set(&mut self, field: Field, value: u64) {
        let off = field.offset();
        self.bytes[off..off + 8].copy_from_slice(&value.to_le_bytes());
        self.mark_valid(field);
    }

    /// Mark a field valid without changing its value.
    pub fn mark_valid(&mut self, field: Field) {
        let bit = field.valid_bit();
        self.bytes[VALID_BITMAP_OFFSET + bit / 8] |= 1 << (bit % 8);
    }

    /// Clear a field's valid bit (the value is left in place).
    pub fn mark_invalid(&mut self, field: Field) {
        let bit = field.valid_bit();
        self.bytes[VALID_BITMAP_OFFSET + bit / 8] &= !(1 << (bit % 8));
    }

    /// Whether the field's valid-bitmap bit is set.
    pub fn is_valid(&self, field: Field) -> bool {
        let bit = field.valid_bit();
        self.bytes[VALID_BITMAP_OFFSET + bit / 8] & (1 << (bit % 8)) != 0
    }

    /// The raw 16-byte valid bitmap.
    pub fn valid_bitmap(&self) -> [u8; VALID_BITMAP_LEN] {
        let mut out = [0u8; VALID_BITMAP_LEN];
        out.copy_from_slice(
            &self.bytes[VALID_BITMAP_OFFSET..VALID_BITMAP_OFFSET + VALID_BITMAP_LEN],
        );
        out
    }

    /// RAX (0x1F8).
    pub fn rax(&self) -> u64 {
        self.get(Field::Rax)
    }
    /// Set RAX and mark it valid.
    pub fn set_rax(&mut self, v: u64) {
        self.set(Field::Rax, v)
    }
    /// RBX (0x318).
    pub fn rbx(&self) -> u64 {
        self.get(Field::Rbx)
    }
    /// Set RBX and mark it valid.
    pub fn set_rbx(&mut self, v: u64) {
        self.set(Field::Rbx, v)
    }
    /// SW_EXITCODE (0x390).
    pub fn sw_exit_code(&self) -> u64 {
        self.get(Field::SwExitCode)
    }
    /// Set SW_EXITCODE and mark it valid.
    pub fn set_sw_exit_code(&mut self, v: u64) {
        self.set(Field::SwExitCode, v)
    }
    /// SW_EXITINFO1 (0x398).
    pub fn sw_exit_info_1(&self) -> u64 {
        self.get(Field::SwExitInfo1)
    }
    /// Set SW_EXITINFO1 and mark it valid.
    pub fn set_sw_exit_info_1(&mut self, v: u64) {
        self.set(Field::SwExitInfo1, v)
    }
    /// SW_EXITINFO2 (0x3A0).
    pub fn sw_exit_info_2(&self) -> u64 {
        self.get(Field::SwExitInfo2)
    }
    /// Set SW_EXITINFO2 and mark it valid.
    pub fn set_sw_exit_info_2(&mut self, v: u64) {
        self.set(Field::SwExitInfo2, v)
    }
    /// SW_SCRATCH (0x3A8).
    pub fn sw_scratch(&self) -> u64 {
        self.get(Field::SwScratch)
    }
    /// Set SW_SCRATCH and mark it valid.
    pub fn set_sw_scratch(&mut self, v: u64) {
        self.set(Field::SwScratch, v)
    }

    /// The shared buffer (0x800..0xFF0).
    pub fn shared_buffer(&self) -> &[u8] {
        &self.bytes[SHARED_BUFFER_OFFSET..SHARED_BUFFER_END]
    }
    /// The shared buffer, writable.
    pub fn shared_buffer_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[SHARED_BUFFER_OFFSET..SHARED_BUFFER_END]
    }

    /// Negotiated GHCB protocol version (u16 at 0xFFA).
    pub fn protocol_version(&self) -> u16 {
        u16::from_le_bytes([
            self.bytes[PROTOCOL_VERSION_OFFSET],
            self.bytes[PROTOCOL_VERSION_OFFSET + 1],
        ])
    }
    /// Set the protocol version.
    pub fn set_protocol_version(&mut self, v: u16) {
        self.bytes[PROTOCOL_VERSION_OFFSET..PROTOCOL_VERSION_OFFSET + 2]
            .copy_from_slice(&v.to_le_bytes());
    }

    /// GHCB usage (u32 at 0xFFC; 0 = standard format).
    pub fn ghcb_usage(&self) -> u32 {
        read_u32(&self.bytes, GHCB_USAGE_OFFSET)
    }
    /// Set the GHCB usage.
    pub fn set_ghcb_usage(&mut self, v: u32) {
        self.bytes[GHCB_USAGE_OFFSET..GHCB_USAGE_OFFSET + 4].copy_from_slice(&v.to_le_bytes());
    }
}

/// Little-endian u64 at a constant, in-bounds offset of a page.
fn read_u64(page: &[u8; PAGE_SIZE], off: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&page[off..off + 8]);
    u64::from_le_bytes(b)
}

/// Little-endian u32 at a constant, in-bounds offset of a page.
fn read_u32(page: &[u8; PAGE_SIZE], off: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&page[off..off + 4]);
    u32::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_bits_match_the_reference() {
        // abi-facts §4.1 (Linux struct ghcb_save_area).
        assert_eq!(Field::Rax.offset(), 0x1F8);
        assert_eq!(Field::Rax.valid_bit(), 63);
        assert_eq!(Field::Rcx.valid_bit(), 97);
        assert_eq!(Field::Rbx.offset(), 0x318);
        assert_eq!(Field::Rbx.valid_bit(), 99);
        assert_eq!(Field::SwExitCode.valid_bit(), 114);
        assert_eq!(Field::SwExitInfo1.valid_bit(), 115);
        assert_eq!(Field::SwExitInfo2.valid_bit(), 116);
        assert_eq!(Field::SwScratch.valid_bit(), 117);
        assert_eq!(SHARED_BUFFER_END - SHARED_BUFFER_OFFSET, 0x7F0);
    }

    #[test]
    fn setters_write_le_and_mark_valid() {
        let mut g = Ghcb::new();
        for f in Field::ALL {
            assert!(!g.is_valid(f));
        }
        g.set_rbx(0x0102_0304_0506_0708);
        assert_eq!(&g.as_bytes()[0x318..0x320], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert!(g.is_valid(Field::Rbx));
        assert!(!g.is_valid(Field::Rcx));
        // bit 99 → byte 12 of the bitmap, bit 3
        assert_eq!(g.as_bytes()[0x3F0 + 12], 1 << 3);
        g.set_sw_exit_code(0x8000_0012);
        g.set_sw_exit_info_1(0x1000);
        g.set_sw_exit_info_2(0x2000);
        g.set_rax(0x3000);
        g.set_sw_scratch(0x4000);
        assert_eq!(g.sw_exit_code(), 0x8000_0012);
        assert_eq!(g.get_valid(Field::SwExitInfo1), Some(0x1000));
        assert_eq!(g.sw_exit_info_2(), 0x2000);
        assert_eq!(g.rax(), 0x3000);
        assert_eq!(g.sw_scratch(), 0x4000);
        assert_eq!(g.get_valid(Field::Rdx), None);
        g.mark_invalid(Field::Rax);
        assert_eq!(g.get_valid(Field::Rax), None);
        assert_eq!(g.rax(), 0x3000);
    }

    #[test]
    fn clear_wipes_save_area_only() {
        let mut g = Ghcb::new();
        g.set_rax(1);
        g.shared_buffer_mut()[0] = 0xAA;
        g.set_protocol_version(2);
        g.set_ghcb_usage(0);
        g.clear();
        assert_eq!(g.valid_bitmap(), [0; 16]);
        assert_eq!(g.rax(), 0);
        assert_eq!(g.shared_buffer()[0], 0xAA);
        assert_eq!(g.protocol_version(), 2);
        let round = Ghcb::from_bytes(g.as_bytes());
        assert_eq!(round, g);
    }

    #[test]
    fn version_and_usage_positions() {
        let mut g = Ghcb::new();
        g.set_protocol_version(0x0102);
        g.set_ghcb_usage(0x0304_0506);
        assert_eq!(&g.as_bytes()[0xFFA..], &[2, 1, 6, 5, 4, 3]);
    }
}
