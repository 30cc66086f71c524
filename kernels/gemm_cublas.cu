/*
 * gemm_cublas.cu -- larger batches through cuBLAS: W is dequantized into a
 * bf16 scratch in row slabs (dequant.cu) and each slab is multiplied with
 * cublasGemmEx, bf16 in, f32 accumulation.  BF16 weights go in directly.
 *
 * Layouts: W row-major [M][K] is column-major K x M, so op(A) = A^T; x
 * row-major [n][K] is column-major K x n; y row-major [n][ldy] is
 * column-major M x n with ldc = ldy.  So y = W^T(col) * x: the "TN" GEMM.
 */
#include "common.cuh"
#include "dequant.cuh"
#include "gemm_cublas.cuh"
#include "matvec.cuh"

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

	/* slabs of rows dequantized into the rest of the workspace */
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
