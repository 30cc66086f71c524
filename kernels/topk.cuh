/*
 * topk.cuh -- the k largest logits of a row and sampling among them
 * (ds_cuda_topk, ds_cuda_sample_topk in deepseek_kernels.h): one block of
 * TOPK_THREADS per row.
 */
#ifndef DS_KERNELS_TOPK_CUH
#define DS_KERNELS_TOPK_CUH

#define TOPK_THREADS 1024

#endif							/* DS_KERNELS_TOPK_CUH */
