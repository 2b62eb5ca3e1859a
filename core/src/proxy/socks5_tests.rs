//! The SOCKS5 stage: wire bytes per RFC 1928/1929, tunnel boundary, typed failures, deadline.

use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::BytesMut;

use super::{Credentials, ProxyError, Socks5Stage, SocksReply, SocksTarget};
use crate::error::ErrorKind;
use crate::stage::{Stage, StageEvent};
use crate::time::Instant;

const DEADLINE: Instant = Instant::from_millis(10_000);

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

fn domain(host: &str, port: u16) -> SocksTarget {
    SocksTarget::Domain {
        host: host.into(),
        port,
    }
}

const SUCCESS_V4: &[u8] = &[5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90];

#[test]
fn proxy_socks5_no_auth_domain_handshake() {
    let mut s = Socks5Stage::new(&domain("example.com", 443), None, DEADLINE).unwrap();
    s.write(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(transmit(&mut s), [5, 1, 0]);
    s.handle_input(Instant::ZERO, &[5, 0]).unwrap();
    let mut want = vec![5, 1, 0, 3, 11];
    want.extend_from_slice(b"example.com");
    want.extend_from_slice(&443u16.to_be_bytes());
    assert_eq!(transmit(&mut s), want);
    assert_eq!(s.poll_event(), None);
    // The reply and the first tunnel bytes in one read.
    let mut reply = SUCCESS_V4.to_vec();
    reply.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    s.handle_input(Instant::ZERO, &reply).unwrap();
    assert_eq!(s.poll_event(), Some(StageEvent::Established { alpn: None }));
    assert_eq!(transmit(&mut s), b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(read(&mut s), b"HTTP/1.1 200 OK\r\n");
    s.handle_input(Instant::ZERO, &[5, 0, 0]).unwrap();
    assert_eq!(
        read(&mut s),
        [5, 0, 0],
        "after the handshake every byte is tunnel data"
    );
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn proxy_socks5_user_pass_and_addresses() {
    let creds = Credentials::new("user", "pa55");
    let v6 = SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 8080);
    let mut s = Socks5Stage::new(&SocksTarget::Addr(v6), Some(&creds), DEADLINE).unwrap();
    assert_eq!(transmit(&mut s), [5, 2, 0, 2]);
    s.handle_input(Instant::ZERO, &[5, 2]).unwrap();
    assert_eq!(transmit(&mut s), b"\x01\x04user\x04pa55");
    s.handle_input(Instant::ZERO, &[1, 0]).unwrap();
    let mut want = vec![5, 1, 0, 4];
    want.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    want.extend_from_slice(&8080u16.to_be_bytes());
    assert_eq!(transmit(&mut s), want);
    // A domain-typed bound address, byte by byte.
    let reply = [5, 0, 0, 3, 4, b'h', b'o', b's', b't', 0, 80, b'!'];
    for b in reply {
        s.handle_input(Instant::ZERO, &[b]).unwrap();
    }
    assert_eq!(s.poll_event(), Some(StageEvent::Established { alpn: None }));
    assert_eq!(read(&mut s), b"!");

    // The server may skip authentication even when it was offered.
    let v4 = SocketAddr::new(Ipv4Addr::new(10, 1, 2, 3).into(), 80);
    let mut s = Socks5Stage::new(&SocksTarget::Addr(v4), Some(&creds), DEADLINE).unwrap();
    let _ = transmit(&mut s);
    s.handle_input(Instant::ZERO, &[5, 0]).unwrap();
    assert_eq!(transmit(&mut s), [5, 1, 0, 1, 10, 1, 2, 3, 0, 80]);
    let mut reply = vec![5, 0, 0, 4];
    reply.extend_from_slice(&[0; 18]);
    s.handle_input(Instant::ZERO, &reply).unwrap();
    assert_eq!(s.poll_event(), Some(StageEvent::Established { alpn: None }));
}

#[test]
fn proxy_socks5_target_from_host() {
    assert_eq!(
        SocksTarget::from_host("[::1]", 1),
        SocksTarget::Addr(SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 1))
    );
    assert_eq!(
        SocksTarget::from_host("127.0.0.1", 2),
        SocksTarget::Addr(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 2))
    );
    assert_eq!(SocksTarget::from_host("a.test", 3), domain("a.test", 3));
}

/// Feed a full handshake whose reply to `step` is `bad`; the error is what the stage returns.
fn fail_at(creds: bool, replies: &[&[u8]]) -> ErrorKind {
    let c = Credentials::new("u", "p");
    let mut s = Socks5Stage::new(&domain("h", 1), creds.then_some(&c), DEADLINE).unwrap();
    for r in replies {
        let _ = transmit(&mut s);
        if let Err(e) = s.handle_input(Instant::ZERO, r) {
            assert!(read(&mut s).is_empty());
            assert_eq!(s.poll_event(), None);
            assert_eq!(
                s.handle_input(Instant::ZERO, b"x"),
                Err(e.clone()),
                "sticks"
            );
            return e;
        }
    }
    panic!("no error");
}

#[test]
fn proxy_socks5_failures_are_typed() {
    let p = ErrorKind::Proxy;
    // Wrong version byte at each step, reported from the first byte alone.
    assert_eq!(
        fail_at(false, &[&[4]]),
        p(ProxyError::SocksVersion { got: 4 })
    );
    assert_eq!(
        fail_at(false, &[b"HTTP/1.1 400"]),
        p(ProxyError::SocksVersion { got: b'H' })
    );
    assert_eq!(
        fail_at(false, &[&[5, 0], &[0]]),
        p(ProxyError::SocksVersion { got: 0 })
    );
    assert_eq!(
        fail_at(true, &[&[5, 2], &[9, 0]]),
        p(ProxyError::SocksVersion { got: 9 })
    );
    // Methods.
    assert_eq!(
        fail_at(false, &[&[5, 0xff]]),
        p(ProxyError::SocksNoAcceptableMethod)
    );
    assert_eq!(
        fail_at(false, &[&[5, 2]]),
        p(ProxyError::SocksNoAcceptableMethod)
    );
    assert_eq!(
        fail_at(true, &[&[5, 1]]),
        p(ProxyError::SocksNoAcceptableMethod)
    );
    // Authentication.
    assert_eq!(
        fail_at(true, &[&[5, 2], &[1, 1]]),
        p(ProxyError::SocksAuthFailed)
    );
    // Every reply code, known as soon as REP arrives.
    for code in 1..=255u8 {
        assert_eq!(
            fail_at(false, &[&[5, 0], &[5, code]]),
            p(ProxyError::Socks(SocksReply::from_code(code)))
        );
    }
    // Unknown address type.
    assert_eq!(
        fail_at(false, &[&[5, 0], &[5, 0, 0, 9, 0]]),
        p(ProxyError::SocksProtocol)
    );
}

#[test]
fn proxy_socks5_close_and_deadline() {
    let mut s = Socks5Stage::new(&domain("h", 1), None, DEADLINE).unwrap();
    s.handle_input(Instant::ZERO, &[5, 0, 5, 0, 0, 1, 1])
        .unwrap();
    assert_eq!(
        s.handle_eof(Instant::ZERO),
        Err(ErrorKind::Proxy(ProxyError::ClosedDuringHandshake))
    );
    let mut s = Socks5Stage::new(&domain("h", 1), None, DEADLINE).unwrap();
    assert_eq!(s.poll_timeout(), Some(DEADLINE));
    assert_eq!(
        s.handle_timeout(DEADLINE),
        Err(ErrorKind::Proxy(ProxyError::HandshakeTimeout))
    );
}

#[test]
fn proxy_socks5_refuses_unsendable_values_and_hides_credentials() {
    let long = "x".repeat(256);
    assert_eq!(
        Socks5Stage::new(&domain(&long, 1), None, DEADLINE).unwrap_err(),
        ErrorKind::Proxy(ProxyError::TargetTooLong)
    );
    assert_eq!(
        Socks5Stage::new(
            &domain("h", 1),
            Some(&Credentials::new(&long, "p")),
            DEADLINE
        )
        .unwrap_err(),
        ErrorKind::Proxy(ProxyError::CredentialsTooLong)
    );
    let creds = Credentials::new("user", "hunter2");
    let mut s = Socks5Stage::new(&domain("h", 1), Some(&creds), DEADLINE).unwrap();
    let _ = transmit(&mut s);
    s.handle_input(Instant::ZERO, &[5, 2]).unwrap();
    // The RFC 1929 request waits in the buffer: Debug must not show it.
    let shown = format!("{s:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("104, 117"),
        "{shown}"
    );
}
