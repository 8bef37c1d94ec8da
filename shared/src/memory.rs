//! Keeps the allocator from holding on to password-hashing memory.

/// Allocations above this size get pages of their own, returned on free.
const MMAP_THRESHOLD: i32 = 1 << 20;

/// Each argon2id hash allocates 19 MiB. glibc's default raises its mmap
/// threshold after the first such block is freed, and from then on keeps the
/// blocks in per-thread arenas: an auth instance grew to 120 MB over 20
/// sequential logins. A fixed threshold hands every hash's memory back.
pub fn return_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called at
    // start-up, before the runtime starts other threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}
