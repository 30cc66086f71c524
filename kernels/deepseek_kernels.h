/*
 * deepseek_kernels.h -- the C interface of deepseek_cuda.so, the CUDA kernels
 * the inference worker's CUDA backend calls.
 *
 * Rules every function follows:
 *   - Work is queued on the given stream (a cudaStream_t; NULL is the legacy
 *     default stream) and the call returns without waiting for it.
 *   - The return value is a ds_cuda_status.  On failure nothing was queued
 *     after the failing step, and ds_cuda_last_error() gives a one-line
 *     message ("file:line: what failed: why") for the calling thread.
 *   - Nothing exits, aborts or prints.  A CUDA error from an earlier
 *     asynchronous launch may surface in a later call as DS_CUDA_ERR_CUDA.
 *   - Pointers are device pointers unless a comment says otherwise.
 *   - No call allocates device memory except ds_cuda_context_create(), so
 *     every operation may be captured in a CUDA graph.
 *
 * Shapes and layouts:
 *   - A weight matrix W has M rows (outputs) of K elements (inputs) in a GGUF
 *     type, each row stored as in the file: ds_row_size(type, K) bytes, rows
 *     back to back.  W must be 16-byte aligned.  K must be a multiple of 32
 *     (256 for the K-quants).
 *   - Activations are row-major: x[b * ldx + k] for vector b, y[b * ldy + m].
 *     They are f32 or bf16 (ds_cuda_dtype).
 *
 * Supported weight types (ggml ids, quant.h): F16, BF16, Q4_0, Q4_1, Q5_0,
 * Q8_0, Q4_K, Q5_K, Q6_K.
 *
 * A ds_cuda_context holds what the matrix products need between calls: the
 * device's multiprocessor count, a cuBLAS handle and a device workspace.
 * Operations that take a context use its workspace, so operations on one
 * context must be ordered (one stream at a time, or events between streams).
 */
#ifndef DEEPSEEK_KERNELS_H
#define DEEPSEEK_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C"
{
#endif

/* The library exports only these functions. */
#define DS_CUDA_API __attribute__((visibility("default")))

/* Same type as cudaStream_t, so callers need no CUDA headers. */
typedef struct CUstream_st *ds_cuda_stream;

/* raised whenever an exported signature changes (2: the lag argument of
 * ds_cuda_matvec_q8tma_tuned) */
#define DS_CUDA_ABI_VERSION 2

typedef enum ds_cuda_status
{
	DS_CUDA_OK = 0,
	DS_CUDA_ERR_ARG = 1,		/* invalid argument (shape, pointer, enum) */
	DS_CUDA_ERR_UNSUPPORTED = 2,	/* valid but not implemented (weight type) */
	DS_CUDA_ERR_WORKSPACE = 3,	/* the context's workspace is too small */
	DS_CUDA_ERR_CUDA = 4,		/* a CUDA runtime call or kernel launch failed */
	DS_CUDA_ERR_CUBLAS = 5,		/* a cuBLAS call failed */
	DS_CUDA_ERR_NOMEM = 6		/* device or host allocation failed */
} ds_cuda_status;

typedef enum ds_cuda_dtype
{
	DS_CUDA_F32 = 0,
	DS_CUDA_BF16 = 1
} ds_cuda_dtype;

/* ABI version of the library (DS_CUDA_ABI_VERSION it was built with). */
DS_CUDA_API int			ds_cuda_abi_version(void);

/* Static name of a status ("ok", "invalid argument", ...). */
DS_CUDA_API const char *ds_cuda_status_name(int status);

/* Message of the calling thread's last failure; "" if none. */
DS_CUDA_API const char *ds_cuda_last_error(void);

/* Number of CUDA devices, 0 when there is none or no usable driver. */
DS_CUDA_API int			ds_cuda_device_count(void);

/* ------------------------------------------------------------------------
 * Context
 * ------------------------------------------------------------------------ */
typedef struct ds_cuda_context ds_cuda_context;

/*
 * Make device current for the calling thread, create a cuBLAS handle and
 * allocate workspace_bytes of device workspace (0 = 256 MiB).  Creating the
 * first context of a process costs about half a second (CUDA and cuBLAS).
 */
DS_CUDA_API int			ds_cuda_context_create(int device, size_t workspace_bytes,
								   ds_cuda_context **out);
DS_CUDA_API void		ds_cuda_context_destroy(ds_cuda_context *ctx);

/*
 * Whether the context's split-K state is as every call leaves it (the
 * arrival counters 0, the word slots empty); waits for the device.  A
 * check for tests and after an error: DS_CUDA_ERR_CUDA, with a count of
 * what is off in ds_cuda_last_error(), where a kernel stopped midway.
 */
DS_CUDA_API int			ds_cuda_context_check(const ds_cuda_context *ctx);

/* Device name and multiprocessor count, for logs. */
DS_CUDA_API const char *ds_cuda_context_device_name(const ds_cuda_context *ctx);
DS_CUDA_API int			ds_cuda_context_sm_count(const ds_cuda_context *ctx);

/* ------------------------------------------------------------------------
 * Matrix products y[b] = W x[b], b = 0 .. n-1
 * ------------------------------------------------------------------------ */

/*
 * The product for any n >= 1, by the fastest path measured for the shape:
 * the small-batch kernel (n <= 8 per pass over the weights) or, for larger
 * n, the wgmma GEMM (quantized weights of 2^25 elements or more on a
 * compute capability 9.0 GPU), the fused dequantize-and-multiply
 * tensor-core GEMM or cuBLAS (quantized weights dequantized into a bf16
 * scratch first, F16 and BF16 weights in place).  The crossovers and their
 * measurements are in kernels/matmul.cu, the figures in docs/kernels.md.
 */
DS_CUDA_API int			ds_cuda_matmul(ds_cuda_context *ctx, ds_cuda_stream stream,
						   const void *w, int wtype, int M, int K,
						   const void *x, ds_cuda_dtype xtype, int ldx, int n,
						   void *y, ds_cuda_dtype ytype, int ldy);

/*
 * Small-batch product, 1 <= n <= 8, one pass over the weights, by the
 * kernel measured faster for the type and shape (ds_cuda_matvec_path()
 * says which; docs/kernels.md has the figures).  They differ in numerics:
 * see ds_cuda_matvec_mma(), ds_cuda_matvec_dp4a(), ds_cuda_matvec_q8mma(),
 * ds_cuda_matvec_q8tma() and ds_cuda_matvec_bulk() (the last four compute
 * the same int8-x product).
 */
DS_CUDA_API int			ds_cuda_matvec(ds_cuda_context *ctx, ds_cuda_stream stream,
						   const void *w, int wtype, int M, int K,
						   const void *x, ds_cuda_dtype xtype, int ldx, int n,
						   void *y, ds_cuda_dtype ytype, int ldy);

#define DS_CUDA_MATVEC_MMA 0
#define DS_CUDA_MATVEC_DP4A 1
#define DS_CUDA_MATVEC_Q8MMA 2
#define DS_CUDA_MATVEC_Q8TMA 3
#define DS_CUDA_MATVEC_BULK 4

/* The kernel ds_cuda_matvec() uses for this product: DS_CUDA_MATVEC_*. */
DS_CUDA_API int			ds_cuda_matvec_path(int wtype, int M, int K, int n);

/*
 * Small-batch product on the tensor cores: 16-byte cp.async copies, the
 * quantized integers as bf16 in mma.sync, block scales applied in f32.  An
 * f32 x is split into two bf16 parts, so the result matches an f32
 * computation to about 1e-5 relative; a bf16 x is used exactly.  Any K
 * that is a whole number of blocks.
 */
DS_CUDA_API int			ds_cuda_matvec_mma(ds_cuda_context *ctx, ds_cuda_stream stream,
							   const void *w, int wtype, int M, int K,
							   const void *x, ds_cuda_dtype xtype, int ldx, int n,
							   void *y, ds_cuda_dtype ytype, int ldy);

/*
 * Small-batch product with int8 activations: x is quantized per 32
 * elements (d = amax / 127, q = round(x / d)) into the context's workspace
 * by a first small kernel, then weights unpacked to int8 are multiplied
 * with __dp4a and the block scales applied in f32: the result is the exact
 * product with the quantized x up to f32 rounding (~1e-7 relative), and
 * differs from the f32 product by the quantization of x (~0.5-1% relative
 * for Gaussian x).  F16/BF16 weights keep f32 x (f32 FMA, ~1e-6).  Needs
 * K % 256 == 0 (DS_CUDA_ERR_UNSUPPORTED otherwise).  The second kernel is
 * a programmatic dependent launch of the first (sm_90).
 */
DS_CUDA_API int			ds_cuda_matvec_dp4a(ds_cuda_context *ctx, ds_cuda_stream stream,
								const void *w, int wtype, int M, int K,
								const void *x, ds_cuda_dtype xtype, int ldx, int n,
								void *y, ds_cuda_dtype ytype, int ldy);

/*
 * Small-batch product, 1 <= n <= 2, with whole rows per block: each block
 * streams one contiguous range of rows through the copy engine (1-D bulk
 * copies of whole-row stages) and computes as ds_cuda_matvec_dp4a(), with
 * the same numerics (the int8-x product up to f32 rounding; F16/BF16 with
 * f32 x).  No row is shared between blocks.  Needs K % 256 == 0 and two
 * stages of one row in shared memory (DS_CUDA_ERR_UNSUPPORTED otherwise).
 */
DS_CUDA_API int			ds_cuda_matvec_bulk(ds_cuda_context *ctx, ds_cuda_stream stream,
								const void *w, int wtype, int M, int K,
								const void *x, ds_cuda_dtype xtype, int ldx, int n,
								void *y, ds_cuda_dtype ytype, int ldy);

/*
 * Small-batch product on the tensor cores with the weights' own integers:
 * for the quantized types x is quantized as for ds_cuda_matvec_dp4a(), the
 * weights are unpacked to int8 in registers, and one mma.m16n8k32.s8
 * multiplies 16 rows x 32 weights with all n vectors, so the cost per
 * weight barely grows with n; same numerics as ds_cuda_matvec_dp4a() (x
 * scales rounded to 22 significant bits: ~3e-7 relative to the exact
 * product with the quantized x).  F16/BF16 weights: bf16 tensor cores, F16
 * as two exact bf16 parts, f32 x as bf16 hi + lo, f32 accumulation (~3e-6
 * relative to the f32 product).  K % 256 == 0 (DS_CUDA_ERR_UNSUPPORTED
 * otherwise).  Uses the workspace and, when it splits K, the context's
 * counters.
 */
DS_CUDA_API int			ds_cuda_matvec_q8mma(ds_cuda_context *ctx, ds_cuda_stream stream,
								 const void *w, int wtype, int M, int K,
								 const void *x, ds_cuda_dtype xtype, int ldx, int n,
								 void *y, ds_cuda_dtype ytype, int ldy);

/*
 * The same int8 tensor-core product with the weights streamed by the copy
 * engine: one lane per block issues tensor copies (cp.async.bulk.tensor)
 * of whole row-block tiles into a shared-memory ring read by the block's
 * compute warps, and the work is cut into equal ranges of tiles per block
 * (stream-K), partial row blocks summed in a fixed order; for Q4_1, Q5_0,
 * Q4_K and Q5_K each step's x fragments are copied into the ring too (the
 * faster there).  Numerics of ds_cuda_matvec_q8mma().  Types Q4_0, Q4_1,
 * Q5_0, Q8_0, Q4_K and Q5_K,
 * K % 256 == 0 (DS_CUDA_ERR_UNSUPPORTED otherwise).
 * Uses the workspace and the context's counters.
 */
DS_CUDA_API int			ds_cuda_matvec_q8tma(ds_cuda_context *ctx, ds_cuda_stream stream,
								 const void *w, int wtype, int M, int K,
								 const void *x, ds_cuda_dtype xtype, int ldx, int n,
								 void *y, ds_cuda_dtype ytype, int ldy);

/*
 * ds_cuda_matvec_q8mma() with its knobs, for tests and measurements: ks =
 * segments of K (0-16; 0 = by shape), mt = m16 tiles per unit (1, 2; 0 =
 * by shape; 2 only where the type allows it), handover = how the split-K
 * sums meet: 0 as ds_cuda_matvec_q8mma() (by type, shape and batch), 1
 * word slots, 2 partials behind a fence, 3 within the block (4 or 2
 * segments held by one block's warps, chosen here; ks ignored).  Same
 * numerics, bit-identical results.
 */
DS_CUDA_API int			ds_cuda_matvec_q8mma_tuned(ds_cuda_context *ctx, ds_cuda_stream stream,
									   const void *w, int wtype, int M, int K,
									   const void *x, ds_cuda_dtype xtype, int ldx, int n,
									   void *y, ds_cuda_dtype ytype, int ldy,
									   int ks, int mt, int handover);

/*
 * ds_cuda_matvec_q8tma() with its knobs, for tests and measurements: mt =
 * m16 tiles per compute warp (1, 2; 0 = by shape), sc = tiles per step (1,
 * 2, 4; 0 = 2), xs = 1: x fragments and records copied into each stage by
 * the copy engine with the weights, instead of read from global memory by
 * the compute warps; lag = 1-3: at most that many steps asked for and not
 * yet landed per block (0: as many as the ring holds).  Same numerics.
 */
DS_CUDA_API int			ds_cuda_matvec_q8tma_tuned(ds_cuda_context *ctx, ds_cuda_stream stream,
									   const void *w, int wtype, int M, int K,
									   const void *x, ds_cuda_dtype xtype, int ldx, int n,
									   void *y, ds_cuda_dtype ytype, int ldy,
									   int mt, int sc, int xs, int lag);

/*
 * Larger batches: the weights are dequantized to bf16 tile by tile in
 * registers and multiplied on the tensor cores; x is rounded to bf16.
 * Accuracy is that of a bf16 GEMM with f32 accumulation.
 */
DS_CUDA_API int			ds_cuda_gemm_fused(ds_cuda_context *ctx, ds_cuda_stream stream,
							   const void *w, int wtype, int M, int K,
							   const void *x, ds_cuda_dtype xtype, int ldx, int n,
							   void *y, ds_cuda_dtype ytype, int ldy);

/*
 * Larger batches on Hopper's warpgroup instructions (wgmma): the weights
 * are dequantized to bf16 in shared memory by a producer warpgroup and
 * multiplied from there by two consumer warpgroups, one block per
 * multiprocessor.  Accuracy as ds_cuda_gemm_fused.  Compute capability
 * 9.0 only (DS_CUDA_ERR_UNSUPPORTED elsewhere).
 */
DS_CUDA_API int			ds_cuda_gemm_wgmma(ds_cuda_context *ctx, ds_cuda_stream stream,
							   const void *w, int wtype, int M, int K,
							   const void *x, ds_cuda_dtype xtype, int ldx, int n,
							   void *y, ds_cuda_dtype ytype, int ldy);

/*
 * Larger batches through cuBLAS: row slabs of W are dequantized into a bf16
 * scratch in the workspace and multiplied with cublasGemmEx (bf16 in, f32
 * accumulate).  BF16 weights are used in place.  F16 weights are used in
 * place too, multiplied in f16 (f32 accumulate) with x rounded to f16
 * after an exact power-of-two scaling from max |x| (no overflow; the
 * rounding of x to 11 significant bits is the only one before the f32
 * sums); a bf16 y goes through an f32 scratch in the workspace.
 */
DS_CUDA_API int			ds_cuda_gemm_cublas(ds_cuda_context *ctx, ds_cuda_stream stream,
								const void *w, int wtype, int M, int K,
								const void *x, ds_cuda_dtype xtype, int ldx, int n,
								void *y, ds_cuda_dtype ytype, int ldy);

/*
 * Dequantize rows x K elements of W into out (row-major, ld = K) as f32 or
 * bf16.  The f32 values are those of the reference dequantizer (quant.c).
 */
DS_CUDA_API int			ds_cuda_dequantize(ds_cuda_stream stream, const void *w, int wtype,
							   int rows, int K, void *out, ds_cuda_dtype otype);

/* ------------------------------------------------------------------------
 * Element-wise and small operations of a llama / qwen2 layer
 * ------------------------------------------------------------------------ */

/*
 * RMSNorm of rows x n: out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight.
 * x, weight f32; out f32 or bf16 (row stride n).
 */
DS_CUDA_API int			ds_cuda_rmsnorm(ds_cuda_stream stream, const float *x, const float *weight,
							int n, int rows, float eps, void *out, ds_cuda_dtype otype);

/*
 * Residual add fused with the next RMSNorm, one pass over memory:
 * h[r] += d[r] (h is updated in place), then out[r] = rmsnorm(h[r]) * weight.
 * d may be NULL (plain RMSNorm of h).  Row stride n everywhere.
 */
DS_CUDA_API int			ds_cuda_add_rmsnorm(ds_cuda_stream stream, float *h, const float *d,
								const float *weight, int n, int rows, float eps,
								void *out, ds_cuda_dtype otype);

/* Residual add: y[i] = a[i] + b[i] for count elements (y may alias a or b). */
DS_CUDA_API int			ds_cuda_add(ds_cuda_stream stream, float *y, const float *a,
						const float *b, size_t count);

typedef enum ds_cuda_rope_mode
{
	DS_CUDA_ROPE_NORM = 0,		/* rotate adjacent pairs (x[2i], x[2i+1]): llama */
	DS_CUDA_ROPE_NEOX = 2		/* rotate (x[i], x[i + n_rot/2]): qwen2, NEOX */
} ds_cuda_rope_mode;

/*
 * Rotary position embedding in place on x, f32 [n_tok][n_head][head_dim]
 * with token stride ld_tok (elements) and head stride head_dim.  Pair i of
 * the first n_rot dimensions of a head at position p turns by
 *   theta = p * freq_scale * freq_base^(-2i/n_rot) / freq_factors[i]
 * (freq_factors, the GGUF rope_freqs tensor, may be NULL: all 1).  The angle
 * is computed in double precision.  Dimensions from n_rot on are unchanged.
 */
DS_CUDA_API int			ds_cuda_rope(ds_cuda_stream stream, float *x, int n_tok, int n_head,
						 int head_dim, int ld_tok, int n_rot, const int32_t *pos,
						 ds_cuda_rope_mode mode, float freq_base, float freq_scale,
						 const float *freq_factors);

/*
 * SwiGLU: out[r][i] = silu(gate[r][i]) * up[r][i], silu(v) = v / (1 + e^-v),
 * for rows x n; gate and up f32 with row strides ldg, ldu; out f32 or bf16
 * with row stride ldo.
 */
DS_CUDA_API int			ds_cuda_swiglu(ds_cuda_stream stream, const float *gate, int ldg,
						   const float *up, int ldu, int n, int rows,
						   void *out, ds_cuda_dtype otype, int ldo);

/*
 * Embedding lookup: out[i] = dequantized row ids[i] of table (vocab rows of
 * n_embd elements in type ttype), f32 or bf16, row stride n_embd.  An id
 * outside [0, vocab) gives a row of zeros.
 */
DS_CUDA_API int			ds_cuda_embed(ds_cuda_stream stream, const void *table, int ttype,
						  int vocab, int n_embd, const int32_t *ids, int n,
						  void *out, ds_cuda_dtype otype);

/*
 * Greedy sampling: out[r] = index of the largest logits[r * ld + i],
 * i < n; the lowest index wins a tie; NaN never wins (all NaN gives 0).
 */
DS_CUDA_API int			ds_cuda_argmax(ds_cuda_stream stream, const float *logits, int ld,
						   int rows, int n, int32_t *out);

#define DS_CUDA_TOPK_MAX 256

/*
 * The k largest logits of each row (1 <= k <= min(n, DS_CUDA_TOPK_MAX)),
 * sorted by value descending, ties by index ascending (NaN ranks lowest):
 * out_ids[r * k + j], out_vals[r * k + j] (out_vals may be NULL).
 */
DS_CUDA_API int			ds_cuda_topk(ds_cuda_stream stream, const float *logits, int ld,
						 int rows, int n, int k, int32_t *out_ids, float *out_vals);

/*
 * Top-k sampling: among the k largest logits of row r, token j is drawn with
 * probability softmax(logit / temperature) using the uniform number u[r] in
 * [0, 1) (device array, one per row), so the same u gives the same token.
 * temperature <= 0 or k == 1 is greedy.  out[r] is the token id.
 */
DS_CUDA_API int			ds_cuda_sample_topk(ds_cuda_stream stream, const float *logits, int ld,
								int rows, int n, int k, float temperature,
								const float *u, int32_t *out);

#ifdef __cplusplus
}
#endif

#endif							/* DEEPSEEK_KERNELS_H */
