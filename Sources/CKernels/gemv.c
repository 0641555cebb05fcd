// Decode kernels (see CKernels.h). Each weight row is read once per call; four rows are
// processed together so their dot products form independent dependency chains and share the
// loads of x. With AVX-512: f32 rows load 16 values at a time; bf16 rows are widened by a
// zero-extend and a 16-bit shift; NF4 bytes are zero-extended to 32-bit lanes and their two
// nibbles looked up in the 16-value table held in one register (vpermps), against x split
// into even and odd elements so no interleave is needed. Without AVX-512 the same sums run
// in scalar code.
//
// The choice is made at run time, whatever CPU the build targeted: on x86-64 the AVX-512
// kernels are compiled for AVX-512 (function target attributes) in every build and run when
// the CPU reports avx512f and avx512bw; elsewhere, or with LLX_KERNELS=generic, the scalar
// kernels run.
#include "CKernels.h"
#include "bf16.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define LLX_AVX512 1
#define AVX512_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#else
#define LLX_AVX512 0
#define AVX512_FN
#endif

// -1: not decided yet; 0: scalar; 1: AVX-512.
static volatile int llx_use_avx512 = -1;

static int detect_avx512(void) {
    const char *e = getenv("LLX_KERNELS");
    if (e && strcmp(e, "generic") == 0) return 0;
#if LLX_AVX512
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") ? 1 : 0;
#else
    return 0;
#endif
}

static inline int use_avx512(void) {
    int u = llx_use_avx512;
    if (u < 0) { u = detect_avx512(); llx_use_avx512 = u; }
    return u;
}

int llx_kernels_avx512(void) { return use_avx512(); }

void llx_kernels_force_generic(int generic) { llx_use_avx512 = generic ? 0 : detect_avx512(); }

void llx_f32_to_bf16(const float *src, uint16_t *dst, long n) {
    for (long i = 0; i < n; i++) dst[i] = llx_bf16_bits(src[i]);
}

void llx_bf16_round_rows(const float *src, long ld, long rows, long cols, float *dst) {
    for (long r = 0; r < rows; r++) {
        const float *s = src + r * ld;
        float *d = dst + r * cols;
        for (long j = 0; j < cols; j++) d[j] = llx_bf16_value(llx_bf16_bits(s[j]));
    }
}

#if LLX_AVX512
AVX512_FN static long bf16_to_f32_avx512(const uint16_t *src, float *dst, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(src + i)));
        _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
    }
    return i;
}
#endif

void llx_bf16_to_f32(const uint16_t *src, float *dst, long n) {
    long i = 0;
#if LLX_AVX512
    if (use_avx512()) i = bf16_to_f32_avx512(src, dst, n);
#endif
    for (; i < n; i++) dst[i] = llx_bf16_value(src[i]);
}

// ---------------------------------------------------------------------------------------
// f32 and bf16 weights

#if LLX_AVX512
AVX512_FN static inline __m512 load_w_f32(const float *p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
AVX512_FN static inline __m512 load_w_bf16(const uint16_t *p, __mmask16 m) {
    __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

// GEMV_BODY's blocks: rows [j, j + R) of W against every x[t], R sums in registers (each row's
// sum in the same order whatever R), one load of x for all of them.
#define GEMV_ROWS(TYPE, LOAD, R)                                                                   \
    for (; j + R <= r1; j += R) {                                                                  \
        const TYPE *w0 = W + j * ldw;                                                              \
        for (int t = 0; t < nx; t++) {                                                             \
            const float *xt = x + t * ldx;                                                         \
            __m512 a[R];                                                                           \
            for (int r = 0; r < R; r++) a[r] = _mm512_setzero_ps();                                \
            long k = 0;                                                                            \
            for (; k < full; k += 16) {                                                            \
                __m512 xv = _mm512_loadu_ps(xt + k);                                               \
                for (int r = 0; r < R; r++)                                                        \
                    a[r] = _mm512_fmadd_ps(LOAD(w0 + r * ldw + k, 0xFFFF), xv, a[r]);              \
            }                                                                                      \
            if (tail) {                                                                            \
                __m512 xv = _mm512_maskz_loadu_ps(tail, xt + k);                                   \
                for (int r = 0; r < R; r++)                                                        \
                    a[r] = _mm512_fmadd_ps(LOAD(w0 + r * ldw + k, tail), xv, a[r]);                \
            }                                                                                      \
            float *yt = y + t * ldy + j;                                                           \
            for (int r = 0; r < R; r++) yt[r] = _mm512_reduce_add_ps(a[r]);                        \
        }                                                                                          \
    }

// y[t][j] = W[j] . x[t] for rows [r0, r1): 16 rows at a time (16 sums in registers, one load of
// x for all of them: on a Zen 4 this took f32 decode from 0.87x to 1.07x llama.cpp's), then 4,
// then one. Each row of the 16- and 4-row blocks sums in the same order, so the blocking does
// not change a number (checked bit for bit against the 4-row kernel on random W, x and row
// ranges); the single rows (at most 3 a range) sum in two interleaved accumulators.
#define GEMV_BODY(TYPE, LOAD)                                                                      \
    long j = r0;                                                                                   \
    long full = cols & ~15L;                                                                       \
    __mmask16 tail = (__mmask16)((1u << (cols & 15)) - 1);                                         \
    GEMV_ROWS(TYPE, LOAD, 16)                                                                      \
    GEMV_ROWS(TYPE, LOAD, 4)                                                                       \
    for (; j < r1; j++) {                                                                          \
        const TYPE *w0 = W + j * ldw;                                                              \
        for (int t = 0; t < nx; t++) {                                                             \
            const float *xt = x + t * ldx;                                                         \
            __m512 a0 = _mm512_setzero_ps(), a1 = a0;                                              \
            long k = 0;                                                                            \
            for (; k + 32 <= full; k += 32) {                                                      \
                a0 = _mm512_fmadd_ps(LOAD(w0 + k, 0xFFFF), _mm512_loadu_ps(xt + k), a0);           \
                a1 = _mm512_fmadd_ps(LOAD(w0 + k + 16, 0xFFFF), _mm512_loadu_ps(xt + k + 16), a1); \
            }                                                                                      \
            for (; k < full; k += 16)                                                              \
                a0 = _mm512_fmadd_ps(LOAD(w0 + k, 0xFFFF), _mm512_loadu_ps(xt + k), a0);           \
            if (tail)                                                                              \
                a1 = _mm512_fmadd_ps(LOAD(w0 + k, tail), _mm512_maskz_loadu_ps(tail, xt + k), a1); \
            y[t * ldy + j] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));                          \
        }                                                                                          \
    }

AVX512_FN static void gemv_f32_avx512(const float *W, long ldw, long cols, const float *x, long ldx, int nx,
                                      float *y, long ldy, long r0, long r1) {
    GEMV_BODY(float, load_w_f32)
}

AVX512_FN static void gemv_bf16_avx512(const uint16_t *W, long ldw, long cols, const float *x, long ldx, int nx,
                                       float *y, long ldy, long r0, long r1) {
    GEMV_BODY(uint16_t, load_w_bf16)
}
#endif

void llx_gemv_f32(const float *W, long ldw, long cols, const float *x, long ldx, int nx,
                  float *y, long ldy, long r0, long r1) {
#if LLX_AVX512
    if (use_avx512()) { gemv_f32_avx512(W, ldw, cols, x, ldx, nx, y, ldy, r0, r1); return; }
#endif
    for (long j = r0; j < r1; j++)
        for (int t = 0; t < nx; t++) {
            float s = 0;
            for (long k = 0; k < cols; k++) s += W[j * ldw + k] * x[t * ldx + k];
            y[t * ldy + j] = s;
        }
}

void llx_gemv_bf16(const uint16_t *W, long ldw, long cols, const float *x, long ldx, int nx,
                   float *y, long ldy, long r0, long r1) {
#if LLX_AVX512
    if (use_avx512()) { gemv_bf16_avx512(W, ldw, cols, x, ldx, nx, y, ldy, r0, r1); return; }
#endif
    for (long j = r0; j < r1; j++)
        for (int t = 0; t < nx; t++) {
            float s = 0;
            for (long k = 0; k < cols; k++) s += llx_bf16_value(W[j * ldw + k]) * x[t * ldx + k];
            y[t * ldy + j] = s;
        }
}

// ---------------------------------------------------------------------------------------
// NF4 weights

void llx_nf4_split(const float *x, long cols, float *out) {
    long h = cols / 2;
    for (long i = 0; i < h; i++) { out[i] = x[2 * i]; out[h + i] = x[2 * i + 1]; }
}

static inline float nf4_scale(const llx_nf4 *w, long b) {
    if (w->qabsmax) {
        float d = w->dyn[w->qabsmax[b]] * w->absmax2[b >> 8];
        return d + w->offset;
    }
    return w->absmax[b];
}

#if LLX_AVX512
AVX512_FN static void gemv_nf4_avx512(const llx_nf4 *w, long cols, const float *xs, int nx, float *y, long ldy, long r0, long r1) {
    const long perRow = cols / w->blocksize, half = cols / 2, bbytes = w->blocksize / 2;
    const uint8_t *codes = w->codes;
    const __m512 tbl = _mm512_loadu_ps(w->table);
    const __m512i low = _mm512_set1_epi32(15);
    long j = r0;
    for (; j + 4 <= r1; j += 4) {
        for (int t = 0; t < nx; t++) {
            const float *xe = xs + t * cols, *xo = xe + half;
            __m512 acc[4];
            for (int r = 0; r < 4; r++) acc[r] = _mm512_setzero_ps();
            for (long bb = 0; bb < perRow; bb++) {
                __m512 be[4], bo[4];
                for (int r = 0; r < 4; r++) { be[r] = _mm512_setzero_ps(); bo[r] = be[r]; }
                for (long p = 0; p < bbytes; p += 16) {
                    long e = bb * bbytes + p;
                    __m512 xev = _mm512_loadu_ps(xe + e), xov = _mm512_loadu_ps(xo + e);
                    for (int r = 0; r < 4; r++) {
                        __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(codes + (j + r) * half + e)));
                        __m512 we = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), tbl);
                        __m512 wo = _mm512_permutexvar_ps(_mm512_and_si512(v, low), tbl);
                        be[r] = _mm512_fmadd_ps(we, xev, be[r]);
                        bo[r] = _mm512_fmadd_ps(wo, xov, bo[r]);
                    }
                }
                for (int r = 0; r < 4; r++)
                    acc[r] = _mm512_fmadd_ps(_mm512_add_ps(be[r], bo[r]),
                                             _mm512_set1_ps(nf4_scale(w, (j + r) * perRow + bb)), acc[r]);
            }
            for (int r = 0; r < 4; r++) y[t * ldy + j + r] = _mm512_reduce_add_ps(acc[r]);
        }
    }
    for (; j < r1; j++) {
        for (int t = 0; t < nx; t++) {
            const float *xe = xs + t * cols, *xo = xe + half;
            __m512 acc = _mm512_setzero_ps();
            for (long bb = 0; bb < perRow; bb++) {
                __m512 be = _mm512_setzero_ps(), bo = be;
                for (long p = 0; p < bbytes; p += 16) {
                    long e = bb * bbytes + p;
                    __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(codes + j * half + e)));
                    be = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), tbl), _mm512_loadu_ps(xe + e), be);
                    bo = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_and_si512(v, low), tbl), _mm512_loadu_ps(xo + e), bo);
                }
                acc = _mm512_fmadd_ps(_mm512_add_ps(be, bo), _mm512_set1_ps(nf4_scale(w, j * perRow + bb)), acc);
            }
            y[t * ldy + j] = _mm512_reduce_add_ps(acc);
        }
    }
}
#endif

void llx_gemv_nf4(const llx_nf4 *w, long cols, const float *xs, int nx, float *y, long ldy, long r0, long r1) {
    const long bs = w->blocksize, perRow = cols / bs, half = cols / 2, bbytes = bs / 2;
    const uint8_t *codes = w->codes;
#if LLX_AVX512
    if (use_avx512() && (bbytes & 15) == 0) { gemv_nf4_avx512(w, cols, xs, nx, y, ldy, r0, r1); return; }
#endif
    for (long j = r0; j < r1; j++)
        for (int t = 0; t < nx; t++) {
            const float *xe = xs + t * cols, *xo = xe + half;
            float s = 0;
            for (long bb = 0; bb < perRow; bb++) {
                float b = 0;
                for (long p = 0; p < bbytes; p++) {
                    long e = bb * bbytes + p;
                    uint8_t c = codes[j * half + e];
                    b += w->table[c >> 4] * xe[e] + w->table[c & 15] * xo[e];
                }
                s += b * nf4_scale(w, j * perRow + bb);
            }
            y[t * ldy + j] = s;
        }
}

// ---------------------------------------------------------------------------------------
// Attention for one query position

#if LLX_AVX512
// e^x for x <= 0 (softmax numerators): Cody-Waite reduction by ln 2 and a degree-6 polynomial;
// below -87.3 it flushes to 0.
AVX512_FN static inline __m512 exp_nonpos(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.33654f);
    __mmask16 under = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
    x = _mm512_max_ps(x, lo);
    __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.442695040888963f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(1.428606765330187e-06f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    __m512 y = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    y = _mm512_scalef_ps(y, k);
    return _mm512_mask_mov_ps(y, under, _mm512_setzero_ps());
}
#endif

static inline float load_kv(const void *p, int bf16, long i) {
    return bf16 ? llx_bf16_value(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

#if LLX_AVX512
// One head of llx_attn_decode: scores into s, softmax, the weighted sum of values into o.
AVX512_FN static void attn_head_avx512(const float *qs, const void *k, const void *v, int bf16, float *o, long Tk,
                                       long ld, int kvh, int D, float *s) {
        float mx = -INFINITY;
        {
            for (long j = 0; j < Tk; j++) {
                __m512 a = _mm512_setzero_ps();
                long base = j * ld + (long)kvh * D;
                for (int d = 0; d < D; d += 16) {
                    __m512 kv = bf16 ? load_w_bf16((const uint16_t *)k + base + d, 0xFFFF)
                                     : _mm512_loadu_ps((const float *)k + base + d);
                    a = _mm512_fmadd_ps(kv, _mm512_loadu_ps(qs + d), a);
                }
                float sj = _mm512_reduce_add_ps(a);
                s[j] = sj;
                if (sj > mx) mx = sj;
            }
            __m512 m = _mm512_set1_ps(mx), sum = _mm512_setzero_ps();
            long j = 0;
            for (; j + 16 <= Tk; j += 16) {
                __m512 e = exp_nonpos(_mm512_sub_ps(_mm512_loadu_ps(s + j), m));
                _mm512_storeu_ps(s + j, e);
                sum = _mm512_add_ps(sum, e);
            }
            if (j < Tk) {
                __mmask16 mk = (__mmask16)((1u << (Tk - j)) - 1);
                __m512 e = exp_nonpos(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, s + j), m));
                e = _mm512_maskz_mov_ps(mk, e);
                _mm512_mask_storeu_ps(s + j, mk, e);
                sum = _mm512_add_ps(sum, e);
            }
            float inv = 1.0f / _mm512_reduce_add_ps(sum);
            for (int d = 0; d < D; d += 16) _mm512_storeu_ps(o + d, _mm512_setzero_ps());
            for (long jj = 0; jj < Tk; jj++) {
                __m512 p = _mm512_set1_ps(s[jj] * inv);
                long b0 = jj * ld + (long)kvh * D;
                for (int d = 0; d < D; d += 16) {
                    __m512 v0 = bf16 ? load_w_bf16((const uint16_t *)v + b0 + d, 0xFFFF) : _mm512_loadu_ps((const float *)v + b0 + d);
                    _mm512_storeu_ps(o + d, _mm512_fmadd_ps(p, v0, _mm512_loadu_ps(o + d)));
                }
            }
        }
}
#endif

void llx_attn_decode(const float *q, const void *k, const void *v, int bf16, float *out, long Tk,
                     int Hq, int Hkv, int D, float scale, float *scratch, int h0, int h1) {
    const int group = Hq / Hkv;
    const long ld = (long)Hkv * D;
    float *s = scratch, *qs = scratch + Tk;
    for (int h = h0; h < h1; h++) {
        const int kvh = h / group;
        for (int d = 0; d < D; d++) qs[d] = q[(long)h * D + d] * scale;
        float mx = -INFINITY;
#if LLX_AVX512
        if (use_avx512() && (D & 15) == 0) {
            attn_head_avx512(qs, k, v, bf16, out + (long)h * D, Tk, ld, kvh, D, s);
            continue;
        }
#endif
        for (long j = 0; j < Tk; j++) {
            float a = 0;
            long base = j * ld + (long)kvh * D;
            for (int d = 0; d < D; d++) a += load_kv(k, bf16, base + d) * qs[d];
            s[j] = a;
            if (a > mx) mx = a;
        }
        float sum = 0;
        for (long j = 0; j < Tk; j++) { s[j] = expf(s[j] - mx); sum += s[j]; }
        float inv = 1.0f / sum;
        float *o = out + (long)h * D;
        for (int d = 0; d < D; d++) o[d] = 0;
        for (long j = 0; j < Tk; j++) {
            long base = j * ld + (long)kvh * D;
            for (int d = 0; d < D; d++) o[d] += s[j] * load_kv(v, bf16, base + d);
        }
        for (int d = 0; d < D; d++) o[d] *= inv;
    }
}
