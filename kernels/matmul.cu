/*
 * matmul.cu -- ds_cuda_matmul(): the product for any batch, by the path
 * measured fastest on an H200 (docs/kernels.md, `make gpu-bench`):
 *
 *   n <= 8            the small-batch kernel (matvec.cu), one weight pass
 *   9 <= n < 16       the small-batch kernel in passes of 8 vectors
 *   n >= 16           the fused GEMM (gemm_fused.cu) or dequantize + cuBLAS
 *                     (gemm_cublas.cu), by the crossover below
 */
#include "common.cuh"
#include "gemm_cublas.cuh"
#include "gemm_fused.cuh"
#include "matvec.cuh"

/* Batches from which the fused GEMM beats passes of the small-batch kernel. */
#define DS_MATVEC_PASSES_BELOW 16

/*
 * The fused GEMM wins over dequantize + cuBLAS only where the weights are
 * large and the batch moderate (it reads the quantized bytes once; cuBLAS
 * first writes and reads a bf16 copy).
 */
#define DS_FUSED_MIN_ROWS 16384
#define DS_FUSED_MAX_BATCH 64

extern "C" int
ds_cuda_matmul(ds_cuda_context *ctx, ds_cuda_stream stream, const void *w, int wtype,
			   int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
			   void *y, ds_cuda_dtype ytype, int ldy)
{
	const size_t xs = xtype == DS_CUDA_BF16 ? 2 : 4;
	const size_t ys = ytype == DS_CUDA_BF16 ? 2 : 4;

	DS_TRY(ds_matmul_check(ctx, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, 1 << 20));
	if (n <= 8)
		return ds_cuda_matvec(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy);
	if (n < DS_MATVEC_PASSES_BELOW)
	{
		for (int b = 0; b < n; b += 8)
			DS_TRY(ds_cuda_matvec(ctx, stream, w, wtype, M, K,
								  (const uint8_t *) x + (size_t) b * ldx * xs, xtype, ldx,
								  n - b < 8 ? n - b : 8,
								  (uint8_t *) y + (size_t) b * ldy * ys, ytype, ldy));
		return DS_CUDA_OK;
	}
	if (M >= DS_FUSED_MIN_ROWS && n <= DS_FUSED_MAX_BATCH)
		return ds_cuda_gemm_fused(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy);
	return ds_cuda_gemm_cublas(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy);
}
