/*
 * gemm_cublas.cu -- larger batches through cuBLAS, cublasGemmEx with f32
 * accumulation in the "TN" layout:
 *
 *   BF16 weights   used in place; x as contiguous bf16 rows.
 *   F16 weights    used in place as f16 (cuBLAS multiplies f16 natively,
 *                  at the speed of bf16); x converted to contiguous f16
 *                  rows scaled by a power of two 2^-s chosen from max |x|
 *                  so that nothing overflows f16 and small values keep
 *                  their bits, and alpha = 2^s undoes the scale.  cuBLAS
 *                  takes f16 A and B with an f32 C only, so a bf16 y is
 *                  computed into an f32 scratch (in chunks of vectors
 *                  when the workspace is short) and rounded into y.
 *   quantized      row slabs of W dequantized into a bf16 scratch
 *                  (dequant.cu), each slab multiplied in bf16.
 *
 * The F16 case never writes a copy of the weights: its only extra traffic
 * is x (read twice, written once as f16) and, for a bf16 y, the f32
 * scratch.  The power-of-two scale is exact, so the only rounding of x is
 * f16's (11 significant bits, against bf16's 8).  Alpha and beta are read
 * from device memory (CUBLAS_POINTER_MODE_DEVICE for that call only), so
 * no value computed on the device comes back to the host and the whole
 * sequence can be captured in a CUDA graph.
 *
 * Layouts: W row-major [M][K] is column-major K x M, so op(A) = A^T; x
 * row-major [n][K] is column-major K x n; y row-major [n][ldy] is
 * column-major M x n with ldc = ldy.  So y = W^T(col) * x: the "TN" GEMM.
 */
#include <cuda_fp16.h>

#include "common.cuh"
#include "dequant.cuh"
#include "gemm_cublas.cuh"
#include "matvec.cuh"

/*
 * The F16 path's words at the start of the workspace: max |x| as the bits
 * of a non-negative float (compared as unsigned, which orders them the
 * same way), then alpha and beta for cuBLAS.
 */
#define F16_AMAX 0
#define F16_ALPHA 1
#define F16_BETA 2
#define F16_WORDS_BYTES 256

namespace
{

/*
 * The three small kernels below walk an array of rows x cols elements in a
 * 2-D grid-stride loop: blocks along x cover a row, blocks along y take
 * every gridDim.y-th row (no division per element).
 */
#define FOR_ROWS_COLS(r, c, rows, cols) \
	for (int r = blockIdx.y; r < (rows); r += gridDim.y) \
		for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < (cols); \
			 c += gridDim.x * blockDim.x)

/* V consecutive elements of x from element i (V = 4: i a multiple of 4,
 * 16-byte (f32) or 8-byte (bf16) aligned) */
template <int V>
__device__ __forceinline__ void
load_x(const void *x, size_t i, int x_bf16, float (&v)[V])
{
	if constexpr (V == 4)
	{
		if (x_bf16)
		{
			const uint2 u = *(const uint2 *) ((const uint16_t *) x + i);

			v[0] = __uint_as_float(u.x << 16);
			v[1] = __uint_as_float(u.x & 0xffff0000u);
			v[2] = __uint_as_float(u.y << 16);
			v[3] = __uint_as_float(u.y & 0xffff0000u);
		}
		else
		{
			const float4 f = *(const float4 *) ((const float *) x + i);

			v[0] = f.x;
			v[1] = f.y;
			v[2] = f.z;
			v[3] = f.w;
		}
	}
	else
		v[0] = ds_load_act(x, i, x_bf16);
}

/* max |x| over the n x K elements used, into *amax (zeroed before); V
 * elements per load */
template <int V>
__global__ void
k_absmax(const void *x, int x_bf16, int ldx, int n, int K, unsigned *amax)
{
	__shared__ unsigned sh[32];
	const int	lane = threadIdx.x & 31,
				warp = threadIdx.x >> 5;
	unsigned	m = 0;

	FOR_ROWS_COLS(b, k, n, K / V)
	{
		float		v[V];

		load_x<V>(x, (size_t) b * ldx + (size_t) k * V, x_bf16, v);
#pragma unroll
		for (int e = 0; e < V; e++)
			m = max(m, __float_as_uint(fabsf(v[e])));
	}
	m = __reduce_max_sync(0xffffffffu, m);
	if (lane == 0)
		sh[warp] = m;
	__syncthreads();
	if (warp == 0)
	{
		m = lane < (int) (blockDim.x >> 5) ? sh[lane] : 0;
		m = __reduce_max_sync(0xffffffffu, m);
		if (lane == 0)
			atomicMax(amax, m);
	}
}

/*
 * x to contiguous f16 [n][K] times 2^-s, with s such that max |x| 2^-s
 * lies in [2^14, 2^15) (s = 0 when max |x| is 0 or not finite; s >= -126
 * so that alpha = 2^s stays a normal float, which only lowers the scale
 * for max |x| < 2^-111).  One thread writes alpha = 2^s and beta = 0.
 */
template <int V>
__global__ void
k_x_to_f16(const void *x, int x_bf16, int ldx, int n, int K, unsigned *words, __half *x16)
{
	const float amax = __uint_as_float(words[F16_AMAX]);
	int			s = 0;
	float		inv;

	if (amax > 0.0f && isfinite(amax))
	{
		int			e;

		frexpf(amax, &e);		/* amax in [2^(e-1), 2^e) */
		s = max(e - 15, -126);
	}
	inv = ldexpf(1.0f, -s);
	if (blockIdx.x == 0 && blockIdx.y == 0 && threadIdx.x == 0)
	{
		((float *) words)[F16_ALPHA] = ldexpf(1.0f, s);
		((float *) words)[F16_BETA] = 0.0f;
	}
	FOR_ROWS_COLS(b, k, n, K / V)
	{
		float		v[V];
		__half		h[V];

		load_x<V>(x, (size_t) b * ldx + (size_t) k * V, x_bf16, v);
#pragma unroll
		for (int e = 0; e < V; e++)
			h[e] = __float2half_rn(v[e] * inv);
		if constexpr (V == 4)
			*(uint2 *) (x16 + (size_t) b * K + (size_t) k * V) = *(const uint2 *) h;
		else
			x16[(size_t) b * K + k] = h[0];
	}
}

/* y[b][m] = bf16(y32[b][m]) for b < n, m < M; y32 has row stride M. */
__global__ void
k_f32_to_bf16(const float *y32, int n, int M, void *y, int ldy)
{
	FOR_ROWS_COLS(b, m, n, M)
		ds_store_act(y, (size_t) b * ldy + m, y32[(size_t) b * M + m], 1);
}

/* The grid of 256-thread blocks for rows x cols: about 8 blocks per
 * multiprocessor, a row's columns first. */
dim3
grid_2d(const ds_cuda_context *ctx, int rows, int cols)
{
	const int	cap = ctx->sm_count > 0 ? ctx->sm_count * 8 : 1;
	int			gx = (cols + 255) / 256,
				gy;

	if (gx > cap)
		gx = cap;
	gy = cap / gx;
	if (gy > rows)
		gy = rows;
	if (gy > 65535)
		gy = 65535;
	return dim3(gx, gy > 0 ? gy : 1);
}

}								/* namespace */

/* One cublasGemmEx: y[:, m0 .. m0+rows) = A (rows x K, bf16) times xb. */
static int
gemm_bf16(ds_cuda_context *ctx, const void *a, int rows, int K, const void *xb, int n,
		  void *y, ds_cuda_dtype ytype, int ldy)
{
	const float one = 1.0f,
				zero = 0.0f;

	DS_CUBLAS_CHECK(cublasGemmEx(ctx->cublas, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, K, &one,
								 a, CUDA_R_16BF, K, xb, CUDA_R_16BF, K, &zero,
								 y, ytype == DS_CUDA_BF16 ? CUDA_R_16BF : CUDA_R_32F, ldy,
								 CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
	return DS_CUDA_OK;
}

/*
 * One cublasGemmEx on f16: y (f32, M x n, ldc ldy) = alpha W x16 + beta y,
 * alpha and beta read from the device.  The handle is back in host pointer
 * mode on return, whether the product was queued or not.
 */
static int
gemm_f16(ds_cuda_context *ctx, const void *w, int M, int K, const __half *x16, int n,
		 float *y, int ldy, const float *alpha, const float *beta)
{
	cublasStatus_t st;

	DS_CUBLAS_CHECK(cublasSetPointerMode(ctx->cublas, CUBLAS_POINTER_MODE_DEVICE));
	st = cublasGemmEx(ctx->cublas, CUBLAS_OP_T, CUBLAS_OP_N, M, n, K, alpha,
					  w, CUDA_R_16F, K, x16, CUDA_R_16F, K, beta,
					  y, CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
	DS_CUBLAS_CHECK(cublasSetPointerMode(ctx->cublas, CUBLAS_POINTER_MODE_HOST));
	if (st != CUBLAS_STATUS_SUCCESS)
		return ds_cuda_fail(DS_CUDA_ERR_CUBLAS, __FILE__, __LINE__,
							"cublasGemmEx (f16 weights, device alpha/beta)",
							cublasGetStatusString(st));
	return DS_CUDA_OK;
}

/*
 * F16 weights: x to scaled f16 in the workspace, then the f16 GEMM, into
 * y directly (f32) or through an f32 scratch in chunks of vectors (bf16).
 */
static int
gemm_cublas_f16(ds_cuda_context *ctx, cudaStream_t stream, const void *w, int M, int K,
				const void *x, ds_cuda_dtype xtype, int ldx, int n,
				void *y, ds_cuda_dtype ytype, int ldy)
{
	const size_t used = F16_WORDS_BYTES + ds_ws_round((size_t) n * K * 2);
	unsigned   *words = (unsigned *) ctx->ws;
	__half	   *x16 = (__half *) (ctx->ws + F16_WORDS_BYTES);
	const float *alpha = (const float *) words + F16_ALPHA,
			   *beta = (const float *) words + F16_BETA;
	const int	x_bf16 = xtype == DS_CUDA_BF16;
	float	   *y32;
	size_t		chunk;

	DS_REQUIRE(used <= ctx->ws_bytes, DS_CUDA_ERR_WORKSPACE, "workspace too small for x as f16");
	DS_CUDA_CHECK(cudaMemsetAsync(words + F16_AMAX, 0, sizeof(unsigned), stream));
	/* 4 elements per load where rows allow it */
	if (K % 4 == 0 && ldx % 4 == 0 && (uintptr_t) x % (x_bf16 ? 8 : 16) == 0)
	{
		k_absmax<4><<<grid_2d(ctx, n, K / 4), 256, 0, stream>>>(x, x_bf16, ldx, n, K, words + F16_AMAX);
		DS_CUDA_CHECK_LAUNCH();
		k_x_to_f16<4><<<grid_2d(ctx, n, K / 4), 256, 0, stream>>>(x, x_bf16, ldx, n, K, words, x16);
	}
	else
	{
		k_absmax<1><<<grid_2d(ctx, n, K), 256, 0, stream>>>(x, x_bf16, ldx, n, K, words + F16_AMAX);
		DS_CUDA_CHECK_LAUNCH();
		k_x_to_f16<1><<<grid_2d(ctx, n, K), 256, 0, stream>>>(x, x_bf16, ldx, n, K, words, x16);
	}
	DS_CUDA_CHECK_LAUNCH();
	if (ytype == DS_CUDA_F32)
		return gemm_f16(ctx, w, M, K, x16, n, (float *) y, ldy, alpha, beta);

	/* bf16 y: as many vectors per chunk as the rest of the workspace holds */
	y32 = (float *) (ctx->ws + used);
	chunk = (ctx->ws_bytes - used) / ((size_t) M * 4);
	DS_REQUIRE(chunk >= 1, DS_CUDA_ERR_WORKSPACE, "workspace too small for one f32 output vector");
	if (chunk > (size_t) n)
		chunk = n;
	for (int b0 = 0; b0 < n; b0 += (int) chunk)
	{
		int			nb = n - b0 < (int) chunk ? n - b0 : (int) chunk;

		DS_TRY(gemm_f16(ctx, w, M, K, x16 + (size_t) b0 * K, nb, y32, M, alpha, beta));
		k_f32_to_bf16<<<grid_2d(ctx, nb, M), 256, 0, stream>>>(
			y32, nb, M, (uint16_t *) y + (size_t) b0 * ldy, ldy);
		DS_CUDA_CHECK_LAUNCH();
	}
	return DS_CUDA_OK;
}

int
ds_gemm_cublas_launch(ds_cuda_context *ctx, cudaStream_t stream, const void *w, int wtype,
					  int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
					  void *y, ds_cuda_dtype ytype, int ldy, int slab_rows)
{
	const size_t ysz = ytype == DS_CUDA_BF16 ? 2 : 4;
	const void *xb = x;
	size_t		used = 0;
	uint8_t    *scratch;
	size_t		slab;

	DS_TRY(ds_matmul_check(ctx, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, 1 << 20));
	DS_CUBLAS_CHECK(cublasSetStream(ctx->cublas, stream));
	if (wtype == DS_TYPE_F16)
		return gemm_cublas_f16(ctx, stream, w, M, K, x, xtype, ldx, n, y, ytype, ldy);

	/* x as contiguous bf16 rows */
	if (xtype != DS_CUDA_BF16 || ldx != K)
	{
		used = ds_ws_round((size_t) n * K * 2);
		DS_REQUIRE(used <= ctx->ws_bytes, DS_CUDA_ERR_WORKSPACE, "workspace too small for x");
		DS_TRY(ds_dequant_launch(stream, x, xtype == DS_CUDA_BF16 ? DS_TYPE_BF16 : DS_TYPE_F32,
								 (size_t) ldx * (xtype == DS_CUDA_BF16 ? 2 : 4), n, K,
								 ctx->ws, DS_CUDA_BF16));
		xb = ctx->ws;
	}
	if (wtype == DS_TYPE_BF16)
		return gemm_bf16(ctx, w, M, K, xb, n, y, ytype, ldy);

	/* quantized: slabs of rows dequantized into the rest of the workspace */
	scratch = ctx->ws + used;
	slab = (ctx->ws_bytes - used) / ((size_t) K * 2);
	if (slab_rows > 0 && (size_t) slab_rows < slab)
		slab = slab_rows;
	if (slab > (size_t) M)
		slab = M;
	else if (slab > 128)
		slab &= ~(size_t) 127;
	DS_REQUIRE(slab >= 1, DS_CUDA_ERR_WORKSPACE, "workspace too small for one row");
	for (int m0 = 0; m0 < M; m0 += (int) slab)
	{
		int			rows = M - m0 < (int) slab ? M - m0 : (int) slab;

		DS_TRY(ds_dequant_launch(stream, (const uint8_t *) w + (size_t) m0 * ds_row_size(wtype, K),
								 wtype, ds_row_size(wtype, K), rows, K, scratch, DS_CUDA_BF16));
		DS_TRY(gemm_bf16(ctx, scratch, rows, K, xb, n, (uint8_t *) y + (size_t) m0 * ysz,
						 ytype, ldy));
	}
	return DS_CUDA_OK;
}

extern "C" int
ds_cuda_gemm_cublas(ds_cuda_context *ctx, ds_cuda_stream stream, const void *w, int wtype,
					int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
					void *y, ds_cuda_dtype ytype, int ldy)
{
	return ds_gemm_cublas_launch(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, 0);
}
