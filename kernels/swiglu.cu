/*
 * swiglu.cu -- out = silu(gate) * up, silu(v) = v / (1 + e^-v), written as
 * f32 or bf16 (converting for the down projection in the same pass).
 */
#include "common.cuh"
#include "swiglu.cuh"

namespace
{

__global__ void
k_swiglu(const float *gate, int ldg, const float *up, int ldu, int n, int rows, void *out,
		 int obf16, int ldo)
{
	size_t		idx = (size_t) blockIdx.x * blockDim.x + threadIdx.x;

	if (idx >= (size_t) n * rows)
		return;

	int			r = (int) (idx / n),
				i = (int) (idx % n);
	float		g = gate[(size_t) r * ldg + i];

	ds_store_act(out, (size_t) r * ldo + i, g / (1.0f + expf(-g)) * up[(size_t) r * ldu + i],
				 obf16);
}

}								/* namespace */

extern "C" int
ds_cuda_swiglu(ds_cuda_stream stream, const float *gate, int ldg, const float *up, int ldu,
			   int n, int rows, void *out, ds_cuda_dtype otype, int ldo)
{
	size_t		total = (size_t) n * rows;

	DS_REQUIRE(gate != NULL && up != NULL && out != NULL && n > 0 && rows >= 0 &&
			   ldg >= n && ldu >= n && ldo >= n, DS_CUDA_ERR_ARG, "bad pointer or shape");
	DS_REQUIRE(otype == DS_CUDA_F32 || otype == DS_CUDA_BF16, DS_CUDA_ERR_ARG,
			   "unknown output type");
	if (total == 0)
		return DS_CUDA_OK;
	k_swiglu<<<(unsigned) ((total + SWIGLU_THREADS - 1) / SWIGLU_THREADS), SWIGLU_THREADS, 0,
		stream>>>(gate, ldg, up, ldu, n, rows, out, otype == DS_CUDA_BF16, ldo);
	DS_CUDA_CHECK_LAUNCH();
	return DS_CUDA_OK;
}
