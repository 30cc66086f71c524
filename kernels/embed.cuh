/*
 * embed.cuh -- token embedding lookup from a quantized table
 * (ds_cuda_embed in deepseek_kernels.h): one thread per 8 elements.
 */
#ifndef DS_KERNELS_EMBED_CUH
#define DS_KERNELS_EMBED_CUH

#define EMBED_THREADS 256

#endif							/* DS_KERNELS_EMBED_CUH */
