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

/// An RFC 3339 date-time (`2026-01-31T12:00:00Z`, `2026-01-31T13:00:00+01:00`, fractional
/// seconds allowed) or a plain date (`2026-01-31`, midnight UTC), as UNIX seconds.
pub fn rfc3339(s: &str) -> Result<u64, String> {
    let err =
        || format!("{s:?} is not an RFC 3339 time: use e.g. 2026-01-31T12:00:00Z or 2026-01-31");
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        let part = b.get(r).ok_or_else(err)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err(err());
        }
        std::str::from_utf8(part)
            .map_err(|_| err())?
            .parse::<i64>()
            .map_err(|_| err())
    };
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if b.len() < 10 || !sep(4, b"-") || !sep(7, b"-") {
        return Err(err());
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=days_in_month(y, mo)).contains(&d) {
        return Err(err());
    }
    let mut secs = days_from_civil(y, mo, d) * 86_400;
    if b.len() > 10 {
        if !sep(10, b"Tt ") || !sep(13, b":") || !sep(16, b":") {
            return Err(err());
        }
        let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if h > 23 || mi > 59 || se > 60 {
            return Err(err());
        }
        secs += h * 3600 + mi * 60 + se.min(59);
        let mut i = 19;
        if sep(i, b".") {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return Err(err());
            }
        }
        match b.get(i) {
            Some(b'Z' | b'z') if i + 1 == b.len() => {}
            Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && sep(i + 3, b":") => {
                let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
                if oh > 23 || om > 59 {
                    return Err(err());
                }
                let off = oh * 3600 + om * 60;
                secs += if *sign == b'+' { -off } else { off };
            }
            _ => return Err(err()),
        }
    }
    u64::try_from(secs).map_err(|_| format!("{s:?} is before 1970"))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
        assert_eq!(rfc3339("2026-11-25T01:00:00+01:00"), Ok(1_795_564_800));
        assert_eq!(rfc3339("2026-11-24T23:00:00.123-01:00"), Ok(1_795_564_800));
        assert_eq!(rfc3339("2024-02-29T12:00:00Z"), Ok(1_709_208_000));
        for bad in [
            "",
            "2026",
            "2026-13-01",
            "2023-02-29",
            "2026-01-01T25:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00+1:00",
            "1969-12-31",
            "2026-01-01X00:00:00Z",
            "２０２６-01-01",
        ] {
            assert!(rfc3339(bad).is_err(), "{bad}");
        }
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
