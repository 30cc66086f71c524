/*
 * argmax.cuh -- greedy sampling (ds_cuda_argmax in deepseek_kernels.h):
 * one block of ARGMAX_THREADS per row.
 */
#ifndef DS_KERNELS_ARGMAX_CUH
#define DS_KERNELS_ARGMAX_CUH

#define ARGMAX_THREADS 1024

#endif							/* DS_KERNELS_ARGMAX_CUH */
