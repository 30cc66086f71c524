/*
 * rmsnorm.cu -- out = h / sqrt(mean(h^2) + eps) * weight, optionally after
 * h += d (the residual add of the layer), in one pass: each block reads its
 * row of h (and d) once from memory, writes the updated h, and reads it back
 * from L1 for the scaled output.  16-byte accesses when the row allows.
 */
#include "common.cuh"
#include "reduce.cuh"
#include "rmsnorm.cuh"

namespace
{

template <bool VEC>
__global__ void __launch_bounds__(RMSNORM_THREADS)
k_add_rmsnorm(float *h, const float *d, const float *w, int n, float eps, void *out,
			  int obf16)
{
	__shared__ float sh[32];
	float	   *hr = h + (size_t) blockIdx.x * n;
	const float *dr = d ? d + (size_t) blockIdx.x * n : NULL;
	float		ss = 0.0f,
				scale;
	size_t		obase = (size_t) blockIdx.x * n;

	if (VEC)
	{
		for (int i = threadIdx.x; i < n / 4; i += blockDim.x)
		{
			float4		v = ((float4 *) hr)[i];

			if (dr)
			{
				float4		e = ((const float4 *) dr)[i];

				v = make_float4(v.x + e.x, v.y + e.y, v.z + e.z, v.w + e.w);
				((float4 *) hr)[i] = v;
			}
			ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
		}
	}
	else
	{
		for (int i = threadIdx.x; i < n; i += blockDim.x)
		{
			float		v = hr[i];

			if (dr)
			{
				v += dr[i];
				hr[i] = v;
			}
			ss += v * v;
		}
	}
	ss = ds_block_sum(ss, sh);
	scale = 1.0f / sqrtf(ss / n + eps);
	if (VEC)
	{
		for (int i = threadIdx.x; i < n / 4; i += blockDim.x)
		{
			float4		v = ((float4 *) hr)[i],
						g = ((const float4 *) w)[i];
			float		o[4] = {v.x * scale * g.x, v.y * scale * g.y,
				v.z * scale * g.z, v.w * scale * g.w};

			if (obf16)
				*(uint2 *) ((uint16_t *) out + obase + 4 * i) =
					make_uint2(ds_f32_to_bf16_bits(o[0]) | (ds_f32_to_bf16_bits(o[1]) << 16),
							   ds_f32_to_bf16_bits(o[2]) | (ds_f32_to_bf16_bits(o[3]) << 16));
			else
				*(float4 *) ((float *) out + obase + 4 * i) = make_float4(o[0], o[1], o[2], o[3]);
		}
	}
	else
	{
		for (int i = threadIdx.x; i < n; i += blockDim.x)
			ds_store_act(out, obase + i, hr[i] * scale * w[i], obf16);
	}
}

}								/* namespace */

extern "C" int
ds_cuda_add_rmsnorm(ds_cuda_stream stream, float *h, const float *d, const float *weight,
					int n, int rows, float eps, void *out, ds_cuda_dtype otype)
{
	const bool	vec = n % 4 == 0 && (((uintptr_t) h | (uintptr_t) d | (uintptr_t) weight |
									  (uintptr_t) out) & 15) == 0;

	DS_REQUIRE(h != NULL && weight != NULL && out != NULL && n > 0 && rows >= 0,
			   DS_CUDA_ERR_ARG, "bad pointer or shape");
	DS_REQUIRE(otype == DS_CUDA_F32 || otype == DS_CUDA_BF16, DS_CUDA_ERR_ARG,
			   "unknown output type");
	if (rows == 0)
		return DS_CUDA_OK;
	if (vec)
		k_add_rmsnorm<true><<<rows, RMSNORM_THREADS, 0, stream>>>(h, d, weight, n, eps, out,
																  otype == DS_CUDA_BF16);
	else
		k_add_rmsnorm<false><<<rows, RMSNORM_THREADS, 0, stream>>>(h, d, weight, n, eps, out,
																   otype == DS_CUDA_BF16);
	DS_CUDA_CHECK_LAUNCH();
	return DS_CUDA_OK;
}

extern "C" int
ds_cuda_rmsnorm(ds_cuda_stream stream, const float *x, const float *weight, int n, int rows,
				float eps, void *out, ds_cuda_dtype otype)
{
	/* with d == NULL the kernel only reads h */
	return ds_cuda_add_rmsnorm(stream, (float *) x, NULL, weight, n, rows, eps, out, otype);
}
