/*
 * gemm_cublas.cuh -- the cuBLAS product (quantized weights dequantized
 * first, F16 and BF16 used in place) with its scratch size exposed, for
 * the benchmark.
 */
#ifndef DS_KERNELS_GEMM_CUBLAS_CUH
#define DS_KERNELS_GEMM_CUBLAS_CUH

#include "common.cuh"

/* ds_cuda_gemm_cublas() with at most slab_rows rows dequantized per GEMM
 * (0 = as many as the workspace holds; F16 and BF16 weights ignore it). */
int			ds_gemm_cublas_launch(ds_cuda_context *ctx, cudaStream_t stream,
								  const void *w, int wtype, int M, int K,
								  const void *x, ds_cuda_dtype xtype, int ldx, int n,
								  void *y, ds_cuda_dtype ytype, int ldy, int slab_rows);

#endif							/* DS_KERNELS_GEMM_CUBLAS_CUH */
