//! A counting global allocator: heap allocations, bytes allocated and live bytes, for the whole process.
//!
//! A bench binary installs it with `#[global_allocator] static A: CountingAlloc = CountingAlloc;` and reads
//! [`snapshot`] before and after a measured run. Every thread counts (runtime worker threads are client cost
//! too). The counters are relaxed atomics: a few nanoseconds per allocation, paid alike by every client.
//!
//! `unsafe` is allowed in the benches crate only, and only here: `GlobalAlloc` is an unsafe trait. The
//! implementation only forwards to [`System`] and adds counters, so it upholds `GlobalAlloc`'s contract
//! exactly as far as `System` does.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static ALLOC_BYTES: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// [`System`] plus counters. Reallocation counts as one allocation of the new size (it may move the block).
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

fn grew(bytes: usize) {
    ALLOCS.fetch_add(1, Relaxed);
    ALLOC_BYTES.fetch_add(bytes as u64, Relaxed);
    LIVE.fetch_add(bytes, Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counters have no effect
// on the memory handed out.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
            grew(new_size);
        }
        p
    }
}

/// The counters at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllocSnapshot {
    /// Allocations (and reallocations) since the process started.
    pub allocs: u64,
    /// Bytes requested by those allocations.
    pub bytes: u64,
    /// Bytes allocated and not yet freed.
    pub live: usize,
}

impl AllocSnapshot {
    /// Allocations and bytes between `earlier` and `self`.
    pub fn since(&self, earlier: &AllocSnapshot) -> (u64, u64) {
        (
            self.allocs.saturating_sub(earlier.allocs),
            self.bytes.saturating_sub(earlier.bytes),
        )
    }
}

/// The counters now (all zero when [`CountingAlloc`] is not the global allocator).
pub fn snapshot() -> AllocSnapshot {
    AllocSnapshot {
        allocs: ALLOCS.load(Relaxed),
        bytes: ALLOC_BYTES.load(Relaxed),
        live: LIVE.load(Relaxed),
    }
}

/// Whether the counting allocator is installed (something allocated through it).
pub fn installed() -> bool {
    let v: Vec<u8> = Vec::with_capacity(1);
    drop(v);
    ALLOCS.load(Relaxed) > 0
}
