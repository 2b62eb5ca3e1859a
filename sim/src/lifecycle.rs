//! Desktop life in the simulation: network changes, wake-ups from sleep and memory pressure, injected at
//! random points of every seed while the invariants are checked (exactly one terminal event per request, no
//! replayed non-idempotent request, no leaked connection, …).
//!
//! Each connection gets one of two local addresses when it connects; a network change may take address A
//! away, so the machine must fail exactly the connections bound to it. The schedule comes from its own RNG
//! stream (derived from the seed), so the workload of a seed is the same with or without these events.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use plue_http_core::client::{ClientMachine, ConnId, MemoryPressure};
use plue_http_core::rng::Rng;
use plue_http_core::time::Instant;

/// The local address that a network change may take away.
pub const LOCAL_A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20));
/// The local address that stays.
pub const LOCAL_B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 8, 0, 2));

/// One injected event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifeEvent {
    /// The network changed; with `lose_a`, local address [`LOCAL_A`] is gone.
    NetworkChanged {
        /// Whether [`LOCAL_A`] went away.
        lose_a: bool,
    },
    /// The machine woke from sleep.
    Resumed,
    /// The OS asked for memory back.
    Pressure(MemoryPressure),
}

/// Up to three events at random instants in `[0, end]`, from the seed's own stream.
pub fn schedule(seed: u64, end: Instant) -> Vec<(Instant, LifeEvent)> {
    let mut rng = Rng::new(seed ^ 0x6c69_6665_6379_636c);
    let n = rng.below(4);
    let span = end.as_nanos().max(1);
    (0..n)
        .map(|_| {
            let at = Instant::from_nanos(rng.below(span + 1));
            let ev = match rng.below(4) {
                0 => LifeEvent::NetworkChanged { lose_a: true },
                1 => LifeEvent::NetworkChanged { lose_a: false },
                2 => LifeEvent::Resumed,
                _ => LifeEvent::Pressure(if rng.below(2) == 0 {
                    MemoryPressure::Moderate
                } else {
                    MemoryPressure::Critical
                }),
            };
            (at, ev)
        })
        .collect()
}

/// The local address connection `c` is given when it connects.
pub fn local_addr(c: ConnId) -> SocketAddr {
    let ip = if c.0 % 2 == 1 { LOCAL_A } else { LOCAL_B };
    SocketAddr::new(ip, 40_000 + (c.0 % 20_000) as u16)
}

/// Hand `ev` to the machine (drain its outputs afterwards).
pub fn apply(client: &mut ClientMachine, now: Instant, ev: LifeEvent) {
    match ev {
        LifeEvent::NetworkChanged { lose_a } => {
            let gone = if lose_a { vec![LOCAL_A] } else { Vec::new() };
            client.network_changed(now, &gone);
        }
        LifeEvent::Resumed => client.resumed_from_sleep(now),
        LifeEvent::Pressure(level) => {
            client.memory_pressure(now, level);
        }
    }
}
