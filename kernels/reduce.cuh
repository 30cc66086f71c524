/*
 * reduce.cuh -- block-wide reductions shared by the row kernels (rmsnorm,
 * argmax).
 */
#ifndef DS_KERNELS_REDUCE_CUH
#define DS_KERNELS_REDUCE_CUH

#include "common.cuh"

__device__ __forceinline__ float
ds_warp_sum(float v)
{
#pragma unroll
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

/* Sum of v over the block; sh holds 32 floats; every thread gets the sum. */
__device__ __forceinline__ float
ds_block_sum(float v, float *sh)
{
	const int	lane = threadIdx.x & 31,
				warp = threadIdx.x >> 5,
				nwarps = (blockDim.x + 31) >> 5;

	v = ds_warp_sum(v);
	__syncthreads();			/* sh may still be read by a previous call */
	if (lane == 0)
		sh[warp] = v;
	__syncthreads();
	v = lane < nwarps ? sh[lane] : 0.0f;
	return ds_warp_sum(v);
}

/* (value, index) pair a ranks before b: larger value, then lower index;
 * index < 0 marks "nothing". */
__device__ __forceinline__ bool
ds_argmax_better(float av, int ai, float bv, int bi)
{
	if (ai < 0)
		return false;
	if (bi < 0)
		return true;
	return av > bv || (av == bv && ai < bi);
}

/* Arg-max over the block; sv, si hold 32 entries; every thread gets it. */
__device__ __forceinline__ void
ds_block_argmax(float *v, int *i, float *sv, int *si)
{
	const int	lane = threadIdx.x & 31,
				warp = threadIdx.x >> 5,
				nwarps = (blockDim.x + 31) >> 5;

#pragma unroll
	for (int o = 16; o > 0; o >>= 1)
	{
		float		ov = __shfl_xor_sync(0xffffffffu, *v, o);
		int			oi = __shfl_xor_sync(0xffffffffu, *i, o);

		if (ds_argmax_better(ov, oi, *v, *i))
		{
			*v = ov;
			*i = oi;
		}
	}
	__syncthreads();
	if (lane == 0)
	{
		sv[warp] = *v;
		si[warp] = *i;
	}
	__syncthreads();
	*v = lane < nwarps ? sv[lane] : 0.0f;
	*i = lane < nwarps ? si[lane] : -1;
#pragma unroll
	for (int o = 16; o > 0; o >>= 1)
	{
		float		ov = __shfl_xor_sync(0xffffffffu, *v, o);
		int			oi = __shfl_xor_sync(0xffffffffu, *i, o);

		if (ds_argmax_better(ov, oi, *v, *i))
		{
			*v = ov;
			*i = oi;
		}
	}
}

#endif							/* DS_KERNELS_REDUCE_CUH */
