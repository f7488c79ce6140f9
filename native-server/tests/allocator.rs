//! The allocator's configuration (its own process: it sets process-wide allocator state and
//! measures this process's resident memory).

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn large_buffers_go_back_when_freed() {
    use sutra_server::heap::{configure_allocator, resident_bytes};
    const MIB: usize = 1 << 20;
    configure_allocator();
    // Freeing a 24 MiB buffer is what raises glibc's default threshold to 24 MiB.
    drop(std::hint::black_box(vec![1u8; 24 * MIB]));
    // So by default this one would come from the heap, under the small blocks that follow it.
    let big = std::hint::black_box(vec![2u8; 16 * MIB]);
    let pinned: Vec<Vec<u8>> = (0..256).map(|i| vec![i as u8; 1024]).collect();
    let with = resident_bytes();
    drop(big);
    let without = resident_bytes();
    assert!(
        without + 12 * MIB as u64 <= with,
        "resident {with} with the 16 MiB buffer, {without} after freeing it"
    );
    assert_eq!(pinned[255][0], 255);
}
