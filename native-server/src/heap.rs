//! Giving freed memory back to the operating system.
//!
//! Building a vector segment allocates hundreds of megabytes of temporaries for a million
//! vectors (the graph grown with room for every link, then packed) and frees them when the
//! segment is installed, along with the fresh tier's codes. glibc keeps memory freed
//! inside its heap for reuse, so those pages stay resident unless the heap's top happens to be
//! free; after a build they are scattered below the segment's own arrays. The indexer asks for
//! them to be returned once a round of builds is done, and the server fixes the size from which
//! large buffers get mappings of their own (given back whole when freed) at startup.

/// Returns every whole free page of the allocator's heap to the operating system (glibc's
/// `malloc_trim`). Takes milliseconds for a heap of gigabytes; call it after large frees, not
/// per request. Does nothing where the allocator is not glibc's.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_free_memory() {
    // SAFETY: `malloc_trim` takes no pointers and is thread-safe (it locks each arena); its
    // result only says whether anything was released.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// See the glibc version: other allocators return memory on their own terms.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() {}

/// Allocations of at least this many bytes get a mapping of their own, unmapped when freed.
pub const OWN_MAPPING_BYTES: usize = 4 << 20;

/// Fixes the size from which glibc serves an allocation from a mapping of its own at
/// [`OWN_MAPPING_BYTES`]. By default glibc raises that threshold after each large free (up to
/// 32 MiB), so later large buffers — a segment build's temporaries, a fresh tier's code
/// arrays — come from the heap instead, and freeing them leaves holes between live data that
/// stay resident (at 100 k concepts with vectors: 26.7 MB free inside the heap after a build,
/// against 1.7 MB with the threshold fixed; 119.2 against 111.6 MB resident). Call once at
/// startup, before the engine allocates; does nothing where the allocator is not glibc's.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn configure_allocator() {
    // SAFETY: `mallopt` takes no pointers; setting a threshold only changes where later
    // allocations come from. Its result only says whether the value was accepted (4 MiB is in
    // its range).
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, OWN_MAPPING_BYTES as libc::c_int);
    }
}

/// See the glibc version.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn configure_allocator() {}

/// This process's resident memory in bytes (from `/proc/self/statm`; 0 where there is none).
pub fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::resident_bytes;

    #[test]
    fn freed_pages_below_live_memory_go_back() {
        // 96 MiB in small blocks, then one more block that stays: the others are freed below
        // it, where the heap cannot shrink from its top on its own.
        let mut blocks: Vec<Vec<u8>> = (0..96 * 1024).map(|i| vec![i as u8; 1024]).collect();
        let pin = vec![1u8; 1024];
        let full = resident_bytes();
        blocks.clear();
        blocks.shrink_to_fit();
        let freed = resident_bytes();
        super::release_free_memory();
        let released = resident_bytes();
        assert!(
            released + 64 * 1024 * 1024 < full,
            "resident {full} with the blocks, {freed} after freeing them, {released} after release"
        );
        assert_eq!(pin[0], 1);
    }
}
