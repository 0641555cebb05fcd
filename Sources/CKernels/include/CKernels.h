// CKernels: the bandwidth-bound decode kernels of llx, written in C with AVX-512 intrinsics
// (chosen at run time; a portable scalar path on CPUs without AVX-512): matrix-vector products that
// stream a weight once per token and read f32, bf16 or NF4 weights directly (bf16 and NF4 are
// widened / looked up in registers, never copied out), single-query attention over a KV cache
// in f32 or bf16, and a pool of worker threads that stay hot between calls (they spin briefly,
// then sleep), so a decode step does not pay a thread wake-up per matrix.
#ifndef LLX_CKERNELS_H
#define LLX_CKERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A task run by the pool: called once per chunk with chunk in [0, nchunks).
typedef void (*llx_task_fn)(void *ctx, int chunk, int nchunks);

/// Runs fn(ctx, chunk, nchunks) for every chunk in [0, nchunks) on the calling thread and up to
/// nth - 1 pool workers, which claim chunks from a shared counter (a worker that is not running
/// never holds the caller up), and returns when all are done. Nested or concurrent calls run
/// their chunks inline, one after another.
void llx_pool_run(llx_task_fn fn, void *ctx, int nth, int nchunks);

/// How long an idle worker spins before it sleeps (microseconds; default 2000).
void llx_pool_set_spin_us(int us);

/// Whether the AVX-512 kernels run (1) or the portable scalar ones (0): decided at run time
/// from the CPU (avx512f and avx512bw), whatever CPU the build targeted; LLX_KERNELS=generic
/// forces the scalar kernels.
int llx_kernels_avx512(void);

/// Forces the scalar kernels (1) or restores the run-time choice (0); for tests comparing both.
void llx_kernels_force_generic(int generic);

/// y[t * ldy + j] = sum_k W[j, k] * x[t * ldx + k] for rows j in [r0, r1), t < nx.
/// W is row-major f32 with row stride ldw.
void llx_gemv_f32(const float *W, long ldw, long cols, const float *x, long ldx, int nx,
                  float *y, long ldy, long r0, long r1);

/// The same with W stored as bf16 (the high 16 bits of an f32), widened in registers.
void llx_gemv_bf16(const uint16_t *W, long ldw, long cols, const float *x, long ldx, int nx,
                   float *y, long ldy, long r0, long r1);

/// NF4 statistics of one weight: either absmax (one f32 per block) or double quantization
/// (qabsmax one byte per block, absmax2 one f32 per 256 blocks, dyn the 256-entry dynamic map,
/// offset). A block's scale is dyn[qabsmax[b]] * absmax2[b / 256] + offset.
typedef struct {
    const uint8_t *codes;      // two codes a byte, first element in the high nibble
    const float *absmax;       // or NULL
    const uint8_t *qabsmax;    // or NULL
    const float *absmax2;
    const float *dyn;
    const float *table;        // the 16 NF4 values
    float offset;
    long blocksize;            // a multiple of 32
} llx_nf4;

/// y[t * ldy + j] = sum_k W[j, k] * x[t, k] for rows j in [r0, r1), t < nx, W an NF4 weight with
/// `cols` columns (a multiple of blocksize). xs holds each input deinterleaved (llx_nf4_split):
/// row t at xs + t * cols, even elements first (cols / 2), then odd ones.
void llx_gemv_nf4(const llx_nf4 *w, long cols, const float *xs, int nx, float *y, long ldy, long r0, long r1);

/// Writes x (cols) as its even elements followed by its odd elements (cols even).
void llx_nf4_split(const float *x, long cols, float *out);

/// One query position against Tk cached keys/values, for query heads [h0, h1):
/// out[h * D + d] = sum_j softmax_j(scale * q_h . k_j) v_j[d], with key/value head h / (Hq / Hkv).
/// q, out: [Hq, D]; k, v: [Tk, Hkv * D] in f32 (bf16 = 0) or bf16 (bf16 = 1).
/// scratch: Tk + D floats for this call's exclusive use.
void llx_attn_decode(const float *q, const void *k, const void *v, int bf16, float *out, long Tk,
                     int Hq, int Hkv, int D, float scale, float *scratch, int h0, int h1);

/// dst[i] = bf16 of src[i], rounded to nearest even (NaN stays NaN), for i < n.
void llx_f32_to_bf16(const float *src, uint16_t *dst, long n);

/// dst[r * cols + j] = src[r * ld + j] rounded to bf16 (as llx_f32_to_bf16) and widened back to
/// f32, for r < rows, j < cols (dst dense).
void llx_bf16_round_rows(const float *src, long ld, long rows, long cols, float *dst);

/// dst[i] = f32 of the bf16 src[i], for i < n.
void llx_bf16_to_f32(const uint16_t *src, float *dst, long n);


/// Whether llx_sbgemm can run here: the CPU has AMX-BF16 and the kernel granted this process the
/// tile state (asked once; LLX_AMX=0 says no).
int llx_sbgemm_available(void);

/// C = alpha * op(A) op(B) + beta * C (row-major, BLAS argument conventions; beta 0 does not read
/// C) with op(A) and op(B) rounded to bf16 (nearest even) and their products summed in f32 on
/// the AMX tile unit. Call only where llx_sbgemm_available() is 1.
void llx_sbgemm(int transA, int transB, long M, long N, long K, float alpha,
                const float *A, long lda, const float *B, long ldb, float beta, float *C, long ldc);

/// llx_sbgemm for the causal blocks of attention (one thread), in 32-row blocks mb of C:
/// causal 1 computes only C's columns below mb + 32 (the rest of C is left as it was); 2 sums
/// only over k below mb + 32; 3 only over k from mb on. causal 0 is llx_sbgemm.
void llx_sbgemm_causal(int causal, int transA, int transB, long M, long N, long K, float alpha,
                       const float *A, long lda, const float *B, long ldb, float beta, float *C, long ldc);

/// llx_sbgemm in parallel phases: llx_sbgemm_shared takes and sizes the one shared packing
/// buffer (NULL: no memory, or another product holds it), then every part in [0, parts) runs
/// llx_sbgemm_pack, and after all of them every part runs llx_sbgemm_tiles (its share of the
/// 32-row blocks of C; it takes A again, whose rows it may pack itself); llx_sbgemm_shared_done
/// gives the buffer back. Same results as llx_sbgemm.
uint16_t *llx_sbgemm_shared(long M, long N, long K);
void llx_sbgemm_shared_done(void);
void llx_sbgemm_pack(int transA, int transB, long M, long N, long K, const float *A, long lda,
                     const float *B, long ldb, uint16_t *buf, int part, int parts);
void llx_sbgemm_tiles(int transA, long M, long N, long K, const float *A, long lda, const uint16_t *buf, float alpha,
                      float beta, float *C, long ldc, int part, int parts);

/// Whether the llx_sbgemm_dp functions can run here: the CPU has AVX512-BF16 (CPUID.(7,1):EAX[5])
/// with AVX512F/BW/VL/DQ (asked once; LLX_AVX512BF16=0 says no).
int llx_sbgemm_dp_available(void);

/// llx_sbgemm, llx_sbgemm_causal and llx_sbgemm_tiles without the tile unit: the same products
/// (bf16 operands rounded to nearest even, products summed in f32) with AVX512-BF16's vdpbf16ps.
/// llx_sbgemm_dp_tiles takes a buffer filled by llx_sbgemm_shared and llx_sbgemm_pack. Call only
/// where llx_sbgemm_dp_available() is 1.
void llx_sbgemm_dp(int transA, int transB, long M, long N, long K, float alpha,
                   const float *A, long lda, const float *B, long ldb, float beta, float *C, long ldc);
void llx_sbgemm_dp_causal(int causal, int transA, int transB, long M, long N, long K, float alpha,
                          const float *A, long lda, const float *B, long ldb, float beta, float *C, long ldc);
/// llx_sbgemm_dp_causal on one thread with op(B) [K, N] already packed at Bp (llx_sbgemm_pack_b's
/// layout, part 0 of 1): products that share op(B) (the heads of one key-value head) pack it once.
void llx_sbgemm_dp_causal_packed(int causal, int transA, long M, long N, long K, float alpha, const float *A, long lda,
                                 const uint16_t *Bp, float beta, float *C, long ldc);
/// With `emit_t` (not transA), op(A) = A [M, K] is also written there transposed as bf16 rows
/// (row c of Aᵀ at emit_t + c * ldt, ldt = M rounded up to 32; (K rounded up to 32) * ldt
/// uint16), the op(A) of llx_sbgemm_dp_tiles_prepacked for a product summing over A's rows.
void llx_sbgemm_dp_tiles(int transA, long M, long N, long K, const float *A, long lda, const uint16_t *buf, float alpha,
                         float beta, float *C, long ldc, uint16_t *emit_t, int part, int parts);
/// llx_sbgemm_dp_tiles_packed with op(A) [M, K] too already packed: bf16 rows at Ap + i * ldap
/// (K rounded up to 32 with zeros, ldap >= that; rows up to M rounded up to 32 readable).
void llx_sbgemm_dp_tiles_prepacked(long M, long N, long K, const uint16_t *Ap, long ldap, const uint16_t *Bp,
                                   float alpha, float beta, float *C, long ldc, int part, int parts);
/// llx_sbgemm_dp_tiles with op(B) already packed at Bp (op(B) [K, N] as llx_sbgemm_pack lays it
/// out, for any M): products that share op(B) (several weights' gradients against one input)
/// pack it once, at llx_sbgemm_packed_b(buf, M, N, K) of the buffer llx_sbgemm_pack filled.
void llx_sbgemm_dp_tiles_packed(int transA, long M, long N, long K, const float *A, long lda, const uint16_t *Bp,
                                float alpha, float beta, float *C, long ldc, int part, int parts);
const uint16_t *llx_sbgemm_packed_b(const uint16_t *buf, long M, long N, long K);
/// Products that share op(A) (q, k and v of one input): llx_sbgemm_pack_b packs part `part` of
/// `parts` of op(B) [K, N]'s 16-column blocks into Bp (Np * Kp uint16: N rounded up to 16, K to 32),
/// then every part of llx_sbgemm_dp_tiles_shared_a packs each 32-row strip of op(A) once and
/// multiplies it by all G packed op(B_g): C_g = alpha * op(A) * op(B_g) + beta * C_g, each the
/// same as its own llx_sbgemm_dp_tiles. Vector packing (AVX512-BF16) only. With `emit` (not
/// transA), each strip is also written there as op(B) of a product summing over A's rows (B = A,
/// [M, K]): exactly what llx_sbgemm_pack_b(0, K, M, A, lda, ...) packs, Kp(M) * Np(K) uint16, for
/// the weight gradients of the backward (dW = dYᵀ A) to use without packing A again.
void llx_sbgemm_pack_b(int transB, long N, long K, const float *B, long ldb, uint16_t *Bp, int part, int parts);
void llx_sbgemm_dp_tiles_shared_a(int transA, long M, long K, const float *A, long lda, int G, const uint16_t *const *Bp,
                                  const long *N, float *const *C, const long *ldc, float alpha, float beta,
                                  uint16_t *emit, int part, int parts);

#ifdef __cplusplus
}
#endif

#endif
