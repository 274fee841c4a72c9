//! `bin`: the report bytes followed by the certificate table, the layout go-sev-guest's
//! `attest -extended -outform bin` writes and its `check -inform bin` reads. A file of exactly one
//! report is a report without certificates (`attest` without `-extended`, or `snpguest report`).

use snp_certs::report::REPORT_SIZE;

use super::{Evidence, EvidenceError, MAX_CERT_TABLE};

/// report ‖ cert_table.
pub fn write(ev: &Evidence) -> Vec<u8> {
    let mut out = Vec::with_capacity(ev.report.len() + ev.cert_table.len());
    out.extend_from_slice(&ev.report);
    out.extend_from_slice(&ev.cert_table);
    out
}

/// Split at the fixed report size; the rest (possibly nothing) is the certificate table.
pub fn read(bytes: &[u8]) -> Result<Evidence, EvidenceError> {
    let (report, table) = match (bytes.get(..REPORT_SIZE), bytes.get(REPORT_SIZE..)) {
        (Some(r), Some(t)) => (r, t),
        _ => return Err(EvidenceError::ReportLength { len: bytes.len() }),
    };
    if table.len() > MAX_CERT_TABLE {
        return Err(EvidenceError::TooLarge {
            what: "certificate table",
            len: table.len() as u64,
            max: MAX_CERT_TABLE as u64,
        });
    }
    Ok(Evidence::new(report.to_vec(), table.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_report_and_extended() {
        let report = vec![5u8; REPORT_SIZE];
        let ev = read(&report).unwrap();
        assert!(ev.cert_table.is_empty());
        let ev = Evidence::new(report, vec![0u8; 24]);
        let bytes = write(&ev);
        assert_eq!(bytes.len(), REPORT_SIZE + 24);
        assert_eq!(read(&bytes).unwrap(), ev);
        assert!(matches!(
            read(&bytes[..100]),
            Err(EvidenceError::ReportLength { len: 100 })
        ));
    }
}
