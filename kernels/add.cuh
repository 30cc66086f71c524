/*
 * add.cuh -- the residual add y = a + b (ds_cuda_add in deepseek_kernels.h);
 * ds_cuda_add_rmsnorm fuses it with the following norm where a layer has one.
 */
#ifndef DS_KERNELS_ADD_CUH
#define DS_KERNELS_ADD_CUH

#define ADD_THREADS 256

#endif							/* DS_KERNELS_ADD_CUH */
