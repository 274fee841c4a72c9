//! What `POST /verify` answers with, and content negotiation over the client's `Accept`.
//!
//! A service answers in one form, fixed at start: EAR JSON claims without a signing key, a signed
//! EAR JWT with one ([`ResultForm`]). `Accept` does not choose between forms; it only decides
//! whether the one form is acceptable (RFC 9110 §12.5.1): if the client's most specific matching
//! media range gives it `q=0`, or no range matches, the answer is 406 before the body is read.
//!
//! Why a signing service does not also offer the unsigned JSON: an operator who configures a
//! key wants every result the service issues to be attributable to it. Offering the same claims
//! unsigned beside the token would let a client (or a proxy rewriting `Accept`) fall back
//! quietly to a result that anyone on the path could have written, and would make a replica's
//! answers depend on a header rather than its configuration. Nothing is lost by refusing: the
//! JWT's payload is the same claims set (base64url), and `snp-agent verify TOKEN --token-key`
//! prints it.

use crate::ear;

/// The form of a completed appraisal's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResultForm {
    /// The EAR claims set as JSON ([`ear::json_media_type`]).
    #[default]
    EarJson,
    /// The EAR signed as a compact JWT ([`ear::jwt_media_type`]).
    EarJwt,
}

impl ResultForm {
    /// The `Content-Type` of a 200 answer.
    pub fn content_type(self) -> String {
        match self {
            ResultForm::EarJson => ear::json_media_type(),
            ResultForm::EarJwt => ear::jwt_media_type(),
        }
    }

    /// Media types that name this form, most specific first: the EAR media type, then the
    /// generic one a client may ask for instead (`application/json` for a JSON body, RFC 7519's
    /// `application/jwt` for a JWT).
    fn names(self) -> [mime::Mime; 2] {
        let (own, generic) = match self {
            ResultForm::EarJson => (ear::json_media_type(), "application/json"),
            ResultForm::EarJwt => (ear::jwt_media_type(), "application/jwt"),
        };
        [
            own.parse().unwrap_or(mime::APPLICATION_JSON),
            generic.parse().unwrap_or(mime::APPLICATION_JSON),
        ]
    }
}

/// Split a header value at commas outside quoted strings (an `eat_profile` value holds commas:
/// `tag:ietf.org,2026:…`).
fn ranges(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .collect()
}

/// RFC 9110 qvalue: 0 to 1 with at most three decimals; anything else makes the range unusable.
fn qvalue(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// How specifically `range` matches `offered` (higher is more specific), or `None`.
fn specificity(range: &mime::Mime, offered: &mime::Mime) -> Option<u32> {
    let type_ = range.type_() == mime::STAR;
    let subtype = range.subtype() == mime::STAR;
    if !type_ && range.type_() != offered.type_() {
        return None;
    }
    if type_ && !subtype {
        return None; // "*/json" is not a media range
    }
    if !subtype && range.subtype() != offered.subtype() {
        return None;
    }
    if range.suffix() != offered.suffix() && !subtype {
        return None;
    }
    let mut params = 0;
    for (name, value) in range.params() {
        if name == "q" {
            continue;
        }
        // JSON is UTF-8 (RFC 8259), whatever the offered type says.
        let json = offered.subtype() == mime::JSON || offered.suffix() == Some(mime::JSON);
        if json && name == mime::CHARSET && value.as_str().eq_ignore_ascii_case("utf-8") {
            continue;
        }
        // Parameter values compare case-insensitively (the eat_profile registration says so).
        match offered.get_param(name) {
            Some(v) if v.as_str().eq_ignore_ascii_case(value.as_str()) => params += 1,
            _ => return None,
        }
    }
    Some(u32::from(!type_) * 1000 + u32::from(!subtype) * 100 + params)
}

/// Whether a client whose `Accept` field values are `accept` takes `form`. No `Accept` (or only
/// empty ones) means anything is acceptable (RFC 9110 §12.5.1); a range that does not parse (or
/// has a bad `q`) accepts nothing, so an `Accept` of nothing but such ranges accepts nothing.
pub(crate) fn acceptable<'a>(accept: impl IntoIterator<Item = &'a str>, form: ResultForm) -> bool {
    let given: Vec<&str> = accept.into_iter().flat_map(ranges).collect();
    if given.is_empty() {
        return true;
    }
    let parsed: Vec<(mime::Mime, u16)> = given
        .into_iter()
        .filter_map(|r| {
            let m: mime::Mime = r.parse().ok()?;
            let q = match m.get_param("q") {
                Some(q) => qvalue(q.as_str())?,
                None => 1000,
            };
            Some((m, q))
        })
        .collect();
    let best = |offered: &mime::Mime| {
        parsed
            .iter()
            .filter_map(|(range, q)| specificity(range, offered).map(|s| (s, *q)))
            .max_by_key(|(s, _)| *s)
    };
    let [own, generic] = form.names();
    // The answer is labelled with the service's own type: a range naming that type (not a
    // wildcard) decides alone, so `application/eat+jwt;q=0, application/jwt` is refused
    // rather than answered with the very type the client excluded. Otherwise the generic name
    // counts as well (a client asking for `application/json` takes EAR JSON).
    match best(&own) {
        Some((specific, q)) if specific >= EXACT => q > 0,
        _ => [own, generic]
            .iter()
            .any(|offered| best(offered).is_some_and(|(_, q)| q > 0)),
    }
}

/// The least [`specificity`] of a range naming a type and subtype, not a wildcard.
const EXACT: u32 = 1100;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(accept: &str, form: ResultForm) -> bool {
        acceptable([accept], form)
    }

    #[test]
    fn json_answers() {
        let json = ResultForm::EarJson;
        let own = ear::json_media_type();
        for yes in [
            "*/*",
            "application/*",
            "application/json",
            "application/json; charset=utf-8",
            "application/eat-ucs+json",
            own.as_str(),
            "application/eat-ucs+json; eat_profile=\"TAG:IETF.ORG,2026:RATS/EAR#04\"",
            "text/html, application/json;q=0.1",
            "application/eat+jwt, */*;q=0.01",
        ] {
            assert!(ok(yes, json), "{yes}");
        }
        for no in [
            "application/eat+jwt",
            "application/jwt",
            "text/plain",
            "application/eat-ucs+json; eat_profile=\"tag:example,2020:other\"",
            "application/json;q=0",
            "*/*;q=0",
            // The most specific range decides: JSON is excluded although */* is not.
            "application/json;q=0, application/eat-ucs+json;q=0, */*",
            // The client excludes the type the answer would carry; the generic name does not
            // override that.
            "application/eat-ucs+json;q=0, application/json",
            "garbage",
            "application/json;q=2",
        ] {
            assert!(!ok(no, json), "{no}");
        }
        // No Accept at all, or an empty one: anything goes.
        assert!(acceptable([], json));
        assert!(acceptable([""], json));
        // Several Accept fields are one list.
        assert!(acceptable(["text/plain", "application/json"], json));
    }

    #[test]
    fn jwt_answers() {
        let jwt = ResultForm::EarJwt;
        for yes in [
            "application/eat+jwt",
            "application/jwt",
            "*/*",
            "application/json;q=0.9, application/eat+jwt;q=0.5",
            // A wildcard does not name the own type: the explicit generic name wins.
            "*/*;q=0, application/jwt",
        ] {
            assert!(ok(yes, jwt), "{yes}");
        }
        let own = ear::jwt_media_type();
        assert!(ok(&own, jwt));
        for no in [
            "application/json",
            "application/eat-ucs+json",
            "application/eat+jwt;q=0",
            "application/eat+jwt;q=0, application/jwt",
            "application/jwt, application/eat+jwt;q=0",
        ] {
            assert!(!ok(no, jwt), "{no}");
        }
    }

    #[test]
    fn commas_inside_quotes_do_not_split() {
        assert_eq!(ranges("a/b; p=\"x,y\", c/d"), vec!["a/b; p=\"x,y\"", "c/d"]);
        assert_eq!(qvalue("0.5"), Some(500));
        assert_eq!(qvalue("1.000"), Some(1000));
        assert_eq!(qvalue("1.5"), None);
        assert_eq!(qvalue("0.1234"), None);
    }

    proptest! {
        /// Whatever a client sends, negotiation answers without panicking.
        #[test]
        fn any_header_is_handled(s in "\\PC{0,200}") {
            let _ = acceptable([s.as_str()], ResultForm::EarJson);
            let _ = acceptable([s.as_str()], ResultForm::EarJwt);
        }
    }
}
