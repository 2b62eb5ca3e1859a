//! Redirects (RFC 9110 §15.4): which responses are followed and what the next request looks like.
//!
//! - 301, 302, 303, 307 and 308 with a `Location` are followed; anything else is the final response.
//! - 303 becomes GET (HEAD stays HEAD) without a body; so do 301 and 302 after a POST (what browsers and every
//!   client do). 307 and 308 repeat the method and body (bodies are always complete, hence replayable).
//! - `Authorization`, `Cookie` and `Proxy-Authorization` are dropped when the host or port changes or the scheme
//!   downgrades: credentials never leak to another origin.
//! - A relative `Location` is resolved against the current URL (RFC 3986 §5.2, dot segments removed).

use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, PROXY_AUTHORIZATION};
use http::Method;

use crate::error::ErrorKind;
use crate::request::{Body, Request};
use crate::response::ResponseHead;
use crate::url::{Scheme, Url};

/// `true` for the statuses this client follows.
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// The request to send next for a redirect response, or `None` when `head` is not a followable redirect (no
/// `Location`, or not a redirect status). An unusable `Location` is an error.
pub fn next_request(req: &Request, head: &ResponseHead) -> Option<Result<Request, ErrorKind>> {
    let status = head.status.as_u16();
    if !is_redirect(status) {
        return None;
    }
    let location = head.header("location")?;
    Some(build_next(req, status, location))
}

fn build_next(req: &Request, status: u16, location: &str) -> Result<Request, ErrorKind> {
    let target = target(req.url(), location)?;
    let mut next = req.clone();
    let to_get = status == 303 && *req.method() != Method::HEAD
        || matches!(status, 301 | 302) && *req.method() == Method::POST;
    if to_get {
        next.set_method_and_body(Method::GET, Body::Empty);
        let h = next.headers_mut();
        h.remove(CONTENT_TYPE);
        h.remove(CONTENT_LENGTH);
    }
    Ok(retarget(&next, target))
}

/// Where a redirect from `current` to `location` goes: resolved, and refused from `https` to `http`.
/// The one rule for requests and event streams alike.
pub fn target(current: &Url, location: &str) -> Result<Url, ErrorKind> {
    let target = resolve(current, location)?;
    if current.scheme() == Scheme::Https && target.scheme() == Scheme::Http {
        // What was asked for over TLS must not continue in the clear.
        return Err(ErrorKind::InsecureRedirect {
            to: target.redacted(),
        });
    }
    Ok(target)
}

/// `req` sent to `target` instead: `Authorization`, `Cookie` and `Proxy-Authorization` are dropped when the host
/// or port changes or the scheme downgrades.
pub fn retarget(req: &Request, target: Url) -> Request {
    let mut next = req.clone();
    let cur = req.url();
    let downgrade = cur.scheme() == Scheme::Https && target.scheme() == Scheme::Http;
    if cur.host() != target.host() || cur.port() != target.port() || downgrade {
        let h = next.headers_mut();
        h.remove(AUTHORIZATION);
        h.remove(COOKIE);
        h.remove(PROXY_AUTHORIZATION);
    }
    next.set_url(target);
    next
}

/// Resolve a `Location` value against the URL that answered it.
pub fn resolve(base: &Url, location: &str) -> Result<Url, ErrorKind> {
    let location = location.trim();
    let loc = match location.find('#') {
        Some(i) => &location[..i],
        None => location,
    };
    if loc.contains("://") {
        return Url::parse(loc);
    }
    let origin = format!("{}://{}", base.scheme().as_str(), base.authority());
    if let Some(rest) = loc.strip_prefix("//") {
        return Url::parse(&format!("{}://{rest}", base.scheme().as_str()));
    }
    if loc.is_empty() {
        return Url::parse(&format!("{origin}{}", base.path_and_query()));
    }
    if let Some(q) = loc.strip_prefix('?') {
        return Url::parse(&format!("{origin}{}?{q}", base.path()));
    }
    let (path, query) = match loc.find('?') {
        Some(i) => (&loc[..i], Some(&loc[i..])),
        None => (loc, None),
    };
    let merged = if path.starts_with('/') {
        path.to_string()
    } else {
        let dir = &base.path()[..base.path().rfind('/').map_or(0, |i| i + 1)];
        format!("{dir}{path}")
    };
    let path = remove_dot_segments(&merged);
    Url::parse(&format!("{origin}{path}{}", query.unwrap_or("")))
}

/// RFC 3986 §5.2.4, on an absolute path.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    let last = segs.len().saturating_sub(1);
    let mut trailing_slash = false;
    for (i, seg) in segs.iter().enumerate() {
        match *seg {
            "." => trailing_slash = i == last,
            ".." => {
                out.pop();
                trailing_slash = i == last;
            }
            s => {
                out.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut s = String::with_capacity(path.len());
    for seg in &out {
        s.push('/');
        s.push_str(seg);
    }
    if trailing_slash || s.is_empty() {
        s.push('/');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(status: u16, location: &str) -> ResponseHead {
        crate::response::test_head(status, &[("location", location)])
    }

    #[test]
    fn redirect_relative_locations_resolve() {
        let base = Url::parse("http://h:8/a/b/c?x=1").unwrap();
        let r = |l: &str| resolve(&base, l).unwrap().redacted();
        assert_eq!(r("/x"), "http://h:8/x");
        assert_eq!(r("d"), "http://h:8/a/b/d");
        assert_eq!(r("../d?y=2"), "http://h:8/a/d?y=2");
        assert_eq!(r("./"), "http://h:8/a/b/");
        assert_eq!(r("?z"), "http://h:8/a/b/c?z");
        assert_eq!(r("//other/p"), "http://other/p");
        assert_eq!(r("http://o:9/q#frag"), "http://o:9/q");
        assert_eq!(r("../../../../x"), "http://h:8/x");
    }

    #[test]
    fn redirect_303_becomes_get_without_body() {
        let req = Request::builder(Method::POST, "http://h/form")
            .json(&1)
            .build()
            .unwrap();
        let next = next_request(&req, &head(303, "/done")).unwrap().unwrap();
        assert_eq!(*next.method(), Method::GET);
        assert!(next.body().is_empty());
        assert!(next.headers().get(CONTENT_TYPE).is_none());
        assert_eq!(next.url().redacted(), "http://h/done");
        let next = next_request(&req, &head(302, "/done")).unwrap().unwrap();
        assert_eq!(*next.method(), Method::GET);
        let next = next_request(&req, &head(307, "/again")).unwrap().unwrap();
        assert_eq!(*next.method(), Method::POST);
        assert_eq!(next.body().as_bytes(), b"1");
    }

    #[test]
    fn redirect_drops_authorization_cross_host_only() {
        let req = Request::builder(Method::GET, "http://h/a")
            .header("Authorization", "Bearer t")
            .build()
            .unwrap();
        let same = next_request(&req, &head(301, "/b")).unwrap().unwrap();
        assert!(same.headers().get(AUTHORIZATION).is_some());
        let other = next_request(&req, &head(301, "http://evil/b"))
            .unwrap()
            .unwrap();
        assert!(other.headers().get(AUTHORIZATION).is_none());
        let port = next_request(&req, &head(308, "http://h:81/b"))
            .unwrap()
            .unwrap();
        assert!(port.headers().get(AUTHORIZATION).is_none());
        assert!(next_request(&req, &head(300, "/b")).is_none());
        // http → https is followed; https → http is refused.
        let up = next_request(&req, &head(302, "https://h/b"))
            .unwrap()
            .unwrap();
        assert_eq!(up.url().redacted(), "https://h/b");
        assert_eq!(
            next_request(&up, &head(302, "http://h/c")).unwrap(),
            Err(ErrorKind::InsecureRedirect {
                to: "http://h/c".into()
            })
        );
    }
}
