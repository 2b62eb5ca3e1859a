//! The OS watchers' task: waits on the one descriptor of [`OsWatcher`] through [`Runtime::wait_readable`]
//! and forwards what it reads (network changes, memory pressure) to the driver as commands. Sleep is not
//! watched here: the driver task compares its clocks whenever it wakes anyway (see `task.rs`).

use futures_lite::future::or;
use plue_http_os::{OsEvent, OsWatcher};

use super::chan::{self, Sender};
use super::router::Msg;
use super::runtime::Runtime;

/// Start the watcher task when this system has watchers. Dropping the returned sender stops it (and closes
/// its descriptors).
pub(crate) fn spawn_watcher<R: Runtime>(rt: &R, tx: Sender<Msg>) -> Option<Sender<()>> {
    let mut watcher = match OsWatcher::new() {
        Ok(w) => w,
        Err(e) => {
            tracing::debug!(error = %e, "no OS watcher: network and memory notifications come from the application");
            return None;
        }
    };
    let (close_tx, close_rx) = chan::unbounded::<()>();
    let rt2 = rt.clone();
    rt.spawn(async move {
        loop {
            let stop = async {
                let _ = close_rx.recv().await;
                None
            };
            let ready = async { Some(rt2.wait_readable(watcher.fd()).await) };
            match or(stop, ready).await {
                None => return,
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "OS watcher stopped");
                    return;
                }
            }
            let events = match watcher.poll() {
                Ok(events) => events,
                Err(e) => {
                    tracing::warn!(error = %e, "OS watcher stopped");
                    return;
                }
            };
            for ev in events {
                let msg = match ev {
                    OsEvent::NetworkChanged { gone } => {
                        tracing::debug!(?gone, "network changed (netlink)");
                        Msg::NetworkChanged(gone)
                    }
                    OsEvent::MemoryPressure(level) => {
                        tracing::debug!(?level, "memory pressure (PSI)");
                        Msg::MemoryPressure(level)
                    }
                };
                if tx.try_send(msg).is_err() {
                    return;
                }
            }
        }
    });
    Some(close_tx)
}

/// Hand one OS event to the machine (for drivers that own the machine and poll the watcher themselves, like the
/// mio loop); the caller drains the machine afterwards.
pub fn apply_os_event(
    machine: &mut plue_http_core::client::ClientMachine,
    now: plue_http_core::time::Instant,
    ev: OsEvent,
) {
    match ev {
        OsEvent::NetworkChanged { gone } => drop(machine.network_changed(now, &gone)),
        OsEvent::MemoryPressure(level) => drop(machine.memory_pressure(now, level)),
    }
}
