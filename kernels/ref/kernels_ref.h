/*
 * kernels_ref.h -- CPU references of the CUDA kernels in kernels/: the
 * specification each kernel is tested against.
 *
 * Plain C, written for clarity rather than speed: sums in double, one element
 * at a time, weights through quant.c's reference dequantizer.  The GPU tests
 * (test/gpu/test_kernels_gpu.cu) compare every kernel with these; CI runs
 * their own checks (test/gpu/test_kernels_cpu.cpp) without a GPU.
 */
#ifndef DS_KERNELS_REF_H
#define DS_KERNELS_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C"
{
#endif

/*
 * y[b * ldy + m] = sum_k W[m][k] * x[b * ldx + k] for b < n, m < M, with W in
 * a GGUF type (rows of ds_row_size(type, K) bytes).  False for a type
 * quant.c cannot dequantize.
 */
bool		ds_ref_matmul(int type, const void *w, int M, int K,
						  const float *x, int ldx, int n, float *y, int ldy);

/*
 * The dp4a small-batch product's numerics: each 32-element block of x is
 * quantized to int8 (d = amax / 127, q = round-half-even(x / d); s16 gets
 * the sums of q over each 16-element half), then y = W (q * d) exactly,
 * accumulated in double.  F16/BF16 weights keep f32 x: ds_ref_matmul().
 */
void		ds_ref_quantize_q8(const float *x, int K, int8_t *q, float *d, int32_t *s16);
bool		ds_ref_matmul_q8(int type, const void *w, int M, int K,
							 const float *x, int ldx, int n, float *y, int ldy);

/* out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight, rows x n. */
void		ds_ref_rmsnorm(const float *x, const float *weight, int n, int rows,
						   float eps, float *out);

/* h[r] += d[r] (d may be NULL), then out[r] = rmsnorm(h[r]) * weight. */
void		ds_ref_add_rmsnorm(float *h, const float *d, const float *weight,
							   int n, int rows, float eps, float *out);

/* y[i] = a[i] + b[i] */
void		ds_ref_add(float *y, const float *a, const float *b, size_t count);

/* RoPE in place; mode 0 adjacent pairs, 2 NEOX (see deepseek_kernels.h). */
void		ds_ref_rope(float *x, int n_tok, int n_head, int head_dim, int ld_tok,
						int n_rot, const int32_t *pos, int mode, float freq_base,
						float freq_scale, const float *freq_factors);

/* out[r][i] = silu(gate[r][i]) * up[r][i] */
void		ds_ref_swiglu(const float *gate, int ldg, const float *up, int ldu,
						  int n, int rows, float *out, int ldo);

/* out[i] = dequantized row ids[i] of table; zeros for an id out of range. */
bool		ds_ref_embed(const void *table, int type, int vocab, int n_embd,
						 const int32_t *ids, int n, float *out);

/* index of the largest value (lowest index on ties, NaN never wins) */
int32_t		ds_ref_argmax(const float *v, int n);

/* the k largest values, by value descending then index ascending */
void		ds_ref_topk(const float *v, int n, int k, int32_t *ids, float *vals);

/* top-k sampling with uniform u in [0, 1); greedy when temperature <= 0 */
int32_t		ds_ref_sample_topk(const float *v, int n, int k, float temperature,
							   float u);

#ifdef __cplusplus
}
#endif

#endif							/* DS_KERNELS_REF_H */
