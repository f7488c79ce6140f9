//! Giving freed memory back to the operating system.
//!
//! Building a vector segment allocates hundreds of megabytes of temporaries for a million
//! vectors (instant-distance's build state, the graph's stored form while it is packed) and frees
//! them when the segment is installed, along with the fresh tier's codes. glibc keeps memory freed
//! inside its heap for reuse, so those pages stay resident unless the heap's top happens to be
//! free; after a build they are scattered below the segment's own arrays. The indexer asks for
//! them to be returned once a round of builds is done.

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
