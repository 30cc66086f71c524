/*
 * dequant.cuh -- row dequantization for other kernels' launchers (the cuBLAS
 * path's bf16 scratch, x to bf16).
 */
#ifndef DS_KERNELS_DEQUANT_CUH
#define DS_KERNELS_DEQUANT_CUH

#include "common.cuh"

/*
 * rows x K elements from src (row r at src + r * src_ld_bytes, a GGUF
 * type or DS_TYPE_F32) to out (row stride K) as f32 or bf16.
 */
int			ds_dequant_launch(cudaStream_t stream, const void *src, int type,
							  size_t src_ld_bytes, int rows, int K, void *out,
							  ds_cuda_dtype otype);

#endif							/* DS_KERNELS_DEQUANT_CUH */
