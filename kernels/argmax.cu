/*
 * argmax.cu -- index of the largest logit of each row; the lowest index wins
 * a tie, NaN never wins, a row of NaN gives 0.
 */
#include "argmax.cuh"
#include "common.cuh"
#include "reduce.cuh"

namespace
{

__global__ void __launch_bounds__(ARGMAX_THREADS)
k_argmax(const float *logits, int ld, int n, int32_t *out)
{
	__shared__ float sv[32];
	__shared__ int si[32];
	const float *row = logits + (size_t) blockIdx.x * ld;
	float		bv = 0.0f;
	int			bi = -1;

	/* each thread sees increasing indices, so '>' keeps the first of a tie */
	for (int i = threadIdx.x; i < n; i += blockDim.x)
	{
		float		v = row[i];

		if (v == v && (bi < 0 || v > bv))
		{
			bv = v;
			bi = i;
		}
	}
	ds_block_argmax(&bv, &bi, sv, si);
	if (threadIdx.x == 0)
		out[blockIdx.x] = bi < 0 ? 0 : bi;
}

}								/* namespace */

extern "C" int
ds_cuda_argmax(ds_cuda_stream stream, const float *logits, int ld, int rows, int n, int32_t *out)
{
	DS_REQUIRE(logits != NULL && out != NULL && n >= 1 && ld >= n && rows >= 0,
			   DS_CUDA_ERR_ARG, "bad pointer or shape");
	if (rows == 0)
		return DS_CUDA_OK;
	k_argmax<<<rows, ARGMAX_THREADS, 0, stream>>>(logits, ld, n, out);
	DS_CUDA_CHECK_LAUNCH();
	return DS_CUDA_OK;
}
