//! Distance kernels: the dot products of `f32` vectors and of one-byte codes, run as AVX2 code
//! where the CPU has it, and the cosine and inverse norm built on them.

/// The AVX2 instructions, if this CPU has them (checked once).
#[cfg(target_arch = "x86_64")]
pub(super) fn avx2() -> Option<pulp::x86::V3> {
    static V3: std::sync::OnceLock<Option<pulp::x86::V3>> = std::sync::OnceLock::new();
    *V3.get_or_init(pulp::x86::V3::try_new)
}

/// Dot product of two vectors (of the shorter's length).
///
/// Where the CPU has AVX2 it runs in 256-bit registers (x86-64-v3, dispatched at run time in
/// safe code by `pulp`); elsewhere as the portable loop below. Both do the same operations in
/// the same order per lane (no fused multiply-adds), so they answer bit for bit alike.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = avx2() {
        return simd.vectorize(
            #[inline(always)]
            || x86::dot_f32(simd, a, b),
        );
    }
    dot_f32(a, b)
}

/// The portable dot product: 32 independent accumulators (lane `i` takes components `i`,
/// `i + 32`, ...; four registers of eight lanes in the AVX2 kernel, so no addition waits for
/// the one before), folded to eight lanes, summed pairwise, then the tail.
pub(super) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 32];
    let (ca, ra) = a.as_chunks::<32>();
    let (cb, rb) = b.as_chunks::<32>();
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..32 {
            acc[i] += x[i] * y[i];
        }
    }
    let lanes: [f32; 8] =
        std::array::from_fn(|i| (acc[i] + acc[8 + i]) + (acc[16 + i] + acc[24 + i]));
    sum_lanes_f32(lanes) + dot_f32_tail(ra, rb)
}

pub(super) fn dot_f32_tail(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub(super) fn sum_lanes_f32(acc: [f32; 8]) -> f32 {
    (acc[0] + acc[4]) + (acc[1] + acc[5]) + (acc[2] + acc[6]) + (acc[3] + acc[7])
}

/// Starts loading `items` into the cache, every line of them, without waiting: a search asks
/// for the codes of all the neighbours it is about to score, so that their cache misses overlap
/// instead of each distance waiting for its own (on workload 10, 384-d codes, it doubled the
/// queries per second at a high effort). A hint only: it changes nothing. Where there is no
/// prefetch instruction it reads the first and last item instead (loads the out-of-order core
/// overlaps, though less well).
#[inline]
pub(super) fn prefetch<T: Copy>(items: &[T]) {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = avx2() {
        let bytes = std::mem::size_of_val(items);
        let start = items.as_ptr().cast::<i8>();
        // Every 64 bytes, and the last byte (the items need not start on a line).
        for offset in (0..bytes).step_by(64).chain(bytes.checked_sub(1)) {
            simd.sse
                ._mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(start.wrapping_add(offset));
        }
        return;
    }
    std::hint::black_box((items.first().copied(), items.last().copied()));
}

/// Dot product of two quantized vectors, in integers (exact; `DIMENSION_MAX` · 128² fits an i32,
/// so any order of the sums gives the same answer). Half of an insertion's time and most of a
/// graph search's goes here.
pub(super) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = avx2() {
        return simd.vectorize(
            #[inline(always)]
            || x86::dot_i8(simd, a, b),
        );
    }
    dot_i8_portable(a, b)
}

pub(super) fn dot_i8_portable(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum()
}

/// The kernels written with AVX2 instructions (through `pulp`'s safe wrappers). Left to the
/// compiler, the same loops came out two lanes wide for floats and with a 32-bit multiply per
/// component for codes: 19.7 and 11.9 ns per 128-d dot product in cache here, now 11 and 6.1.
#[cfg(target_arch = "x86_64")]
pub(super) mod x86 {
    use core::arch::x86_64::{__m128i, __m256, __m256i};
    use pulp::x86::V3;

    /// Four registers of eight lanes, lane `i` of register `j` exactly as
    /// [`super::dot_f32`]'s accumulator `8 j + i`, folded as it folds them.
    #[inline(always)]
    pub(super) fn dot_f32(simd: V3, a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let (ca, ra) = a.as_chunks::<32>();
        let (cb, rb) = b.as_chunks::<32>();
        let avx = simd.avx;
        let mut acc = [avx._mm256_setzero_ps(); 4];
        for (x, y) in ca.iter().zip(cb) {
            let (x, y): ([__m256; 4], [__m256; 4]) = (pulp::cast(*x), pulp::cast(*y));
            for j in 0..4 {
                acc[j] = avx._mm256_add_ps(acc[j], avx._mm256_mul_ps(x[j], y[j]));
            }
        }
        let lanes = avx._mm256_add_ps(
            avx._mm256_add_ps(acc[0], acc[1]),
            avx._mm256_add_ps(acc[2], acc[3]),
        );
        super::sum_lanes_f32(pulp::cast(lanes)) + super::dot_f32_tail(ra, rb)
    }

    /// Sixteen components at a time widened to 16 bits, multiplied and added in pairs into
    /// eight 32-bit lanes (`vpmaddwd`): exact, as every product fits 16 bits and every pair sum
    /// 32.
    #[inline(always)]
    pub(super) fn dot_i8(simd: V3, a: &[i8], b: &[i8]) -> i32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let avx2 = simd.avx2;
        // Two accumulators, so consecutive additions do not wait for each other.
        let (mut even, mut odd) = (
            simd.avx._mm256_setzero_si256(),
            simd.avx._mm256_setzero_si256(),
        );
        let (ca, ra) = a.as_chunks::<32>();
        let (cb, rb) = b.as_chunks::<32>();
        for (x, y) in ca.iter().zip(cb) {
            let (x, y): ([__m128i; 2], [__m128i; 2]) = (pulp::cast(*x), pulp::cast(*y));
            even = avx2._mm256_add_epi32(even, madd(simd, x[0], y[0]));
            odd = avx2._mm256_add_epi32(odd, madd(simd, x[1], y[1]));
        }
        let (ca, ra) = ra.as_chunks::<16>();
        let (cb, rb) = rb.as_chunks::<16>();
        for (x, y) in ca.iter().zip(cb) {
            even = avx2._mm256_add_epi32(even, madd(simd, pulp::cast(*x), pulp::cast(*y)));
        }
        let lanes: [i32; 8] = pulp::cast(avx2._mm256_add_epi32(even, odd));
        lanes.iter().sum::<i32>() + super::dot_i8_portable(ra, rb)
    }

    #[inline(always)]
    fn madd(simd: V3, x: __m128i, y: __m128i) -> __m256i {
        let avx2 = simd.avx2;
        avx2._mm256_madd_epi16(avx2._mm256_cvtepi8_epi16(x), avx2._mm256_cvtepi8_epi16(y))
    }
}

/// A cosine similarity as computed (a dot product of a vector and a unit vector, times the
/// vector's inverse norm), within [-1, 1]: rounding can take it a little past either end (a
/// vector scored against itself gave 1.0000001). `None` if it is not a number at all: new
/// vectors are checked so that this cannot happen (see `model::check_embedding`), but a memory
/// written by an older build may hold one, and such a candidate is never ranked.
pub(crate) fn cosine(computed: f32) -> Option<f32> {
    computed.is_finite().then(|| computed.clamp(-1.0, 1.0))
}

/// 1 / the Euclidean norm of `v` (which the caller has checked is finite and non-zero).
pub fn inv_norm(v: &[f32]) -> f32 {
    let norm = v
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        (1.0 / norm) as f32
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..37).map(|i| (i as f32).sin()).collect();
        let b: Vec<f32> = (0..37).map(|i| (i as f32 * 0.3).cos()).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-4);
    }

    /// The kernels dispatched to AVX2 (where the CPU has it) answer exactly as the baseline
    /// build does: bit for bit for floats, at every length around the vector widths, and at the
    /// codes' extremes.
    #[test]
    fn vectorized_kernels_match_the_baseline_exactly() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for n in (0..=70).chain([127, 128, 129, 255, 256, 257, 1000]) {
            let a: Vec<f32> = (0..n)
                .map(|_| (next() % 2001) as f32 / 1000.0 - 1.0)
                .collect();
            let b: Vec<f32> = (0..n)
                .map(|_| (next() % 2001) as f32 / 1000.0 - 1.0)
                .collect();
            assert_eq!(
                dot(&a, &b).to_bits(),
                dot_f32(&a, &b).to_bits(),
                "f32 length {n}"
            );
            let qa: Vec<i8> = (0..n).map(|_| (next() % 256) as u8 as i8).collect();
            let qb: Vec<i8> = (0..n).map(|_| (next() % 256) as u8 as i8).collect();
            let naive: i32 = qa
                .iter()
                .zip(&qb)
                .map(|(x, y)| i32::from(*x) * i32::from(*y))
                .sum();
            assert_eq!(dot_i8(&qa, &qb), naive, "i8 length {n}");
            let lows = vec![i8::MIN; n];
            assert_eq!(
                dot_i8(&lows, &lows),
                n as i32 * 128 * 128,
                "extremes, length {n}"
            );
        }
    }
}
