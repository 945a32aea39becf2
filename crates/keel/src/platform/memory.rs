//! Giving freed memory back to the operating system.
//!
//! Building the router builds the OpenAPI document as a tree (some 15 MB of small allocations
//! for a 450 KB document), and loading the CMDB graph reads every CI and relationship into
//! rows that are dropped once the graph is built. glibc keeps freed memory in its arenas
//! unless it lies at the top of the heap, so without a trim an idle server stays resident at
//! that start-up peak. `malloc_trim(0)` hands the free pages back (with `madvise`); live
//! allocations are untouched. This is the one place Keel uses `unsafe` (ADR 0016).

/// Return the allocator's free pages to the system. Call at quiet moments (after start-up
/// work), not on request paths: glibc walks and locks every arena.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release_unused() {
    // SAFETY: malloc_trim takes a padding size and has no other preconditions; it only
    // returns memory that is already free.
    let released = unsafe { libc::malloc_trim(0) } != 0;
    tracing::debug!(released, "returned free heap pages to the system");
}

/// Other allocators (musl, macOS, Windows) keep no such reserve, or offer no such call.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_unused() {}
