/*
 * swiglu.cuh -- the gated activation of the feed-forward block
 * (ds_cuda_swiglu in deepseek_kernels.h): one thread per element, output in
 * the type the down projection reads.
 */
#ifndef DS_KERNELS_SWIGLU_CUH
#define DS_KERNELS_SWIGLU_CUH

#define SWIGLU_THREADS 256

#endif							/* DS_KERNELS_SWIGLU_CUH */
