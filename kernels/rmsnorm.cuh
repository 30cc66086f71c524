/*
 * rmsnorm.cuh -- RMSNorm, with the residual add in front of it fused into
 * the same pass (ds_cuda_add_rmsnorm, ds_cuda_rmsnorm in
 * deepseek_kernels.h).  One block of RMSNORM_THREADS per row.
 */
#ifndef DS_KERNELS_RMSNORM_CUH
#define DS_KERNELS_RMSNORM_CUH

#define RMSNORM_THREADS 256

#endif							/* DS_KERNELS_RMSNORM_CUH */
