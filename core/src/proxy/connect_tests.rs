//! The `CONNECT` stage: request bytes, tunnel boundary, typed failures, deadline.

use core::time::Duration;

use bytes::BytesMut;

use super::{ConnectStage, ProxyError, ProxyUrl, MAX_CONNECT_HEAD};
use crate::error::ErrorKind;
use crate::stage::{Stage, StageEvent};
use crate::time::Instant;

const DEADLINE: Instant = Instant::from_millis(10_000);

fn stage(proxy: &str) -> ConnectStage {
    ConnectStage::new(
        "example.com",
        443,
        &ProxyUrl::parse(proxy).unwrap(),
        "Plue/1.0",
        DEADLINE,
    )
    .unwrap()
}

fn transmit(s: &mut impl Stage) -> Vec<u8> {
    let mut out = BytesMut::new();
    s.poll_transmit(&mut out);
    out.to_vec()
}

fn read(s: &mut impl Stage) -> Vec<u8> {
    let mut out = BytesMut::new();
    s.poll_read(&mut out);
    out.to_vec()
}

fn events(s: &mut impl Stage) -> Vec<StageEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn established() -> StageEvent {
    StageEvent::Established { alpn: None }
}

#[test]
fn proxy_connect_request_has_host_auth_and_holds_writes() {
    let mut s = stage("http://al%40ice:s3cret@proxy:3128");
    s.write(b"ClientHello").unwrap();
    let sent = String::from_utf8(transmit(&mut s)).unwrap();
    assert_eq!(
        sent,
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\
         Proxy-Authorization: Basic YWxAaWNlOnMzY3JldA==\r\nUser-Agent: Plue/1.0\r\n\r\n"
    );
    // Bytes from above wait for the tunnel.
    assert!(transmit(&mut s).is_empty());
    s.handle_input(
        Instant::ZERO,
        b"HTTP/1.1 200 Connection established\r\n\r\n",
    )
    .unwrap();
    assert_eq!(events(&mut s), vec![established()]);
    assert_eq!(transmit(&mut s), b"ClientHello");
    s.write(b" more").unwrap();
    assert_eq!(transmit(&mut s), b" more");
    // No credentials, no header; IPv6 targets keep brackets.
    let mut s = ConnectStage::new(
        "[::1]",
        8443,
        &ProxyUrl::parse("proxy:3128").unwrap(),
        "",
        DEADLINE,
    )
    .unwrap();
    assert_eq!(
        transmit(&mut s),
        b"CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n"
    );
}

#[test]
fn proxy_connect_every_byte_after_2xx_belongs_to_the_tunnel() {
    // A 200 that claims a body: the "body" is tunnel data, never read as a body.
    let reply: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhellothe-tls-bytes";
    for split in 0..=reply.len() {
        let mut s = stage("http://proxy:3128");
        let _ = transmit(&mut s);
        s.handle_input(Instant::ZERO, &reply[..split]).unwrap();
        s.handle_input(Instant::ZERO, &reply[split..]).unwrap();
        assert_eq!(events(&mut s), vec![established()], "split {split}");
        assert_eq!(read(&mut s), b"hellothe-tls-bytes", "split {split}");
        s.handle_input(Instant::ZERO, b"HTTP/1.1 200 OK\r\n\r\n")
            .unwrap();
        assert_eq!(read(&mut s), b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(s.poll_timeout(), None);
    }
    // Byte by byte, with an interim 100 first.
    let reply: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nVia: x\r\n\r\n\x16\x03";
    let mut s = stage("http://proxy:3128");
    for b in reply {
        s.handle_input(Instant::ZERO, core::slice::from_ref(b))
            .unwrap();
    }
    assert_eq!(events(&mut s), vec![established()]);
    assert_eq!(read(&mut s), b"\x16\x03");
}

#[test]
fn proxy_connect_refusals_are_typed() {
    for (reply, want) in [
        (
            &b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n"[..],
            ProxyError::AuthRequired {
                credentials_sent: false,
            },
        ),
        (
            &b"HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno!"[..],
            ProxyError::Refused { status: 403 },
        ),
        (
            &b"HTTP/1.1 502 Bad Gateway\r\n\r\n"[..],
            ProxyError::Refused { status: 502 },
        ),
        (
            &b"HTTP/1.1 101 Switching Protocols\r\n\r\n"[..],
            ProxyError::Refused { status: 101 },
        ),
        (&b"SSH-2.0-OpenSSH_9.2\r\n"[..], ProxyError::InvalidResponse),
        (&b"\x05\x00"[..], ProxyError::InvalidResponse),
    ] {
        let mut s = stage("http://proxy:3128");
        assert_eq!(
            s.handle_input(Instant::ZERO, reply),
            Err(ErrorKind::Proxy(want)),
            "{}",
            String::from_utf8_lossy(reply)
        );
        assert!(events(&mut s).is_empty());
        assert!(
            read(&mut s).is_empty(),
            "a refusal's body is never passed up"
        );
        // The failure sticks.
        assert_eq!(s.write(b"x"), Err(ErrorKind::Proxy(want)));
        assert_eq!(s.handle_eof(Instant::ZERO), Err(ErrorKind::Proxy(want)));
        assert_eq!(s.poll_timeout(), None);
    }
    let mut s = stage("http://u:p@proxy:3128");
    assert_eq!(
        s.handle_input(Instant::ZERO, b"HTTP/1.1 407 No\r\n\r\n"),
        Err(ErrorKind::Proxy(ProxyError::AuthRequired {
            credentials_sent: true
        }))
    );
}

#[test]
fn proxy_connect_head_is_bounded() {
    let mut s = stage("http://proxy:3128");
    s.handle_input(Instant::ZERO, b"HTTP/1.1 200 OK\r\n")
        .unwrap();
    let line = format!("X-Pad: {}\r\n", "a".repeat(1000));
    let mut result = Ok(());
    for _ in 0..(MAX_CONNECT_HEAD / line.len() + 2) {
        result = s.handle_input(Instant::ZERO, line.as_bytes());
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(ErrorKind::Proxy(ProxyError::InvalidResponse)));
}

#[test]
fn proxy_connect_close_and_deadline() {
    let mut s = stage("http://proxy:3128");
    s.handle_input(Instant::ZERO, b"HTTP/1.1 200").unwrap();
    assert_eq!(
        s.handle_eof(Instant::ZERO),
        Err(ErrorKind::Proxy(ProxyError::ClosedDuringHandshake))
    );

    let mut s = stage("http://proxy:3128");
    assert_eq!(s.poll_timeout(), Some(DEADLINE));
    s.handle_timeout(Instant::from_millis(9_999)).unwrap();
    assert_eq!(
        s.handle_timeout(DEADLINE),
        Err(ErrorKind::Proxy(ProxyError::HandshakeTimeout))
    );

    // After the handshake the deadline no longer applies, and EOF ends the tunnel cleanly once.
    let mut s = stage("http://proxy:3128");
    s.handle_input(Instant::ZERO, b"HTTP/1.1 200 OK\r\n\r\n")
        .unwrap();
    s.handle_timeout(DEADLINE + Duration::from_secs(60))
        .unwrap();
    s.handle_eof(Instant::ZERO).unwrap();
    s.handle_eof(Instant::ZERO).unwrap();
    assert_eq!(
        events(&mut s),
        vec![established(), StageEvent::Eof { clean: true }]
    );
}

#[test]
fn proxy_connect_refuses_an_injectable_host_and_never_shows_credentials() {
    let proxy = ProxyUrl::parse("http://user:hunter2@proxy:3128").unwrap();
    for host in ["a\r\nX: y", "a b", "", "a/b", "u@h"] {
        assert!(
            ConnectStage::new(host, 443, &proxy, "", DEADLINE).is_err(),
            "{host:?}"
        );
    }
    let mut s = ConnectStage::new("h", 443, &proxy, "a\r\nX: injected", DEADLINE).unwrap();
    // Not even while the handshake bytes wait to be sent.
    let pending = format!("{s:?}");
    assert!(
        !pending.contains("dXNlcjpodW50ZXIy") && !pending.contains("hunter2"),
        "{pending}"
    );
    let sent = String::from_utf8(transmit(&mut s)).unwrap();
    assert!(!sent.contains("injected"), "{sent}");
    let err = s
        .handle_input(Instant::ZERO, b"HTTP/1.1 407 x\r\n\r\n")
        .unwrap_err();
    let shown = format!("{s:?} {err:?} {err}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("aHVudGVyMg"), "{shown}"); // no base64 of the secret either
    assert!(!shown.contains("dXNlcjpodW50ZXIy"), "{shown}");
}
