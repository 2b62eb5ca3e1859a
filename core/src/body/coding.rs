//! The codings a response may carry, parsed from its `Content-Encoding` header.

use http::header::CONTENT_ENCODING;
use http::HeaderMap;

/// A content coding this client decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coding {
    /// `gzip` (and its alias `x-gzip`): RFC 1952, one or more members.
    Gzip,
    /// `deflate`: RFC 1950 zlib-wrapped, or raw RFC 1951 as some servers send it (browsers accept both).
    Deflate,
    /// `br`: Brotli, RFC 7932.
    Brotli,
    /// `zstd`: Zstandard, RFC 8878, window limited to 8 MiB as RFC 9659 asks of HTTP decoders.
    Zstd,
}

impl Coding {
    /// The token as it appears in `Content-Encoding` and `Accept-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
        }
    }

    fn parse(token: &str) -> Option<Coding> {
        let t = token.trim();
        if t.eq_ignore_ascii_case("gzip") || t.eq_ignore_ascii_case("x-gzip") {
            Some(Coding::Gzip)
        } else if t.eq_ignore_ascii_case("deflate") {
            Some(Coding::Deflate)
        } else if t.eq_ignore_ascii_case("br") {
            Some(Coding::Brotli)
        } else if t.eq_ignore_ascii_case("zstd") {
            Some(Coding::Zstd)
        } else {
            None
        }
    }
}

/// The `Accept-Encoding` value sent by default: every coding this client decodes.
pub const ACCEPT_ENCODING: &str = "gzip, deflate, br, zstd";

/// More stacked codings than this is hostile (no server stacks more than two).
pub const MAX_STACKED: usize = 4;

/// The codings of a response in the order they were applied (`Content-Encoding: gzip, br` = gzip first), with
/// `identity` and empty list members left out. `Err` names the first coding this client cannot decode.
pub fn codings(headers: &HeaderMap) -> Result<Vec<Coding>, String> {
    let mut out = Vec::new();
    for value in headers.get_all(CONTENT_ENCODING) {
        let Ok(text) = value.to_str() else {
            return Err(String::from_utf8_lossy(value.as_bytes()).into_owned());
        };
        for token in text.split(',') {
            let t = token.trim();
            if t.is_empty() || t.eq_ignore_ascii_case("identity") {
                continue;
            }
            match Coding::parse(t) {
                Some(c) => out.push(c),
                None => return Err(t.to_string()),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(values: &[&str]) -> Result<Vec<Coding>, String> {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(CONTENT_ENCODING, v.parse().unwrap());
        }
        codings(&h)
    }

    #[test]
    fn parses_lists_aliases_and_identity() {
        assert_eq!(of(&[]), Ok(vec![]));
        assert_eq!(of(&["identity"]), Ok(vec![]));
        assert_eq!(of(&["GZIP"]), Ok(vec![Coding::Gzip]));
        assert_eq!(of(&["x-gzip"]), Ok(vec![Coding::Gzip]));
        assert_eq!(
            of(&["deflate, br", "zstd"]),
            Ok(vec![Coding::Deflate, Coding::Brotli, Coding::Zstd])
        );
        assert_eq!(of(&["gzip, compress"]), Err("compress".to_string()));
    }
}
