//! The scripted proxy against the core's handshake stages, in memory: every fault at every step gives the
//! stage's typed error, a working proxy tunnels a request to the origin, and no request byte ever passes a proxy
//! that did not open a tunnel.

use bytes::BytesMut;
use plue_http_core::proxy::{
    ConnectStage, Credentials, ProxyError, ProxyUrl, Socks5Stage, SocksReply, SocksTarget,
};
use plue_http_core::stage::{Stage, StageEvent};
use plue_http_core::time::Instant;
use plue_http_core::ErrorKind;

use crate::proxy::{ProxyFault, ScriptedProxy, Step, GARBAGE};
use crate::server::{Reply, Route, Script, ScriptedServer, SrvOutput};

const DEADLINE: Instant = Instant::from_millis(10_000);
const REQUEST: &[u8] = b"GET /x HTTP/1.1\r\nhost: a.test\r\n\r\n";

fn proxy(fault: ProxyFault, creds: Option<(&str, &str)>) -> ScriptedProxy {
    let origin = ScriptedServer::new(Script::new().route(Route::new("/x", vec![Reply::ok("hi")])));
    ScriptedProxy::new(origin, fault, creds)
}

/// Move bytes between the stage and the proxy until neither has anything; the stage's first error ends it.
/// Returns the bytes passed up and whether the stage was established.
fn pump(
    stage: &mut dyn Stage,
    p: &mut ScriptedProxy,
    now: Instant,
) -> Result<(Vec<u8>, bool), ErrorKind> {
    let conn = p.accept(now);
    let (mut up, mut established) = (Vec::new(), false);
    loop {
        let mut moved = false;
        let mut out = BytesMut::new();
        if stage.poll_transmit(&mut out) > 0 {
            moved = true;
            p.handle_data(now, conn, &out);
        }
        loop {
            match p.poll_output(now) {
                SrvOutput::Transmit(_, b) => {
                    moved = true;
                    stage.handle_input(now, &b)?;
                }
                SrvOutput::Close(_) | SrvOutput::Reset(_) => {
                    moved = true;
                    stage.handle_eof(now)?;
                }
                SrvOutput::Wait(_) => break,
            }
        }
        let mut read = BytesMut::new();
        moved |= stage.poll_read(&mut read) > 0;
        up.extend_from_slice(&read);
        while let Some(ev) = stage.poll_event() {
            moved = true;
            established |= ev == StageEvent::Established { alpn: None };
        }
        if !moved {
            return Ok((up, established));
        }
    }
}

fn connect_stage(creds: &str) -> ConnectStage {
    let url = ProxyUrl::parse(&format!("http://{creds}proxy:3128")).unwrap();
    let mut s = ConnectStage::new("a.test", 443, &url, "sim", DEADLINE).unwrap();
    s.write(REQUEST).unwrap();
    s
}

fn socks_stage(creds: Option<(&str, &str)>) -> Socks5Stage {
    let c = creds.map(|(u, p)| Credentials::new(u, p));
    let mut s =
        Socks5Stage::new(&SocksTarget::from_host("a.test", 443), c.as_ref(), DEADLINE).unwrap();
    s.write(REQUEST).unwrap();
    s
}

#[test]
fn sim_proxy_tunnels_a_request_to_the_origin() {
    let mut p = proxy(ProxyFault::None, Some(("u", "pw")));
    let (up, established) = pump(&mut connect_stage("u:pw@"), &mut p, Instant::ZERO).unwrap();
    assert!(established);
    let text = String::from_utf8_lossy(&up);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("hi"),
        "{text}"
    );
    let (up, established) =
        pump(&mut socks_stage(Some(("u", "pw"))), &mut p, Instant::ZERO).unwrap();
    assert!(established);
    assert!(String::from_utf8_lossy(&up).ends_with("hi"));
    assert_eq!(p.origin().requests().len(), 2);
    let h = p.handshakes();
    assert_eq!(
        (h[0].protocol, h[0].target.as_deref()),
        ("CONNECT", Some("a.test:443"))
    );
    assert_eq!(
        (h[1].protocol, h[1].target.as_deref()),
        ("SOCKS5", Some("a.test:443"))
    );
    assert!(h.iter().all(|h| h.established));
    assert_eq!(p.leaked(), 0, "the request waited for the tunnel");
}

#[test]
fn sim_proxy_faults_at_each_connect_step_are_typed() {
    for (fault, creds, want) in [
        (
            ProxyFault::CloseAt(Step::Hello),
            "",
            ProxyError::ClosedDuringHandshake,
        ),
        (
            ProxyFault::GarbageAt(Step::Hello),
            "",
            ProxyError::InvalidResponse,
        ),
        (
            ProxyFault::Status(403),
            "",
            ProxyError::Refused { status: 403 },
        ),
        (
            ProxyFault::Status(502),
            "",
            ProxyError::Refused { status: 502 },
        ),
        (
            ProxyFault::None,
            "",
            ProxyError::AuthRequired {
                credentials_sent: false,
            },
        ),
        (
            ProxyFault::None,
            "u:bad@",
            ProxyError::AuthRequired {
                credentials_sent: true,
            },
        ),
    ] {
        let mut p = proxy(fault, Some(("u", "pw")));
        let err = pump(&mut connect_stage(creds), &mut p, Instant::ZERO).unwrap_err();
        assert_eq!(err, ErrorKind::Proxy(want), "{fault:?}");
        assert!(p.origin().requests().is_empty(), "{fault:?}");
        assert_eq!(p.leaked(), 0, "{fault:?}");
        assert_eq!(p.handshakes().len(), 1, "{fault:?}: no second attempt");
    }
}

#[test]
fn sim_proxy_faults_at_each_socks_step_are_typed() {
    let creds = Some(("u", "pw"));
    for (fault, c, want) in [
        (
            ProxyFault::CloseAt(Step::Hello),
            creds,
            ProxyError::ClosedDuringHandshake,
        ),
        (
            ProxyFault::CloseAt(Step::Auth),
            creds,
            ProxyError::ClosedDuringHandshake,
        ),
        (
            ProxyFault::CloseAt(Step::Connect),
            creds,
            ProxyError::ClosedDuringHandshake,
        ),
        (
            ProxyFault::GarbageAt(Step::Hello),
            creds,
            ProxyError::SocksVersion { got: 4 },
        ),
        (
            ProxyFault::GarbageAt(Step::Auth),
            creds,
            ProxyError::SocksVersion { got: 4 },
        ),
        (
            ProxyFault::GarbageAt(Step::Connect),
            creds,
            ProxyError::SocksVersion { got: 4 },
        ),
        (
            ProxyFault::SocksReply(2),
            creds,
            ProxyError::Socks(SocksReply::NotAllowed),
        ),
        (
            ProxyFault::SocksReply(4),
            creds,
            ProxyError::Socks(SocksReply::HostUnreachable),
        ),
        (
            ProxyFault::None,
            Some(("u", "bad")),
            ProxyError::SocksAuthFailed,
        ),
        (ProxyFault::None, None, ProxyError::SocksNoAcceptableMethod),
    ] {
        let mut p = proxy(fault, creds);
        let err = pump(&mut socks_stage(c), &mut p, Instant::ZERO).unwrap_err();
        assert_eq!(err, ErrorKind::Proxy(want), "{fault:?} {c:?}");
        assert!(p.origin().requests().is_empty(), "{fault:?}");
        assert_eq!(p.leaked(), 0, "{fault:?}");
    }
}

#[test]
fn sim_proxy_stalls_end_at_the_deadline() {
    for step in [Step::Hello, Step::Auth, Step::Connect] {
        let mut p = proxy(ProxyFault::StallAt(step), Some(("u", "pw")));
        let mut s = socks_stage(Some(("u", "pw")));
        assert_eq!(pump(&mut s, &mut p, Instant::ZERO), Ok((Vec::new(), false)));
        assert_eq!(s.poll_timeout(), Some(DEADLINE));
        assert_eq!(
            s.handle_timeout(DEADLINE),
            Err(ErrorKind::Proxy(ProxyError::HandshakeTimeout)),
            "{step:?}"
        );
    }
    let mut p = proxy(ProxyFault::StallAt(Step::Hello), None);
    let mut s = connect_stage("");
    assert_eq!(pump(&mut s, &mut p, Instant::ZERO), Ok((Vec::new(), false)));
    assert_eq!(
        s.handle_timeout(DEADLINE),
        Err(ErrorKind::Proxy(ProxyError::HandshakeTimeout))
    );
    assert!(p.origin().requests().is_empty());
}

#[test]
fn sim_proxy_garbage_after_the_tunnel_is_tunnel_data() {
    let mut p = proxy(ProxyFault::GarbageAfterEstablished, None);
    let (up, established) = pump(&mut connect_stage(""), &mut p, Instant::ZERO).unwrap();
    assert!(established);
    assert!(
        up.starts_with(GARBAGE),
        "{:?}",
        String::from_utf8_lossy(&up)
    );
}
