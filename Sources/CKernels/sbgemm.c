// Matrix products in bf16 on Intel AMX, for training with a bf16 compute dtype (as QLoRA's
// bnb_4bit_compute_dtype=bfloat16 and torch's autocast do): the operands are rounded to bf16
// (round to nearest even, as torch's float -> bfloat16 conversion), their products are summed
// in f32 by the tile unit, and the result is f32. Operands are packed per call (into per-thread
// scratch, or once into a shared buffer for a product split across the pool): op(A) as bf16 rows padded to a multiple of 32 in k, op(B) in the pair-interleaved
// ("VNNI") layout the tile instruction reads, 16 columns per block. Compiled for AMX with
// function attributes, so the file builds for any x86-64 target; llx_sbgemm_available() says
// at run time whether the CPU has AMX-BF16 and the kernel lets this process use the tile data.
// Without AMX, the llx_sbgemm_dp functions compute the same products with AVX512-BF16's
// vdpbf16ps (AMD Zen 4; llx_sbgemm_dp_available()), from the same packed operands.
#include "CKernels.h"
#include "bf16.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#if defined(__x86_64__)
#include <immintrin.h>
#include <cpuid.h>
#include <unistd.h>
#include <sys/syscall.h>

#define LLX_ARCH_REQ_XCOMP_PERM 0x1023
#define LLX_XFEATURE_XTILEDATA 18

static int amx_state = -1;   // -1 unknown, 0 no, 1 yes

int llx_sbgemm_available(void) {
    if (amx_state >= 0) return amx_state;
    int ok = 0;
    const char *env = getenv("LLX_AMX");
    if (!(env && env[0] == '0')) {
        unsigned a, b, c, d;
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
            int amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1;
            if (amx_bf16 && amx_tile &&
                syscall(SYS_arch_prctl, LLX_ARCH_REQ_XCOMP_PERM, LLX_XFEATURE_XTILEDATA) == 0) ok = 1;
        }
    }
    __atomic_store_n(&amx_state, ok, __ATOMIC_RELEASE);
    return ok;
}

// Whether the packing may convert with AVX512-BF16 (vcvtne2ps2bf16, 32 values an instruction)
// and shuffle with AVX-512 instead of element by element: every CPU with AMX-BF16 has it, but
// it is asked for separately (CPUID.(7,1):EAX[5]). LLX_SBGEMM_PACK=scalar: the scalar packing.
static int vec_state = -1;

static int vec_pack(void) {
    int s = __atomic_load_n(&vec_state, __ATOMIC_ACQUIRE);
    if (s >= 0) return s;
    int ok = 0;
    const char *env = getenv("LLX_SBGEMM_PACK");
    unsigned a, b, c, d;
    if (!(env && strcmp(env, "scalar") == 0) && __get_cpuid_count(7, 1, &a, &b, &c, &d) && ((a >> 5) & 1)) {
        __builtin_cpu_init();
        ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") ? 1 : 0;
    }
    __atomic_store_n(&vec_state, ok, __ATOMIC_RELEASE);
    return ok;
}

#define VEC_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

/// 16 f32 -> their bf16 bits in the low halves of 16 32-bit lanes, by llx_bf16_bits's formula.
VEC_FN static inline __m512i bits_formula(__m512 x) {
    const __m512i u = _mm512_castps_si512(x);
    const __m512i rounded = _mm512_srli_epi32(
        _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)),
                         _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1))), 16);
    const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                  _mm512_set1_epi32(0x7f800000));
    return _mm512_mask_blend_epi32(nan, rounded, quiet);
}

/// 32 f32 (lo: the first 16, hi: the next 16) -> 32 bf16 in order, rounded to nearest even as
/// llx_bf16_bits. vcvtne2ps2bf16 rounds the same way (NaN included) but flushes subnormal
/// inputs to zero, where torch rounds them: a vector holding one takes the formula instead.
VEC_FN static inline __m512i cvt32(__m512 lo, __m512 hi) {
    const __m512i absm = _mm512_set1_epi32(0x7fffffff), one = _mm512_set1_epi32(1), lim = _mm512_set1_epi32(0x007ffffe);
    __mmask16 sl = _mm512_cmple_epu32_mask(_mm512_sub_epi32(_mm512_and_si512(_mm512_castps_si512(lo), absm), one), lim);
    __mmask16 sh = _mm512_cmple_epu32_mask(_mm512_sub_epi32(_mm512_and_si512(_mm512_castps_si512(hi), absm), one), lim);
    if (__builtin_expect((sl | sh) != 0, 0)) {
        __m256i l = _mm512_cvtepi32_epi16(bits_formula(lo)), h = _mm512_cvtepi32_epi16(bits_formula(hi));
        return _mm512_inserti64x4(_mm512_castsi256_si512(l), h, 1);
    }
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/// [a0..a15 | b0..b15] (16-bit) -> [a0 b0 a1 b1 ...]: 16 (k, k+1) pairs, the tile unit's layout.
VEC_FN static inline __m512i pairs(__m512i r) {
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                         23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(idx, r);
}

/// Transposes a 16 x 16 matrix of 32-bit elements held in 16 rows, in place: four rounds of
/// swapping the off-diagonal w x w blocks (w = 8, 4, 2, 1) of every 2w x 2w block.
/// For round w (8, 4, 2, 1 at 0..3), the lanes of the upper row i (lo) and of row i + w (hi) of
/// each pair: column c of the upper row comes from the lower row's c - w where c & w, and the
/// lower row's from the upper row's c + w where not.
static const int32_t swap_idx[4][2][16] __attribute__((aligned(64))) = {
    {{0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23}, {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31}},
    {{0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27}, {4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31}},
    {{0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29}, {2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31}},
    {{0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30}, {1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31}},
};

VEC_FN static inline void transpose16(__m512i r[16]) {
    for (int round = 0, w = 8; round < 4; round++, w >>= 1) {
        const __m512i il = _mm512_load_si512(swap_idx[round][0]), ih = _mm512_load_si512(swap_idx[round][1]);
        for (int i = 0; i < 16; i++) {
            if (i & w) continue;
            __m512i a = r[i], b = r[i + w];
            r[i] = _mm512_permutex2var_epi32(a, il, b);
            r[i + w] = _mm512_permutex2var_epi32(a, ih, b);
        }
    }
}

static inline __mmask16 first_lanes(long n) { return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

/// 16 values of row k of a K-row matrix from column offset p (lanes masked to m), zero past K.
VEC_FN static inline __m512 row16(const float *p, long k, long K, long ld, __mmask16 m) {
    return k < K ? _mm512_maskz_loadu_ps(m, p + k * ld) : _mm512_setzero_ps();
}

/// The vector packing (llx_sbgemm_pack's layout) of op(A)'s rows [i0, i1) (i0 16-aligned; rows
/// up to the next multiple of 16 may be written, as zeros), row i at Ap + (i - row0) * ldp, and
/// of its columns [kb, ke) only (multiples of 32; zero past K).
VEC_FN static void pack_a_vec(int transA, long K, const float *A, long lda, uint16_t *Ap, long ldp, long kb, long ke,
                              long i0, long i1, long row0) {
    if (!transA) {
        for (long i = i0; i < i1; i++) {
            const float *s = A + i * lda;
            uint16_t *d = Ap + (i - row0) * ldp;
            long k = kb;
            for (; k + 32 <= K && k < ke; k += 32)
                _mm512_storeu_si512(d + k, cvt32(_mm512_loadu_ps(s + k), _mm512_loadu_ps(s + k + 16)));
            for (; k < ke; k += 32)   // the tail and the zero padding up to Kp
                _mm512_storeu_si512(d + k, cvt32(_mm512_maskz_loadu_ps(first_lanes(K - k), s + k),
                                                 _mm512_maskz_loadu_ps(first_lanes(K - k - 16), s + k + 16)));
        }
    } else {
        // 32 rows of A (32 values of k) at a time across all the part's columns (op(A)'s rows),
        // so A is read in its own order
        __m512i r[16];
        for (long k0 = kb; k0 < ke; k0 += 32) {
            for (long ib = i0; ib < i1; ib += 16) {
                const __mmask16 m = first_lanes(i1 - ib);
                const float *s = A + ib;
                for (int j = 0; j < 16; j++) {
                    long k = k0 + 2 * j;
                    r[j] = pairs(cvt32(row16(s, k, K, lda, m), row16(s, k + 1, K, lda, m)));
                }
                transpose16(r);
                for (int j = 0; j < 16; j++) _mm512_storeu_si512(Ap + (ib - row0 + j) * ldp + k0, r[j]);
            }
        }
    }
}

/// The vector packing of op(B)'s 16-column blocks [c0, c1) (llx_sbgemm_pack's layout).
VEC_FN static void pack_b_vec(int transB, long N, long K, const float *B, long ldb, long Kp, uint32_t *Bw,
                              long c0, long c1) {
    const long kpairs = Kp / 2;
    if (!transB) {
        // a pair of B's rows at a time across the part's column blocks, so B is read in its order
        for (long k2 = 0; k2 < kpairs; k2++) {
            for (long blk = c0; blk < c1; blk++) {
                const long n = blk * 16;
                const __mmask16 m = first_lanes(N - n);
                const float *s = B + n;
                _mm512_storeu_si512(Bw + (blk * kpairs + k2) * 16,
                                    pairs(cvt32(row16(s, 2 * k2, K, ldb, m), row16(s, 2 * k2 + 1, K, ldb, m))));
            }
        }
    } else {
        __m512i r[16];
        for (long blk = c0; blk < c1; blk++) {
            const long n = blk * 16;
            uint32_t *d = Bw + blk * kpairs * 16;
            for (long k0 = 0; k0 < Kp; k0 += 32) {
                const __mmask16 ml = first_lanes(K - k0), mh = first_lanes(K - k0 - 16);
                for (int j = 0; j < 16; j++) {
                    if (n + j < N) {
                        const float *s = B + (n + j) * ldb + k0;
                        r[j] = cvt32(_mm512_maskz_loadu_ps(ml, s), _mm512_maskz_loadu_ps(mh, s + 16));
                    } else {
                        r[j] = _mm512_setzero_si512();
                    }
                }
                transpose16(r);
                for (int j = 0; j < 16; j++) _mm512_storeu_si512(d + (k0 / 2 + j) * 16, r[j]);
            }
        }
    }
}

typedef struct {
    uint8_t palette, start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} llx_tilecfg;

/// Grows a buffer of uint16 to at least elems (NULL when memory runs out).
static uint16_t *grow(uint16_t **buf, size_t *cap, size_t elems) {
    if (elems > *cap) {
        free(*buf);
        size_t c = elems + elems / 4 + 4096;
        *buf = aligned_alloc(64, (c * 2 + 63) / 64 * 64);
        *cap = *buf ? c : 0;
    }
    return *buf;
}

// per thread: the packed operands of a product run on one thread, and the rows being converted
static _Thread_local uint16_t *packed = NULL, *converted = NULL;
static _Thread_local size_t packed_cap = 0, converted_cap = 0;
static uint16_t *scratch_for(size_t elems) { return grow(&converted, &converted_cap, elems); }

static _Thread_local uint16_t *strip = NULL;
static _Thread_local size_t strip_cap = 0;

/// C's 32-row blocks [m0, m1) from packed op(A) rows (Ap) and op(B); or, with A given (the vector
/// packing), op(A)'s rows packed here one 32-row strip at a time into a per-thread strip.
/// causal (llx_sbgemm_causal): 1, row block mb computes columns below mb + 32 only; 2, sums over
/// k below mb + 32 only; 3, over k from mb on.
__attribute__((target("amx-tile,amx-bf16")))
static void tiles(const uint16_t *Ap, long ldp, const uint16_t *Bp, long M, long N, long Kp, long m0, long m1, long Np,
                  float alpha, float beta, float *C, long ldc, int transA, const float *A, long lda, long K, int causal) {
    if (A && !grow(&strip, &strip_cap, (size_t)(32 * ldp))) return;   // (no memory: C left as it was)
    llx_tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }
    _tile_loadconfig(&cfg);
    float buf[32 * 32] __attribute__((aligned(64)));
    const long kpairs = Kp / 2;
    const int direct = alpha == 1 && (beta == 0 || beta == 1);
    for (long mb = m0; mb < m1; mb += 32) {
        int two_m = mb + 16 < m1;
        long kb = 0, ke = Kp, nend = Np;
        if (causal == 1 && mb + 32 < Np) nend = mb + 32;
        else if (causal == 2 && mb + 32 < Kp) ke = mb + 32;
        else if (causal == 3) kb = mb < Kp ? mb : Kp;
        const uint16_t *as = Ap + mb * ldp;
        if (A) {
            pack_a_vec(transA, K, A, lda, strip, ldp, kb, ke, mb, mb + 32 < M ? mb + 32 : M, mb);
            as = strip;
        }
        for (long nb = 0; nb < nend; nb += 32) {
            int two_n = nb + 16 < nend;
            const uint16_t *a0 = as, *a1 = a0 + 16 * ldp;
            const uint16_t *b0 = Bp + (nb / 16) * kpairs * 32, *b1 = b0 + kpairs * 32;
            if (direct && mb + 32 <= M && nb + 32 <= N) {
                // a whole 32 x 32 block of C with alpha 1 and beta 0 or 1: the tiles start from
                // C (or zero) and are stored straight into it
                float *c = C + mb * ldc + nb;
                const long ldcb = ldc * 4;
                if (beta == 0) { _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3); }
                else {
                    _tile_loadd(0, c, ldcb); _tile_loadd(1, c + 16, ldcb);
                    _tile_loadd(2, c + 16 * ldc, ldcb); _tile_loadd(3, c + 16 * ldc + 16, ldcb);
                }
                for (long k = kb; k < ke; k += 32) {
                    _tile_loadd(4, a0 + k, ldp * 2);
                    _tile_loadd(6, b0 + k * 16, 64);
                    _tile_dpbf16ps(0, 4, 6);
                    _tile_loadd(7, b1 + k * 16, 64);
                    _tile_dpbf16ps(1, 4, 7);
                    _tile_loadd(5, a1 + k, ldp * 2);
                    _tile_dpbf16ps(2, 5, 6);
                    _tile_dpbf16ps(3, 5, 7);
                }
                _tile_stored(0, c, ldcb); _tile_stored(1, c + 16, ldcb);
                _tile_stored(2, c + 16 * ldc, ldcb); _tile_stored(3, c + 16 * ldc + 16, ldcb);
                continue;
            }
            _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
            for (long k = kb; k < ke; k += 32) {
                _tile_loadd(4, a0 + k, ldp * 2);
                _tile_loadd(6, b0 + k * 16, 64);
                _tile_dpbf16ps(0, 4, 6);
                if (two_n) { _tile_loadd(7, b1 + k * 16, 64); _tile_dpbf16ps(1, 4, 7); }
                if (two_m) {
                    _tile_loadd(5, a1 + k, ldp * 2);
                    _tile_dpbf16ps(2, 5, 6);
                    if (two_n) _tile_dpbf16ps(3, 5, 7);
                }
            }
            _tile_stored(0, buf, 128);
            if (two_n) _tile_stored(1, buf + 16, 128);
            if (two_m) {
                _tile_stored(2, buf + 16 * 32, 128);
                if (two_n) _tile_stored(3, buf + 16 * 32 + 16, 128);
            }
            long rows = M - mb < 32 ? M - mb : 32, cols = N - nb < 32 ? N - nb : 32;
            for (long i = 0; i < rows; i++) {
                float *c = C + (mb + i) * ldc + nb;
                const float *s = buf + i * 32;
                if (beta == 0) { for (long j = 0; j < cols; j++) c[j] = alpha * s[j]; }
                else { for (long j = 0; j < cols; j++) c[j] = alpha * s[j] + beta * c[j]; }
            }
        }
    }
    _tile_release();
}

// The same products without AMX, on CPUs with AVX512-BF16 (AMD Zen 4, Intel Cooper Lake; LLX_AMX=0
// here): vdpbf16ps multiplies 16 pairs of bf16 and adds both products to 16 f32 sums, so op(B)
// packed for the tile unit (16 columns of (k, k+1) pairs a vector) is read as it is, and each
// (k, k+1) pair of an op(A) row (packed as bf16 rows, a strip of 32 rows at a time) is
// broadcast. A register block is 8 rows of C by up to 3 vectors (48 columns). LLX_AVX512BF16=0
// turns the path off (bf16 products then round their operands for the f32 sgemm).
static int dp_state = -1;

int llx_sbgemm_dp_available(void) {
    int s = __atomic_load_n(&dp_state, __ATOMIC_ACQUIRE);
    if (s >= 0) return s;
    int ok = 0;
    const char *env = getenv("LLX_AVX512BF16");
    unsigned a, b, c, d;
    if (!(env && env[0] == '0') && __get_cpuid_count(7, 1, &a, &b, &c, &d) && ((a >> 5) & 1)) {
        __builtin_cpu_init();
        ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") ? 1 : 0;
    }
    __atomic_store_n(&dp_state, ok, __ATOMIC_RELEASE);
    return ok;
}

/// One register block: rows [0, 8) of the strip `as` (row stride ldp bf16) against NV 16-column
/// blocks of packed op(B) from `b` (block stride bstride uint32), pairs [k2b, k2e); C's block at
/// c (rows up to `rows`, columns up to `cols`) gets alpha * sum + beta * C (beta 0: C not read;
/// alpha 1, beta 1: the sums start from C).
#define DP_MR 8
__attribute__((always_inline)) VEC_FN static inline void dp_block(const int NV, const uint16_t *as, long ldp,
                                                                    const uint32_t *b, long bstride, long k2b, long k2e,
                                                                    float *c, long ldc, long rows, long cols,
                                                                    float alpha, float beta) {
    __m512 acc[DP_MR][3];
    __mmask16 cm[3];
    _Pragma("clang loop unroll(full)")
    for (int v = 0; v < NV; v++) cm[v] = first_lanes(cols - 16 * v);
    const int from_c = alpha == 1 && beta == 1;
    _Pragma("clang loop unroll(full)")
    for (int r = 0; r < DP_MR; r++)
        _Pragma("clang loop unroll(full)")
        for (int v = 0; v < NV; v++)
            acc[r][v] = from_c && r < rows ? _mm512_maskz_loadu_ps(cm[v], c + r * ldc + 16 * v) : _mm512_setzero_ps();
    const uint32_t *a32 = (const uint32_t *)as;
    const long lda32 = ldp / 2;
    // one pair a step, not unrolled: unrolled, clang hoists the next step's broadcasts and
    // runs out of the 32 vector registers (24 sums, 3 op(B) vectors), spilling sums to the stack
    _Pragma("clang loop unroll(disable)")
    for (long k2 = k2b; k2 < k2e; k2++) {
        __m512bh bv[3];
        _Pragma("clang loop unroll(full)")
        for (int v = 0; v < NV; v++) bv[v] = (__m512bh)_mm512_loadu_si512(b + v * bstride + k2 * 16);
        _Pragma("clang loop unroll(full)")
        for (int r = 0; r < DP_MR; r++) {
            const __m512bh av = (__m512bh)_mm512_set1_epi32((int)a32[r * lda32 + k2]);
            _Pragma("clang loop unroll(full)")
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
        }
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    _Pragma("clang loop unroll(full)")
    for (int r = 0; r < DP_MR; r++) {
        _Pragma("clang loop unroll(full)")
        for (int v = 0; v < NV; v++) {
            if (r >= rows) continue;
            float *p = c + r * ldc + 16 * v;
            __m512 x = acc[r][v];
            if (!from_c) {
                if (alpha != 1) x = _mm512_mul_ps(va, x);
                if (beta != 0) x = _mm512_add_ps(x, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(cm[v], p)));
            }
            _mm512_mask_storeu_ps(p, cm[v], x);
        }
    }
}

/// tiles() with vdpbf16ps: C's 32-row blocks [m0, m1), op(A)'s rows packed here a 32-row strip
/// at a time (always the vector packing), op(B) packed in Bp; the same causal modes.
/// Part `part` of `parts` of the 32-row blocks of C (Mp rows, padded): rows [*m0, *m1); 0 when
/// the part is empty.
static int part_rows(long Mp, int part, int parts, long *m0, long *m1) {
    long blocks = (Mp + 31) / 32;
    *m0 = blocks * part / parts * 32;
    *m1 = blocks * (part + 1) / parts * 32;
    if (*m1 > Mp) *m1 = Mp;
    return *m0 < *m1;
}

/// The rows [mb, i1) of C (one packed 32-row strip of op(A)) against op(B)'s 16-column blocks
/// up to nend (columns past N not stored), pairs [k2b, k2e).
VEC_FN static inline void dp_strip(const uint16_t *strip, long ldp, const uint32_t *Bw, long kpairs, long k2b, long k2e,
                                   long nend, long N, long mb, long i1, float *C, long ldc, float alpha, float beta) {
    const long nblocks = nend / 16, ncols = nend < N ? nend : N;
    for (long r0 = mb; r0 < i1; r0 += DP_MR) {
        const long rows = i1 - r0;
        const uint16_t *as = strip + (r0 - mb) * ldp;
        long blk = 0;
        for (; blk + 3 <= nblocks; blk += 3)
            dp_block(3, as, ldp, Bw + blk * kpairs * 16, kpairs * 16, k2b, k2e, C + r0 * ldc + blk * 16, ldc,
                     rows, ncols - blk * 16, alpha, beta);
        if (nblocks - blk == 2)
            dp_block(2, as, ldp, Bw + blk * kpairs * 16, kpairs * 16, k2b, k2e, C + r0 * ldc + blk * 16, ldc,
                     rows, ncols - blk * 16, alpha, beta);
        else if (nblocks - blk == 1)
            dp_block(1, as, ldp, Bw + blk * kpairs * 16, kpairs * 16, k2b, k2e, C + r0 * ldc + blk * 16, ldc,
                     rows, ncols - blk * 16, alpha, beta);
    }
}

/// The (row a, row a + 1) pairs of a packed strip's 16 columns from blk * 16 (the strip's row 0
/// is A's row mb; rows past i1 zero): op(B)'s 16 pairs of one k-pair.
VEC_FN static inline __m512i strip_pairs(const uint16_t *strip, long ldp, long mb, long i1, long a, long blk) {
    const __m256i lo = a < i1 ? _mm256_loadu_si256((const __m256i *)(strip + (a - mb) * ldp + blk * 16))
                              : _mm256_setzero_si256();
    const __m256i hi = a + 1 < i1 ? _mm256_loadu_si256((const __m256i *)(strip + (a + 1 - mb) * ldp + blk * 16))
                                  : _mm256_setzero_si256();
    return pairs(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1));
}

/// Rows [mb, i1) of A [M, K], packed in `strip` (ldp), written transposed as bf16 rows: row c of
/// Aᵀ (column c of A, c < K rounded up to 16) at At + c * ldt, its columns [mb, mb + 32) (A's
/// rows, zero past i1). Aᵀ is then op(A) of a product summing over A's rows (dW = dYᵀ · x),
/// packed as llx_sbgemm_dp_tiles_prepacked reads it.
VEC_FN static void strip_to_t(const uint16_t *strip, long ldp, long mb, long i1, long K, uint16_t *At, long ldt) {
    const long blocks = (K + 15) / 16;
    __m512i r[16];
    for (long blk = 0; blk < blocks; blk++) {
        // r[j]: the (row mb + 2j, row mb + 2j + 1) pairs of the block's 16 columns; transposed,
        // r[c] holds column blk * 16 + c over the 32 rows, in order
        for (int j = 0; j < 16; j++) r[j] = strip_pairs(strip, ldp, mb, i1, mb + 2 * j, blk);
        transpose16(r);
        for (int c = 0; c < 16; c++) _mm512_storeu_si512(At + (blk * 16 + c) * ldt + mb, r[c]);
    }
}

VEC_FN static void dp_tiles(const uint16_t *Bp, long M, long N, long Kp, long m0, long m1, long Np,
                            float alpha, float beta, float *C, long ldc, int transA, const float *A, long lda, long K,
                            int causal, uint16_t *emit_t, long ldt) {
    const long ldp = Kp + 32;
    if (!grow(&strip, &strip_cap, (size_t)(32 * ldp))) return;   // (no memory: C left as it was)
    const long kpairs = Kp / 2;
    for (long mb = m0; mb < m1 && mb < M; mb += 32) {
        long kb = 0, ke = Kp, nend = Np;
        if (causal == 1 && mb + 32 < Np) nend = mb + 32;
        else if (causal == 2 && mb + 32 < Kp) ke = mb + 32;
        else if (causal == 3) kb = mb < Kp ? mb : Kp;
        const long i1 = mb + 32 < M ? mb + 32 : M;
        pack_a_vec(transA, K, A, lda, strip, ldp, kb, ke, mb, i1, mb);
        if (emit_t) strip_to_t(strip, ldp, mb, i1, K, emit_t, ldt);
        // the pairs past K are zero in both operands: stop at K (ke < K is a multiple of 32)
        dp_strip(strip, ldp, (const uint32_t *)Bp, kpairs, kb / 2, ((ke < K ? ke : K) + 1) / 2, nend, N, mb, i1, C, ldc,
                 alpha, beta);
    }
}

void llx_sbgemm_pack_b(int transB, long N, long K, const float *B, long ldb, uint16_t *Bp, int part, int parts) {
    const long Kp = (K + 31) / 32 * 32, blocks = (N + 15) / 16;
    pack_b_vec(transB, N, K, B, ldb, Kp, (uint32_t *)Bp, blocks * part / parts, blocks * (part + 1) / parts);
}

/// Rows [mb, i1) of A, packed in `strip` (ldp), into op(B)'s layout for a product that sums over
/// A's M rows (B = A, [M, K]: K columns in 16-column blocks of (row, row + 1) pairs, M rounded up
/// to 32 with zero rows): the 16 pairs of the strip's 32 rows, rows past i1 zero.
VEC_FN static void strip_to_b(const uint16_t *strip, long ldp, long mb, long i1, long M, long K, uint32_t *Bw) {
    const long kpairs = (M + 31) / 32 * 16, blocks = (K + 15) / 16;
    for (long blk = 0; blk < blocks; blk++) {
        uint32_t *d = Bw + (blk * kpairs + mb / 2) * 16;
        for (long j = 0; j < 16; j++) _mm512_storeu_si512(d + j * 16, strip_pairs(strip, ldp, mb, i1, mb + 2 * j, blk));
    }
}

void llx_sbgemm_dp_tiles_shared_a(int transA, long M, long K, const float *A, long lda, int G, const uint16_t *const *Bp,
                                  const long *N, float *const *C, const long *ldc, float alpha, float beta,
                                  uint16_t *emit, int part, int parts) {
    const long Kp = (K + 31) / 32 * 32, Mp = (M + 15) / 16 * 16, ldp = Kp + 32, kpairs = Kp / 2;
    long m0, m1;
    if (!part_rows(Mp, part, parts, &m0, &m1)) return;
    if (!grow(&strip, &strip_cap, (size_t)(32 * ldp))) return;   // (no memory: C left as it was)
    for (long mb = m0; mb < m1 && mb < M; mb += 32) {
        const long i1 = mb + 32 < M ? mb + 32 : M;
        pack_a_vec(transA, K, A, lda, strip, ldp, 0, Kp, mb, i1, mb);
        if (emit) strip_to_b(strip, ldp, mb, i1, M, K, (uint32_t *)emit);
        for (int g = 0; g < G; g++)
            dp_strip(strip, ldp, (const uint32_t *)Bp[g], kpairs, 0, (K + 1) / 2, (N[g] + 15) / 16 * 16, N[g], mb, i1,
                     C[g], ldc[g], alpha, beta);
    }
}

// The same product in three parallel phases (BLAS.sgemm on the thread pool): op(A) and op(B) are
// packed once into a shared buffer, each thread packing its share (rows of op(A), 16-column
// blocks of op(B)), then each thread multiplies a range of 32-row blocks. Packing per thread
// (llx_sbgemm on each row chunk) would pack op(B) once per thread.

static uint16_t *shared_buf = NULL;
static size_t shared_cap = 0;
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;

static void sb_dims(long M, long N, long K, long *Kp, long *Mp, long *Np, long *ldp) {
    *Kp = (K + 31) / 32 * 32; *Mp = (M + 15) / 16 * 16; *Np = (N + 15) / 16 * 16; *ldp = *Kp + 32;
}

uint16_t *llx_sbgemm_shared(long M, long N, long K) {
    long Kp, Mp, Np, ldp;
    sb_dims(M, N, K, &Kp, &Mp, &Np, &ldp);
    size_t elems = (size_t)(Mp * ldp + Np * Kp);
    // one product at a time uses the buffer: a nested or concurrent one gets NULL (and packs
    // per thread instead)
    if (pthread_mutex_trylock(&shared_lock) != 0) return NULL;
    if (!grow(&shared_buf, &shared_cap, elems)) pthread_mutex_unlock(&shared_lock);
    return shared_buf;
}

void llx_sbgemm_shared_done(void) { pthread_mutex_unlock(&shared_lock); }

void llx_sbgemm_pack(int transA, int transB, long M, long N, long K, const float *A, long lda,
                     const float *B, long ldb, uint16_t *buf, int part, int parts) {
    long Kp, Mp, Np, ldp;
    sb_dims(M, N, K, &Kp, &Mp, &Np, &ldp);
    uint16_t *Ap = buf, *Bp = buf + Mp * ldp;
    // rows [i0, i1) of op(A), 16-aligned; the last part also zeroes the padding rows
    long rows16 = Mp / 16;
    long i0 = rows16 * part / parts * 16, i1 = rows16 * (part + 1) / parts * 16;
    if (i1 > M) i1 = M;
    if (vec_pack()) {
        // op(B) only: each part of llx_sbgemm_tiles packs its own 32-row strips of op(A) just
        // before multiplying them (into a strip that stays in cache), so op(A) is never written
        // out and read back whole
        (void)Ap; (void)A; (void)lda; (void)transA; (void)i0; (void)i1;
        long blocks = Np / 16;
        long c0 = blocks * part / parts, c1 = blocks * (part + 1) / parts;
        pack_b_vec(transB, N, K, B, ldb, Kp, (uint32_t *)Bp, c0, c1);
        return;
    }
    if (i0 < i1) {
        long w = i1 - i0;
        uint16_t *T = scratch_for((size_t)(transA ? K * w : 0) + (size_t)(2 * N + K + 2));
        if (transA && !T) {   // no scratch memory: element by element
            for (long i = i0; i < i1; i++) {
                for (long k = 0; k < K; k++) Ap[i * ldp + k] = llx_bf16_bits(A[k * lda + i]);
                memset(Ap + i * ldp + K, 0, (size_t)(Kp - K) * 2);
            }
        } else if (!transA) {
            for (long i = i0; i < i1; i++) {
                llx_f32_to_bf16(A + i * lda, Ap + i * ldp, K);
                memset(Ap + i * ldp + K, 0, (size_t)(Kp - K) * 2);
            }
        } else {
            for (long k = 0; k < K; k++) llx_f32_to_bf16(A + k * lda + i0, T + k * w, w);
            for (long b0 = 0; b0 < w; b0 += 16)
                for (long k0 = 0; k0 < K; k0 += 64) {
                    long b1 = b0 + 16 < w ? b0 + 16 : w, k1 = k0 + 64 < K ? k0 + 64 : K;
                    for (long i = b0; i < b1; i++) {
                        uint16_t *d = Ap + (i0 + i) * ldp;
                        for (long k = k0; k < k1; k++) d[k] = T[k * w + i];
                    }
                }
            for (long i = i0; i < i1; i++) memset(Ap + i * ldp + K, 0, (size_t)(Kp - K) * 2);
        }
    }
    if (part == parts - 1) memset(Ap + M * ldp, 0, (size_t)((Mp - M) * ldp) * 2);
    // 16-column blocks [c0, c1) of op(B)
    long blocks = Np / 16;
    long c0 = blocks * part / parts, c1 = blocks * (part + 1) / parts;
    if (c0 >= c1) return;
    const long kpairs = Kp / 2;
    uint32_t *Bw = (uint32_t *)Bp;
    memset(Bw + c0 * kpairs * 16, 0, (size_t)((c1 - c0) * kpairs * 16) * 4);
    long n0 = c0 * 16, n1 = c1 * 16 < N ? c1 * 16 : N, w = n1 - n0;
    uint16_t *T = scratch_for((size_t)(2 * N + K + 2));
    if (!T) {   // no scratch memory: element by element
        for (long n = n0; n < n1; n++)
            for (long k = 0; k < K; k++)
                Bp[((n >> 4) * kpairs + (k >> 1)) * 32 + (n & 15) * 2 + (k & 1)] =
                    llx_bf16_bits(transB ? B[n * ldb + k] : B[k * ldb + n]);
        return;
    }
    if (!transB) {
        uint16_t *r0 = T, *r1 = T + N;
        for (long k = 0; k < K; k += 2) {
            llx_f32_to_bf16(B + k * ldb + n0, r0, w);
            if (k + 1 < K) llx_f32_to_bf16(B + (k + 1) * ldb + n0, r1, w); else memset(r1, 0, (size_t)w * 2);
            const long k2 = k >> 1;
            for (long j = 0; j < w; j++) {
                long n = n0 + j;
                Bw[((n >> 4) * kpairs + k2) * 16 + (n & 15)] = (uint32_t)r0[j] | ((uint32_t)r1[j] << 16);
            }
        }
    } else {
        uint16_t *r = T;
        for (long n = n0; n < n1; n++) {
            llx_f32_to_bf16(B + n * ldb, r, K);
            if (K & 1) r[K] = 0;
            uint32_t *d = Bw + (n >> 4) * kpairs * 16 + (n & 15);
            for (long k2 = 0; k2 < (K + 1) / 2; k2++) {
                uint32_t v;
                memcpy(&v, r + 2 * k2, 4);
                d[k2 * 16] = v;
            }
        }
    }
}

void llx_sbgemm_tiles(int transA, long M, long N, long K, const float *A, long lda, const uint16_t *buf, float alpha,
                      float beta, float *C, long ldc, int part, int parts) {
    long Kp, Mp, Np, ldp, m0, m1;
    sb_dims(M, N, K, &Kp, &Mp, &Np, &ldp);
    if (!part_rows(Mp, part, parts, &m0, &m1)) return;
    int fused = vec_pack();
    tiles(buf, ldp, buf + Mp * ldp, M, N, Kp, m0, m1, Np, alpha, beta, C, ldc, transA, fused ? A : NULL, lda, K, 0);
}

static void sbgemm_one(int dp, int causal, int transA, int transB, long M, long N, long K, float alpha,
                       const float *A, long lda, const float *B, long ldb, float beta, float *C, long ldc) {
    if (M <= 0 || N <= 0) return;
    long Kp, Mp, Np, ldp;
    sb_dims(M, N, K, &Kp, &Mp, &Np, &ldp);
    uint16_t *buf = K > 0 ? grow(&packed, &packed_cap, dp ? (size_t)(Np * Kp) : (size_t)(Mp * ldp + Np * Kp)) : NULL;
    if (K <= 0) {   // an empty sum
        for (long i = 0; i < M; i++)
            for (long j = 0; j < N; j++) C[i * ldc + j] = beta == 0 ? 0 : beta * C[i * ldc + j];
        return;
    }
    if (!buf) {
        // no scratch memory: the same product (f32 sums of the bf16 operands), without tiles
        for (long i = 0; i < M; i++)
            for (long j = 0; j < N; j++) {
                if (causal == 1 && j >= (i / 32 + 1) * 32) break;
                float s = 0;
                long kb = causal == 3 ? i / 32 * 32 : 0, ke = causal == 2 && (i / 32 + 1) * 32 < K ? (i / 32 + 1) * 32 : K;
                for (long k = kb; k < ke; k++) {
                    s += llx_bf16_value(llx_bf16_bits(transA ? A[k * lda + i] : A[i * lda + k])) *
                         llx_bf16_value(llx_bf16_bits(transB ? B[j * ldb + k] : B[k * ldb + j]));
                }
                C[i * ldc + j] = beta == 0 ? alpha * s : alpha * s + beta * C[i * ldc + j];
            }
        return;
    }
    if (dp) {   // op(B) alone, then op(A) a strip at a time
        pack_b_vec(transB, N, K, B, ldb, Kp, (uint32_t *)buf, 0, Np / 16);
        dp_tiles(buf, M, N, Kp, 0, Mp, Np, alpha, beta, C, ldc, transA, A, lda, K, causal, NULL, 0);
        return;
    }
    llx_sbgemm_pack(transA, transB, M, N, K, A, lda, B, ldb, buf, 0, 1);
    tiles(buf, ldp, buf + Mp * ldp, M, N, Kp, 0, Mp, Np, alpha, beta, C, ldc, transA, vec_pack() ? A : NULL, lda, K, causal);
}

void llx_sbgemm(int transA, int transB, long M, long N, long K, float alpha,
                const float *A, long lda, const float *B, long ldb, float beta, float *C, long ldc) {
    sbgemm_one(0, 0, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void llx_sbgemm_causal(int causal, int transA, int transB, long M, long N, long K, float alpha,
                       const float *A, long lda, const float *B, long ldb, float beta, float *C, long ldc) {
    sbgemm_one(0, causal, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void llx_sbgemm_dp(int transA, int transB, long M, long N, long K, float alpha,
                   const float *A, long lda, const float *B, long ldb, float beta, float *C, long ldc) {
    sbgemm_one(1, 0, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void llx_sbgemm_dp_causal(int causal, int transA, int transB, long M, long N, long K, float alpha,
                          const float *A, long lda, const float *B, long ldb, float beta, float *C, long ldc) {
    sbgemm_one(1, causal, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void llx_sbgemm_dp_tiles(int transA, long M, long N, long K, const float *A, long lda, const uint16_t *buf, float alpha,
                         float beta, float *C, long ldc, uint16_t *emit_t, int part, int parts) {
    long Kp, Mp, Np, ldp, m0, m1;
    sb_dims(M, N, K, &Kp, &Mp, &Np, &ldp);
    if (!part_rows(Mp, part, parts, &m0, &m1)) return;
    dp_tiles(buf + Mp * ldp, M, N, Kp, m0, m1, Np, alpha, beta, C, ldc, transA, A, lda, K, 0,
             transA ? NULL : emit_t, (M + 31) / 32 * 32);
}

void llx_sbgemm_dp_causal_packed(int causal, int transA, long M, long N, long K, float alpha, const float *A, long lda,
                                 const uint16_t *Bp, float beta, float *C, long ldc) {
    if (M <= 0 || N <= 0 || K <= 0) return;
    long Kp, Mp, Np, ldp;
    sb_dims(M, N, K, &Kp, &Mp, &Np, &ldp);
    dp_tiles(Bp, M, N, Kp, 0, Mp, Np, alpha, beta, C, ldc, transA, A, lda, K, causal, NULL, 0);
}

void llx_sbgemm_dp_tiles_prepacked(long M, long N, long K, const uint16_t *Ap, long ldap, const uint16_t *Bp,
                                   float alpha, float beta, float *C, long ldc, int part, int parts) {
    long Kp, Mp, Np, ldp, m0, m1;
    sb_dims(M, N, K, &Kp, &Mp, &Np, &ldp);
    if (!part_rows(Mp, part, parts, &m0, &m1)) return;
    for (long mb = m0; mb < m1 && mb < M; mb += 32) {
        const long i1 = mb + 32 < M ? mb + 32 : M;
        dp_strip(Ap + mb * ldap, ldap, (const uint32_t *)Bp, Kp / 2, 0, (K + 1) / 2, Np, N, mb, i1, C, ldc, alpha, beta);
    }
}

void llx_sbgemm_dp_tiles_packed(int transA, long M, long N, long K, const float *A, long lda, const uint16_t *Bp,
                                float alpha, float beta, float *C, long ldc, int part, int parts) {
    long Kp, Mp, Np, ldp, m0, m1;
    sb_dims(M, N, K, &Kp, &Mp, &Np, &ldp);
    if (!part_rows(Mp, part, parts, &m0, &m1)) return;
    dp_tiles(Bp, M, N, Kp, m0, m1, Np, alpha, beta, C, ldc, transA, A, lda, K, 0, NULL, 0);
}

const uint16_t *llx_sbgemm_packed_b(const uint16_t *buf, long M, long N, long K) {
    long Kp, Mp, Np, ldp;
    sb_dims(M, N, K, &Kp, &Mp, &Np, &ldp);
    return buf + Mp * ldp;
}

#else
int llx_sbgemm_available(void) { return 0; }
int llx_sbgemm_dp_available(void) { return 0; }
void llx_sbgemm_dp(int transA, int transB, long M, long N, long K, float alpha,
                   const float *A, long lda, const float *B, long ldb, float beta, float *C, long ldc) {
    llx_sbgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void llx_sbgemm_dp_causal(int causal, int transA, int transB, long M, long N, long K, float alpha,
                          const float *A, long lda, const float *B, long ldb, float beta, float *C, long ldc) {
    llx_sbgemm_causal(causal, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void llx_sbgemm_dp_tiles(int transA, long M, long N, long K, const float *A, long lda, const uint16_t *buf, float alpha,
                         float beta, float *C, long ldc, uint16_t *emit_t, int part, int parts) {
    (void)emit_t;
    llx_sbgemm_tiles(transA, M, N, K, A, lda, buf, alpha, beta, C, ldc, part, parts);
}
void llx_sbgemm_dp_causal_packed(int causal, int transA, long M, long N, long K, float alpha, const float *A, long lda,
                                 const uint16_t *Bp, float beta, float *C, long ldc) {
    (void)causal; (void)transA; (void)M; (void)N; (void)K; (void)alpha; (void)A; (void)lda; (void)Bp; (void)beta;
    (void)C; (void)ldc;
    abort();
}
void llx_sbgemm_dp_tiles_prepacked(long M, long N, long K, const uint16_t *Ap, long ldap, const uint16_t *Bp,
                                   float alpha, float beta, float *C, long ldc, int part, int parts) {
    (void)M; (void)N; (void)K; (void)Ap; (void)ldap; (void)Bp; (void)alpha; (void)beta; (void)C; (void)ldc;
    (void)part; (void)parts;
    abort();
}
void llx_sbgemm_dp_tiles_packed(int transA, long M, long N, long K, const float *A, long lda, const uint16_t *Bp,
                                float alpha, float beta, float *C, long ldc, int part, int parts) {
    (void)transA; (void)M; (void)N; (void)K; (void)A; (void)lda; (void)Bp; (void)alpha; (void)beta; (void)C; (void)ldc;
    (void)part; (void)parts;
    abort();
}
const uint16_t *llx_sbgemm_packed_b(const uint16_t *buf, long M, long N, long K) {
    (void)M; (void)N; (void)K;
    return buf;
}
void llx_sbgemm_pack_b(int transB, long N, long K, const float *B, long ldb, uint16_t *Bp, int part, int parts) {
    (void)transB; (void)N; (void)K; (void)B; (void)ldb; (void)Bp; (void)part; (void)parts;
    abort();
}
void llx_sbgemm_dp_tiles_shared_a(int transA, long M, long K, const float *A, long lda, int G, const uint16_t *const *Bp,
                                  const long *N, float *const *C, const long *ldc, float alpha, float beta,
                                  uint16_t *emit, int part, int parts) {
    (void)transA; (void)M; (void)K; (void)A; (void)lda; (void)G; (void)Bp; (void)N; (void)C; (void)ldc; (void)alpha;
    (void)beta; (void)emit; (void)part; (void)parts;
    abort();
}
void llx_sbgemm_causal(int causal, int transA, int transB, long M, long N, long K, float alpha,
                       const float *A, long lda, const float *B, long ldb, float beta, float *C, long ldc) {
    (void)causal; (void)transA; (void)transB; (void)M; (void)N; (void)K; (void)alpha; (void)A; (void)lda;
    (void)B; (void)ldb; (void)beta; (void)C; (void)ldc;
    abort();
}
uint16_t *llx_sbgemm_shared(long M, long N, long K) { (void)M; (void)N; (void)K; return NULL; }
void llx_sbgemm_shared_done(void) {}
void llx_sbgemm_pack(int transA, int transB, long M, long N, long K, const float *A, long lda,
                     const float *B, long ldb, uint16_t *buf, int part, int parts) {
    (void)transA; (void)transB; (void)M; (void)N; (void)K; (void)A; (void)lda; (void)B; (void)ldb;
    (void)buf; (void)part; (void)parts; abort();
}
void llx_sbgemm_tiles(int transA, long M, long N, long K, const float *A, long lda, const uint16_t *buf, float alpha,
                      float beta, float *C, long ldc, int part, int parts) {
    (void)transA; (void)M; (void)N; (void)K; (void)A; (void)lda; (void)buf; (void)alpha; (void)beta; (void)C; (void)ldc;
    (void)part; (void)parts;
    abort();
}
void llx_sbgemm(int transA, int transB, long M, long N, long K, float alpha,
                const float *A, long lda, const float *B, long ldb, float beta, float *C, long ldc) {
    (void)transA; (void)transB; (void)M; (void)N; (void)K; (void)alpha; (void)A; (void)lda;
    (void)B; (void)ldb; (void)beta; (void)C; (void)ldc;
    abort();
}
#endif
