/*
 * gemm_wgmma.cuh -- the wgmma GEMM's launcher with its tuning knobs
 * exposed, for ds_cuda_matmul() and the benchmark.
 */
#ifndef DS_KERNELS_GEMM_WGMMA_CUH
#define DS_KERNELS_GEMM_WGMMA_CUH

#include "common.cuh"

/*
 * ds_cuda_gemm_wgmma() with the block width (bn: 64, 128 or 256 vectors,
 * 0 = by n), the number of blocks (grid, 0 = one per multiprocessor) and
 * the W producer (cp16: 1 = the 16-byte copies even where the copy engine
 * could take W, 0 = the copy engine where it can) chosen by the caller;
 * hints: 1 = the copy engine's loads tell L2 to evict W (read once) first
 * and keep x (read by every row tile), 0 = no hints.
 */
int			ds_gemm_wgmma_launch(ds_cuda_context *ctx, cudaStream_t stream,
								 const void *w, int wtype, int M, int K,
								 const void *x, ds_cuda_dtype xtype, int ldx, int n,
								 void *y, ds_cuda_dtype ytype, int ldy,
								 int bn, int grid, int cp16 = 0, int hints = 1);

/* whether the wgmma GEMM runs here: a compute capability 9.0 GPU, and
 * room in the context's workspace for n vectors of K */
bool		ds_gemm_wgmma_usable(const ds_cuda_context *ctx, int n, int K);

#endif							/* DS_KERNELS_GEMM_WGMMA_CUH */
