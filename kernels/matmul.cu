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
 * Which small-batch kernel, from the H200 measurements of both
 * (docs/kernels.md, `bash test/gpu/run_device.sh small`).  The dp4a kernel
 * (matvec_dp4a.cu) needs K % 256 == 0 and won on every shape measured at
 * one vector except those below; the tensor-core kernel (matvec.cu) won
 *  - with few rows and a long K (M <= 4096, K >= 8192: 1536x8960 and
 *    3584x18944), where the dp4a kernel has one warp per row (or per 2-4
 *    rows) and too few warps to fill the device: from 4 vectors for every
 *    type, at 2 vectors for K >= 16384 (not Q8_0) and for Q4_K/Q5_K; for
 *    F16/BF16 also at one vector for K >= 16384;
 *  - F16/BF16 with 2 or more vectors on long rows of large M (18944x3584,
 *    152064x3584: from 4 vectors; at 2 vectors for M >= 65536), where the
 *    dp4a kernel's f32 FMA loop is bound by instructions;
 *  - Q5_K at one vector on 152064x1536 (by 10%).
 */
extern "C" int
ds_cuda_matvec_path(int wtype, int M, int K, int n)
{
	const bool	fl = wtype == DS_TYPE_F16 || wtype == DS_TYPE_BF16;
	const bool	kq = wtype == DS_TYPE_Q4_K || wtype == DS_TYPE_Q5_K;

	if (K % 256 != 0)
		return DS_CUDA_MATVEC_MMA;
	if (!fl)
		return DS_CUDA_MATVEC_Q8MMA;	/* provisional, before the H200 measurement */
	if (M <= 4096 && K >= 8192)
	{
		if (n >= 4)
			return DS_CUDA_MATVEC_MMA;
		if (n == 2 && !fl && wtype != DS_TYPE_Q8_0 && (K >= 16384 || kq))
			return DS_CUDA_MATVEC_MMA;
		if (fl && K >= 16384)
			return DS_CUDA_MATVEC_MMA;
	}
	if (fl && K >= 3584 && M >= 16384 && (n >= 4 || (n >= 2 && M >= 65536)))
		return DS_CUDA_MATVEC_MMA;
	if (wtype == DS_TYPE_Q5_K && n == 1 && M >= 65536 && K <= 2048)
		return DS_CUDA_MATVEC_MMA;
	return DS_CUDA_MATVEC_DP4A;
}

extern "C" int
ds_cuda_matvec(ds_cuda_context *ctx, ds_cuda_stream stream, const void *w, int wtype,
			   int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
			   void *y, ds_cuda_dtype ytype, int ldy)
{
	switch (ds_cuda_matvec_path(wtype, M, K, n))
	{
		case DS_CUDA_MATVEC_Q8MMA:
			return ds_cuda_matvec_q8mma(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy);
		case DS_CUDA_MATVEC_DP4A:
			return ds_cuda_matvec_dp4a(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy);
		default:
			return ds_cuda_matvec_mma(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy);
	}
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
