/*
 * gemm_fused.cuh -- the fused dequantize-and-multiply GEMM's launcher with
 * its tuning knobs exposed, for ds_cuda_matmul() and the benchmark.
 */
#ifndef DS_KERNELS_GEMM_FUSED_CUH
#define DS_KERNELS_GEMM_FUSED_CUH

#include "common.cuh"

/*
 * ds_cuda_gemm_fused() with the block width (bn: 64 or 256 vectors, 0 =
 * by n) and the split of K (nsplit, 0 = by a cost model) chosen by the
 * caller.
 */
int			ds_gemm_fused_launch(ds_cuda_context *ctx, cudaStream_t stream,
								 const void *w, int wtype, int M, int K,
								 const void *x, ds_cuda_dtype xtype, int ldx, int n,
								 void *y, ds_cuda_dtype ytype, int ldy,
								 int bn, int nsplit);

#endif							/* DS_KERNELS_GEMM_FUSED_CUH */
