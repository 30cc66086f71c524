/*
 * matmul.cu -- ds_cuda_matmul(): the product for any batch, by the path
 * measured fastest on an H200 (docs/kernels.md, `make gpu-bench`):
 *
 *   n <= 8     the small-batch kernel (matvec.cu), one pass over the weights
 *   n > 8      the fused GEMM (gemm_fused.cu) where the weights are large
 *              and the batch moderate, else dequantize + cuBLAS
 *              (gemm_cublas.cu); BF16 weights always go to cuBLAS directly.
 *
 * Passes of the small-batch kernel never won beyond 8 vectors: at n = 16 the
 * fused GEMM beat two passes on every large shape, and dequantize + cuBLAS
 * beat them on the small ones.
 */
#include "common.cuh"
#include "gemm_cublas.cuh"
#include "gemm_fused.cuh"
#include "matvec.cuh"

/*
 * Where the fused GEMM beat dequantize + cuBLAS (it reads the quantized
 * bytes once, cuBLAS first writes and reads a bf16 copy, but its own
 * tensor-core loop is slower): M >= 65536 up to 64 vectors, M >= 16384 up
 * to 16.
 */
static bool
use_fused(int wtype, int M, int n)
{
	if (wtype == DS_TYPE_BF16)
		return false;
	return (M >= 65536 && n <= 64) || (M >= 16384 && n <= 16);
}

/*
 * Which small-batch kernel: the dp4a kernel (matvec_dp4a.cu) needs
 * K % 256 == 0; where both run, the one measured faster on the H200
 * (docs/kernels.md).
 */
extern "C" int
ds_cuda_matvec_path(int wtype, int M, int K, int n)
{
	(void) M;
	(void) n;
	if (K % 256 != 0)
		return DS_CUDA_MATVEC_MMA;
	switch (wtype)
	{
		default:
			return DS_CUDA_MATVEC_DP4A;
	}
}

extern "C" int
ds_cuda_matvec(ds_cuda_context *ctx, ds_cuda_stream stream, const void *w, int wtype,
			   int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
			   void *y, ds_cuda_dtype ytype, int ldy)
{
	if (ds_cuda_matvec_path(wtype, M, K, n) == DS_CUDA_MATVEC_DP4A)
		return ds_cuda_matvec_dp4a(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy);
	return ds_cuda_matvec_mma(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy);
}

extern "C" int
ds_cuda_matmul(ds_cuda_context *ctx, ds_cuda_stream stream, const void *w, int wtype,
			   int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
			   void *y, ds_cuda_dtype ytype, int ldy)
{
	DS_TRY(ds_matmul_check(ctx, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, 1 << 20));
	if (n <= 8)
		return ds_cuda_matvec(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy);
	if (use_fused(wtype, M, n))
		return ds_cuda_gemm_fused(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy);
	return ds_cuda_gemm_cublas(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy);
}
