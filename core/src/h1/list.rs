//! Comma-separated header lists (RFC 9110 §5.6.1), the shape of `Connection`, `Transfer-Encoding` and
//! `Keep-Alive`: items may be spread over several field lines and are separated by commas with optional
//! whitespace around them. Empty items are allowed by the grammar and skipped.

use http::header::AsHeaderName;
use http::HeaderMap;

/// Trim optional whitespace (SP / HTAB) from both ends.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Every non-empty item of the list `name`, over all its field lines, trimmed.
pub(crate) fn items<'a, K: AsHeaderName>(
    headers: &'a HeaderMap,
    name: K,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .get_all(name)
        .into_iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(trim_ows)
        .filter(|item| !item.is_empty())
}

/// `true` when the list `name` holds `token` (ASCII case-insensitive).
pub(crate) fn has_token<K: AsHeaderName>(headers: &HeaderMap, name: K, token: &str) -> bool {
    items(headers, name).any(|item| item.eq_ignore_ascii_case(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h1_list_items_span_field_lines_and_skip_empty_ones() {
        let mut h = HeaderMap::new();
        h.append("connection", " keep-alive ,, Upgrade".parse().unwrap());
        h.append("connection", "\tCLOSE".parse().unwrap());
        let got: Vec<&[u8]> = items(&h, "connection").collect();
        assert_eq!(got, vec![&b"keep-alive"[..], b"Upgrade", b"CLOSE"]);
        assert!(has_token(&h, "connection", "close"));
        assert!(!has_token(&h, "connection", "clo"));
        assert_eq!(trim_ows(b" \t "), b"");
    }
}
