//! Parsers for argument values: hex strings of bounded length, RFC 3339 times, products.
//!
//! They run inside clap, so a malformed value is a usage error (exit 1) with clap's message
//! naming the option.

use snp_certs::product::Product;

/// Bytes given on the command line as hex. A newtype because clap treats a bare `Vec<u8>` field
/// as a list of `u8` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexBytes(pub Vec<u8>);

/// Hex (optionally `0x`-prefixed) of at most 64 bytes, for `--report-data`.
pub fn report_data_hex(s: &str) -> Result<HexBytes, String> {
    let b = hex_any(s)?;
    if b.len() > 64 {
        return Err(format!(
            "{} bytes given; REPORT_DATA holds at most 64 (shorter values are zero-padded)",
            b.len()
        ));
    }
    Ok(HexBytes(b))
}

/// Hex of 1..=1024 bytes, for `--nonce` (hashed into REPORT_DATA).
pub fn nonce_hex(s: &str) -> Result<HexBytes, String> {
    let b = hex_any(s)?;
    if b.is_empty() || b.len() > 1024 {
        return Err(format!(
            "{} bytes given; a nonce is 1 to 1024 bytes (use 32 random bytes)",
            b.len()
        ));
    }
    Ok(HexBytes(b))
}

fn hex_any(s: &str) -> Result<Vec<u8>, String> {
    let t = s.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    hex::decode(t).map_err(|e| format!("not hex: {e}"))
}

/// A product line name (`milan`, `Genoa`, `TURIN`).
pub fn product(s: &str) -> Result<Product, String> {
    s.parse::<Product>().map_err(|e| e.to_string())
}

/// A backend name.
pub fn backend(s: &str) -> Result<snp_agent::backend::BackendKind, String> {
    s.parse()
}

/// An evidence format name.
pub fn format(s: &str) -> Result<snp_agent::evidence::Format, String> {
    s.parse()
}

/// A binding profile name (`snp-agent`, `trustee`, `veraison`, `maa`, `raw`).
pub fn binding(s: &str) -> Result<snp_agent::binding::Profile, String> {
    s.parse()
        .map_err(|e: snp_agent::binding::ProfileError| e.to_string())
}

/// Runtime data for the `trustee` and `maa` bindings: the text itself, or `@FILE` to read a
/// file (at most 64 KiB; bytes as they are, no trailing-newline trimming: the hash covers them).
pub fn runtime_data(s: &str) -> Result<HexBytes, String> {
    use snp_agent::binding::profile::MAX_RUNTIME_DATA;
    let bytes = match s.strip_prefix('@') {
        Some(path) => {
            use std::io::Read;
            let f = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
            let mut buf = Vec::new();
            f.take(MAX_RUNTIME_DATA as u64 + 1)
                .read_to_end(&mut buf)
                .map_err(|e| format!("{path}: {e}"))?;
            buf
        }
        None => s.as_bytes().to_vec(),
    };
    if bytes.len() > MAX_RUNTIME_DATA {
        return Err(format!(
            "runtime data is larger than {MAX_RUNTIME_DATA} bytes"
        ));
    }
    Ok(HexBytes(bytes))
}

/// An RFC 3339 date-time, or a plain date (`2026-01-31`, midnight UTC), as UNIX seconds.
///
/// Parsed by `jiff`, which reads every form RFC 3339 §5.6 allows: `T`, `t` or (§5.6's note) a
/// space between date and time; `Z`, `z`, `+hh:mm` or `-hh:mm` (including `-00:00`); any number of
/// fractional-second digits (dropped: verification works in whole seconds); and a leap second
/// `:60`, which lands on second 59 of that minute. An offset is required: a local time without
/// one names no instant.
pub fn rfc3339(s: &str) -> Result<u64, String> {
    let err = |why: String| {
        format!(
            "{s:?} is not an RFC 3339 time ({why}): use e.g. 2026-01-31T12:00:00Z or 2026-01-31"
        )
    };
    let t = s.trim();
    let ts = if t.len() == 10 && !t.contains(['T', 't', ' ']) {
        let date: jiff::civil::Date = t.parse().map_err(|e: jiff::Error| err(e.to_string()))?;
        jiff::tz::Offset::UTC
            .to_timestamp(date.at(0, 0, 0, 0))
            .map_err(|e| err(e.to_string()))?
    } else {
        t.parse::<jiff::Timestamp>()
            .map_err(|e| err(e.to_string()))?
    };
    u64::try_from(ts.as_second()).map_err(|_| format!("{s:?} is before 1970"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(rfc3339("1970-01-01"), Ok(0));
        assert_eq!(rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(rfc3339("2026-11-25T00:00:00Z"), Ok(1_795_564_800));
        assert_eq!(rfc3339("2026-11-25"), Ok(1_795_564_800));
        assert_eq!(rfc3339("2024-02-29T12:00:00Z"), Ok(1_709_208_000));
        for bad in [
            "",
            "2026",
            "2026-13-01",
            "2023-02-29",
            "2026-01-01T25:00:00Z",
            "2026-01-01T00:00:00", // no offset: not an instant
            "2026-01-01T00:00:00+1:00",
            "1969-12-31",
            "1969-12-31T23:59:59Z",
            "2026-01-01X00:00:00Z",
            "２０２６-01-01",
            "2026-01-01T00:00:00Z junk",
        ] {
            assert!(rfc3339(bad).is_err(), "{bad}");
        }
    }

    /// Every variation RFC 3339 §5.6 (and its notes) allows, all naming the same instant.
    #[test]
    fn every_rfc3339_form() {
        const T: u64 = 1_795_564_800; // 2026-11-25T00:00:00Z
        for form in [
            "2026-11-25T00:00:00Z",
            "2026-11-25t00:00:00z",           // lower-case T and Z (§5.6 NOTE)
            "2026-11-25 00:00:00Z",           // space separator (§5.6 NOTE)
            "2026-11-25T01:00:00+01:00",      // positive offset
            "2026-11-24T23:00:00-01:00",      // negative offset
            "2026-11-24T18:30:00-05:30",      // offset with minutes
            "2026-11-25T00:00:00+00:00",      // explicit zero offset
            "2026-11-25T00:00:00-00:00",      // unknown local offset (§4.3)
            "2026-11-25T00:00:00.0Z",         // one fraction digit
            "2026-11-25T00:00:00.123456789Z", // nanoseconds
            "2026-11-24T23:00:00.5-01:00",    // fraction with an offset
        ] {
            assert_eq!(rfc3339(form), Ok(T), "{form}");
        }
        // A leap second (the one at the end of 2016) lands on :59 of the same minute.
        assert_eq!(rfc3339("2016-12-31T23:59:60Z"), Ok(1_483_228_799));
        // Leading/trailing whitespace from a shell variable is tolerated.
        assert_eq!(rfc3339(" 2026-11-25T00:00:00Z\n"), Ok(T));
    }

    #[test]
    fn hex_values() {
        assert_eq!(report_data_hex("0x0102"), Ok(HexBytes(vec![1, 2])));
        assert!(report_data_hex(&"00".repeat(65)).is_err());
        assert!(nonce_hex("").is_err());
        assert!(nonce_hex("zz").is_err());
        assert_eq!(nonce_hex("AbCd"), Ok(HexBytes(vec![0xab, 0xcd])));
    }
}
