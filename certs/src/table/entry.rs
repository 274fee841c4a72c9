//! One entry of a parsed table and the decoding of its payload to DER.

use super::*;

/// One entry of a parsed table: a view into the host's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// What the GUID says the payload is.
    pub kind: EntryKind,
    /// The GUID as served.
    pub guid: Guid,
    /// Offset of the payload from the start of the buffer.
    pub offset: u32,
    /// The payload bytes exactly as served (DER, or PEM on some real hosts).
    pub bytes: &'a [u8],
}

impl<'a> Entry<'a> {
    /// Whether the payload looks like PEM text rather than DER.
    pub fn is_pem(&self) -> bool {
        trim_ascii_start(self.bytes).starts_with(b"-----BEGIN ")
    }

    /// The payload as DER. DER payloads are borrowed as served (after checking they are one
    /// complete DER object); a payload holding a single PEM block (a real configfs-tsm host served
    /// PEM) is decoded, with its size bounded by [`MAX_PEM_LEN`]. Certificates must be labelled
    /// `CERTIFICATE`, a CRL `X509 CRL`; unknown entries accept any label.
    pub fn der(&self) -> Result<Cow<'a, [u8]>, PayloadError> {
        let kind = self.kind;
        let first_byte = self.bytes.first().copied().unwrap_or(0);
        if first_byte == 0x30 {
            check_der(kind, self.bytes)?;
            return Ok(Cow::Borrowed(self.bytes));
        }
        if !self.is_pem() {
            return Err(PayloadError::NotDerOrPem { kind, first_byte });
        }
        if self.bytes.len() > MAX_PEM_LEN {
            return Err(PayloadError::PemTooLarge {
                kind,
                len: self.bytes.len(),
                max: MAX_PEM_LEN,
            });
        }
        let count = count_occurrences(self.bytes, b"-----BEGIN ");
        if count != 1 {
            return Err(PayloadError::MultiplePemBlocks { kind, count });
        }
        // Leading whitespace is tolerated (is_pem allowed it); the strict RFC 7468 decoder does not.
        let text = trim_ascii_start(self.bytes);
        let (label, der) = der::pem::decode_vec(text).map_err(|e| PayloadError::BadPem {
            kind,
            reason: e.to_string(),
        })?;
        let expected = match kind {
            EntryKind::Crl => Some("X509 CRL"),
            EntryKind::Unknown(_) => None,
            _ => Some("CERTIFICATE"),
        };
        if let Some(expected) = expected {
            if label != expected {
                return Err(PayloadError::WrongPemLabel {
                    kind,
                    label: label.chars().take(64).collect(),
                    expected,
                });
            }
        }
        check_der(kind, &der)?;
        Ok(Cow::Owned(der))
    }
}

fn check_der(kind: EntryKind, bytes: &[u8]) -> Result<(), PayloadError> {
    der::AnyRef::from_der(bytes)
        .map(|_| ())
        .map_err(|e| PayloadError::BadDer {
            kind,
            reason: e.to_string(),
        })
}

fn trim_ascii_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    b.get(n..).unwrap_or(&[])
}

fn count_occurrences(hay: &[u8], needle: &[u8]) -> usize {
    if needle.is_empty() {
        return 0;
    }
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}
