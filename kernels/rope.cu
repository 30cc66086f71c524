/*
 * rope.cu -- rotary position embedding, adjacent pairs (llama) or NEOX
 * halves (qwen2), with the rope_freqs factors.  The angle is computed in
 * double precision (positions reach 10^5 and more, where an f32 angle loses
 * a few 1e-3 rad); the work is small, one thread per pair.
 */
#include "common.cuh"
#include "rope.cuh"

namespace
{

__global__ void
k_rope(float *x, int n_tok, int n_head, int head_dim, int ld_tok, int n_rot,
	   const int32_t *pos, int neox, float base, float scale, const float *ff)
{
	const int	half = n_rot / 2;
	size_t		idx = (size_t) blockIdx.x * blockDim.x + threadIdx.x;

	if (idx >= (size_t) n_tok * n_head * half)
		return;

	int			i = (int) (idx % half);
	int			hd = (int) ((idx / half) % n_head);
	int			tk = (int) (idx / ((size_t) half * n_head));
	float	   *v = x + (size_t) tk * ld_tok + (size_t) hd * head_dim;
	int			i0 = neox ? i : 2 * i,
				i1 = neox ? i + half : 2 * i + 1;
	double		theta = (double) pos[tk] * scale * pow((double) base, -2.0 * i / n_rot);
	double		s,
				c,
				x0 = v[i0],
				x1 = v[i1];

	if (ff != NULL)
		theta /= ff[i];
	sincos(theta, &s, &c);
	v[i0] = (float) (x0 * c - x1 * s);
	v[i1] = (float) (x0 * s + x1 * c);
}

}								/* namespace */

extern "C" int
ds_cuda_rope(ds_cuda_stream stream, float *x, int n_tok, int n_head, int head_dim, int ld_tok,
			 int n_rot, const int32_t *pos, ds_cuda_rope_mode mode, float freq_base,
			 float freq_scale, const float *freq_factors)
{
	size_t		n;

	DS_REQUIRE(x != NULL && pos != NULL, DS_CUDA_ERR_ARG, "NULL pointer");
	DS_REQUIRE(n_tok >= 0 && n_head >= 1 && head_dim >= 2 && n_rot >= 2 && n_rot % 2 == 0 &&
			   n_rot <= head_dim && ld_tok >= n_head * head_dim, DS_CUDA_ERR_ARG, "bad shape");
	DS_REQUIRE(mode == DS_CUDA_ROPE_NORM || mode == DS_CUDA_ROPE_NEOX, DS_CUDA_ERR_ARG,
			   "unknown rope mode");
	n = (size_t) n_tok * n_head * (n_rot / 2);
	if (n == 0)
		return DS_CUDA_OK;
	k_rope<<<(unsigned) ((n + ROPE_THREADS - 1) / ROPE_THREADS), ROPE_THREADS, 0, stream>>>(
		x, n_tok, n_head, head_dim, ld_tok, n_rot, pos, mode == DS_CUDA_ROPE_NEOX,
		freq_base, freq_scale, freq_factors);
	DS_CUDA_CHECK_LAUNCH();
	return DS_CUDA_OK;
}
