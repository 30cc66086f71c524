/*
 * add.cu -- residual add, y = a + b, 16 bytes per access when aligned.
 */
#include "add.cuh"
#include "common.cuh"

namespace
{

__global__ void
k_add4(float4 *y, const float4 *a, const float4 *b, size_t n4)
{
	for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < n4;
		 i += (size_t) gridDim.x * blockDim.x)
	{
		float4		u = a[i],
					v = b[i];

		y[i] = make_float4(u.x + v.x, u.y + v.y, u.z + v.z, u.w + v.w);
	}
}

__global__ void
k_add1(float *y, const float *a, const float *b, size_t n)
{
	for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < n;
		 i += (size_t) gridDim.x * blockDim.x)
		y[i] = a[i] + b[i];
}

}								/* namespace */

extern "C" int
ds_cuda_add(ds_cuda_stream stream, float *y, const float *a, const float *b, size_t count)
{
	size_t		n4 = 0;

	DS_REQUIRE(y != NULL && a != NULL && b != NULL, DS_CUDA_ERR_ARG, "NULL pointer");
	if (count == 0)
		return DS_CUDA_OK;
	if ((((uintptr_t) y | (uintptr_t) a | (uintptr_t) b) & 15) == 0)
	{
		n4 = count / 4;
		if (n4 > 0)
		{
			unsigned	blocks = (unsigned) ((n4 + ADD_THREADS - 1) / ADD_THREADS);

			k_add4<<<blocks < 4096 ? blocks : 4096, ADD_THREADS, 0, stream>>>(
				(float4 *) y, (const float4 *) a, (const float4 *) b, n4);
			DS_CUDA_CHECK_LAUNCH();
		}
	}
	if (count > 4 * n4)
	{
		size_t		rest = count - 4 * n4;
		unsigned	blocks = (unsigned) ((rest + ADD_THREADS - 1) / ADD_THREADS);

		k_add1<<<blocks < 4096 ? blocks : 4096, ADD_THREADS, 0, stream>>>(
			y + 4 * n4, a + 4 * n4, b + 4 * n4, rest);
		DS_CUDA_CHECK_LAUNCH();
	}
	return DS_CUDA_OK;
}
