//! The simulation's TLS: a seed replays byte for byte, faults give typed errors, and the invariants hold.

use plue_http_core::error::{ErrorKind, Phase, TlsReason};

use super::tls::{run, TlsFault};

#[test]
fn sim_tls_seed_replays_byte_for_byte() {
    let a = run(42, TlsFault::None);
    let b = run(42, TlsFault::None);
    assert!(!a.transcript.is_empty());
    assert_eq!(
        a.transcript, b.transcript,
        "a TLS seed must replay identically"
    );
    assert_eq!(
        a.outcomes,
        vec![Ok((200, b"ok".to_vec())), Ok((200, b"ok".to_vec()))]
    );
    // Keep-alive over TLS: one connection, one handshake.
    assert_eq!(a.connects, 1);
    assert!(!a.request_before_handshake);
    // Another seed: other randoms and keys, so other bytes.
    let c = run(43, TlsFault::None);
    assert_ne!(a.transcript, c.transcript);
    assert_eq!(c.outcomes, a.outcomes);
}

#[test]
fn sim_tls_faults_are_typed_and_never_reuse_a_broken_connection() {
    for seed in 0..8 {
        let t = run(seed, TlsFault::Truncation);
        assert_eq!(
            t.outcomes[0],
            Err(ErrorKind::Tls {
                host: "127.0.0.1".into(),
                reason: TlsReason::Truncated
            }),
            "seed {seed}"
        );
        assert_eq!(t.connects, 2, "seed {seed}: a new connection after the cut");

        let t = run(seed, TlsFault::AlertMidBody);
        assert_eq!(
            t.outcomes[0],
            Err(ErrorKind::Tls {
                host: "127.0.0.1".into(),
                reason: TlsReason::Alert {
                    description: "bad_record_mac".into()
                }
            }),
            "seed {seed}"
        );
        assert!(!t.reused_after_alert, "seed {seed}");
        assert_eq!(t.connects, 2, "seed {seed}");

        let t = run(seed, TlsFault::CorruptedRecord);
        assert!(
            matches!(
                &t.outcomes[0],
                Err(ErrorKind::Tls {
                    reason: TlsReason::InvalidMessage { .. },
                    ..
                })
            ),
            "seed {seed}: {:?}",
            t.outcomes
        );
        assert!(!t.reused_after_alert, "seed {seed}");

        let t = run(seed, TlsFault::HandshakeStall);
        assert_eq!(
            t.outcomes[0],
            Err(ErrorKind::Timeout {
                phase: Phase::Connect
            }),
            "seed {seed}"
        );
        assert!(!t.request_before_handshake, "seed {seed}");
        assert_eq!(
            t.connects, 2,
            "seed {seed}: each request tried its own handshake"
        );
    }
}
