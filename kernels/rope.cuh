/*
 * rope.cuh -- rotary position embedding in place (ds_cuda_rope in
 * deepseek_kernels.h): one thread per rotated pair.
 */
#ifndef DS_KERNELS_ROPE_CUH
#define DS_KERNELS_ROPE_CUH

#define ROPE_THREADS 256

#endif							/* DS_KERNELS_ROPE_CUH */
