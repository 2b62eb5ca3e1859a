//! quickcheck properties: the no-proxy matcher against simple oracles, and the handshake stages' split
//! invariance (any split of the proxy's bytes gives the same tunnel) and no panic on arbitrary input.

use core::net::{Ipv4Addr, Ipv6Addr};

use bytes::BytesMut;
use quickcheck::{Arbitrary, Gen, QuickCheck};

use super::{ConnectStage, NoProxy, ProxyUrl, Socks5Stage, SocksTarget};
use crate::error::ErrorKind;
use crate::stage::{Stage, StageEvent};
use crate::time::Instant;

fn quickcheck<A: quickcheck::Testable>(tests: u64, f: A) {
    QuickCheck::new()
        .tests(tests)
        .max_tests(tests * 10)
        .quickcheck(f);
}

/// A DNS name of 1–3 labels from a small alphabet (so suffix collisions actually happen).
#[derive(Debug, Clone)]
struct Name(Vec<String>);

impl Arbitrary for Name {
    fn arbitrary(g: &mut Gen) -> Name {
        let labels = 1 + usize::arbitrary(g) % 3;
        Name(
            (0..labels)
                .map(|_| {
                    let len = 1 + usize::arbitrary(g) % 3;
                    (0..len)
                        .map(|_| *g.choose(&['a', 'b', 'c', '1', '-']).expect("alphabet"))
                        .collect()
                })
                .collect(),
        )
    }
}

impl Name {
    fn text(&self) -> String {
        self.0.join(".")
    }
}

/// The oracle: `host` is `entry` or a name below it.
fn below(host: &str, entry: &str) -> bool {
    host == entry || host.ends_with(&format!(".{entry}"))
}

#[test]
fn proxy_prop_no_proxy_never_panics() {
    fn prop(list: String, host: String, port: u16) -> bool {
        let np = NoProxy::parse(&list);
        let _ = np.matches(&host, port);
        let _ = np.matches(&list, port);
        true
    }
    quickcheck(2000, prop as fn(String, String, u16) -> bool);
}

#[test]
fn proxy_prop_no_proxy_name_suffix_on_label_boundary() {
    fn prop(entry: Name, host: Name, sub: Name, upper: bool, form: u8) -> bool {
        let e = entry.text();
        let written = match form % 4 {
            0 => e.clone(),
            1 => format!(".{e}"),
            2 => format!("*.{e}"),
            _ => format!("{e}."),
        };
        let written = if upper {
            written.to_ascii_uppercase()
        } else {
            written
        };
        let np = NoProxy::parse(&written);
        let h = host.text();
        let child = format!("{}.{e}", sub.text());
        np.matches(&h, 1) == below(&h, &e)
            && np.matches(&child, 1)
            && np.matches(&e, 1)
            && !np.matches(&format!("x{e}"), 1)
    }
    quickcheck(2000, prop as fn(Name, Name, Name, bool, u8) -> bool);
}

#[test]
fn proxy_prop_no_proxy_list_is_any_of_its_entries() {
    fn prop(entries: Vec<Name>, host: Name, seps: Vec<u8>) -> bool {
        let entries: Vec<String> = entries.iter().take(6).map(Name::text).collect();
        let mut list = String::new();
        for (i, e) in entries.iter().enumerate() {
            let sep = [",", " ", ", ", "\t", ",,"][usize::from(*seps.get(i).unwrap_or(&0)) % 5];
            list.push_str(e);
            list.push_str(sep);
        }
        let h = host.text();
        NoProxy::parse(&list).matches(&h, 80) == entries.iter().any(|e| below(&h, e))
    }
    quickcheck(1000, prop as fn(Vec<Name>, Name, Vec<u8>) -> bool);
}

#[test]
fn proxy_prop_no_proxy_ports() {
    fn prop(entry: Name, p1: u16, p2: u16) -> bool {
        let (p1, p2) = (p1.max(1), p2.max(1));
        let e = entry.text();
        let np = NoProxy::parse(&format!("{e}:{p1}"));
        np.matches(&e, p2) == (p1 == p2)
    }
    quickcheck(1000, prop as fn(Name, u16, u16) -> bool);
}

#[test]
fn proxy_prop_no_proxy_cidr_v4_matches_prefix_oracle() {
    fn prop(ip: u32, net: u32, bits: u8) -> bool {
        let bits = bits % 33;
        let np = NoProxy::parse(&format!("{}/{bits}", Ipv4Addr::from(net)));
        let oracle = bits == 0 || (ip >> (32 - u32::from(bits))) == (net >> (32 - u32::from(bits)));
        let host = Ipv4Addr::from(ip).to_string();
        // A near address (same prefix, last bits flipped) as well, so matches are not rare.
        let near = Ipv4Addr::from(net ^ (ip & 0xff)).to_string();
        let near_oracle = bits <= 24;
        np.matches(&host, 1) == oracle && (!near_oracle || np.matches(&near, 1))
    }
    quickcheck(2000, prop as fn(u32, u32, u8) -> bool);
}

#[test]
fn proxy_prop_no_proxy_cidr_v6_matches_prefix_oracle() {
    fn prop(ip: u128, net: u128, bits: u8, bracket: bool) -> bool {
        let bits = bits % 129;
        let np = NoProxy::parse(&format!("{}/{bits}", Ipv6Addr::from(net)));
        let same = bits == 0 || (ip >> (128 - u32::from(bits))) == (net >> (128 - u32::from(bits)));
        let ip = Ipv6Addr::from(ip);
        // IPv4-mapped targets are compared as IPv4, so leave them to the v4 property.
        let oracle = same && ip.to_ipv4_mapped().is_none();
        let host = if bracket {
            format!("[{ip}]")
        } else {
            ip.to_string()
        };
        ip.to_ipv4_mapped().is_some() || np.matches(&host, 1) == oracle
    }
    quickcheck(2000, prop as fn(u128, u128, u8, bool) -> bool);
}

/// Cut `input` into pieces of the given sizes (cycled; zero sizes skipped).
fn pieces<'a>(input: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    let sizes: Vec<usize> = sizes
        .iter()
        .map(|&s| usize::from(s % 16))
        .filter(|&s| s > 0)
        .collect();
    if sizes.is_empty() {
        return vec![input];
    }
    let mut out = Vec::new();
    let mut rest = input;
    for &s in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let n = s.min(rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

/// Feed pieces; the result is the first error, or the events and bytes passed up.
fn run(s: &mut impl Stage, parts: &[&[u8]]) -> Result<(Vec<StageEvent>, Vec<u8>), ErrorKind> {
    for p in parts {
        s.handle_input(Instant::ZERO, p)?;
        // The owner drains after every call: handshake replies go out as soon as they are due.
        s.poll_transmit(&mut BytesMut::new());
    }
    let mut up = BytesMut::new();
    s.poll_read(&mut up);
    Ok((std::iter::from_fn(|| s.poll_event()).collect(), up.to_vec()))
}

fn connect_stage() -> ConnectStage {
    let proxy = ProxyUrl::parse("http://u:p@proxy:3128").unwrap();
    ConnectStage::new("h.test", 443, &proxy, "t", Instant::from_millis(1)).unwrap()
}

#[test]
fn proxy_prop_connect_any_split_gives_the_same_tunnel() {
    fn prop(status: u16, interim: bool, tail: Vec<u8>, sizes: Vec<u8>) -> bool {
        let status = [200, 204, 299, 403, 407, 502][usize::from(status % 6)];
        let mut input = Vec::new();
        if interim {
            input.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        input.extend_from_slice(format!("HTTP/1.1 {status} X\r\nVia: t\r\n\r\n").as_bytes());
        input.extend_from_slice(&tail);
        let whole = run(&mut connect_stage(), &[&input]);
        let split = run(&mut connect_stage(), &pieces(&input, &sizes));
        let bytewise = run(&mut connect_stage(), &pieces(&input, &[1]));
        let expected_ok = (200..300).contains(&status);
        whole == split
            && whole == bytewise
            && match &whole {
                Ok((_, up)) => expected_ok && *up == tail,
                Err(_) => !expected_ok,
            }
    }
    quickcheck(1000, prop as fn(u16, bool, Vec<u8>, Vec<u8>) -> bool);
}

#[test]
fn proxy_prop_stages_never_panic_on_arbitrary_bytes() {
    fn prop(junk: Vec<u8>, sizes: Vec<u8>, creds: bool) -> bool {
        let _ = run(&mut connect_stage(), &pieces(&junk, &sizes));
        let c = super::Credentials::new("u", "p");
        let mut s = Socks5Stage::new(
            &SocksTarget::from_host("h.test", 1),
            creds.then_some(&c),
            Instant::ZERO,
        )
        .unwrap();
        let _ = run(&mut s, &pieces(&junk, &sizes));
        let _ = s.handle_eof(Instant::ZERO);
        true
    }
    quickcheck(2000, prop as fn(Vec<u8>, Vec<u8>, bool) -> bool);
}

#[test]
fn proxy_prop_socks5_any_split_gives_the_same_tunnel() {
    fn prop(auth: bool, atyp: u8, rep: u8, tail: Vec<u8>, sizes: Vec<u8>) -> bool {
        let rep = if rep % 3 == 0 { rep % 10 } else { 0 };
        let mut input: Vec<u8> = if auth { vec![5, 2, 1, 0] } else { vec![5, 0] };
        input.extend_from_slice(&[5, rep, 0]);
        match atyp % 3 {
            0 => input.extend_from_slice(&[1, 10, 0, 0, 1]),
            1 => {
                input.push(4);
                input.extend_from_slice(&[0; 16]);
            }
            _ => input.extend_from_slice(&[3, 3, b'a', b'b', b'c']),
        }
        input.extend_from_slice(&[0x1f, 0x90]);
        input.extend_from_slice(&tail);
        let c = super::Credentials::new("user", "pw");
        let fresh = || {
            Socks5Stage::new(
                &SocksTarget::from_host("h.test", 443),
                auth.then_some(&c),
                Instant::ZERO,
            )
            .unwrap()
        };
        let whole = run(&mut fresh(), &[&input]);
        let split = run(&mut fresh(), &pieces(&input, &sizes));
        let bytewise = run(&mut fresh(), &pieces(&input, &[1]));
        whole == split
            && whole == bytewise
            && match &whole {
                Ok((ev, up)) => rep == 0 && *up == tail && ev.len() == 1,
                Err(_) => rep != 0,
            }
    }
    quickcheck(1000, prop as fn(bool, u8, u8, Vec<u8>, Vec<u8>) -> bool);
}
