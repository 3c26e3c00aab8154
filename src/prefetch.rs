//! Cache prefetch hints, for a driver that knows its next inputs ahead
//! (the simulator: a large run waits on memory, each event touching a
//! random node's tables). A hint never reads through its pointer and
//! changes nothing but timing; on other targets than x86-64 it is a no-op.

/// Asks for the cache line holding `p`.
#[inline(always)]
pub fn line<T: ?Sized>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults, whatever the address.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Asks for the lines of `s`, at most `max_lines` of them.
#[inline(always)]
pub fn slice<T>(s: &[T], max_lines: usize) {
    let bytes = std::mem::size_of_val(s);
    let p = s.as_ptr() as *const u8;
    for k in 0..bytes.div_ceil(64).min(max_lines) {
        line(p.wrapping_add(k * 64));
    }
}
