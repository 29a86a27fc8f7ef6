//! Gives freed heap back to the system. glibc's allocator keeps freed chunks inside its heaps
//! resident until the top of a heap is free; an operator's heap is long-lived cache entries
//! interleaved with short-lived request and watch buffers, so without this the resident size
//! tracks the most the heap ever held plus the holes between live objects, not what is live.
//! `malloc_trim` returns whole free pages from anywhere in the heaps (`MADV_DONTNEED`); its
//! cost is a walk over the free lists, a few milliseconds for a heap of tens of MiB.

use std::time::Duration;

/// Trims every `every` until the task is dropped; does nothing where the allocator is not glibc's.
pub async fn trim_periodically(every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        trim();
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only walks and releases the allocator's own free memory; it takes
    // the allocator's locks itself and touches no memory the program holds.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
