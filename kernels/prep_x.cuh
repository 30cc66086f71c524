/*
 * prep_x.cuh -- the x kernel of the int8-x small-batch products
 * (matvec_dp4a.cu, matvec_bulk.cu): x quantized once per call into the
 * workspace, int8 per element and, per 32 elements, the scale and the
 * integer sums of the two halves (q8dot.cuh); for F16/BF16 weights x as
 * dense f32.  Launched as the programmatic dependent of the kernel before
 * it, and the product as its dependent.
 */
#ifndef DS_KERNELS_PREP_X_CUH
#define DS_KERNELS_PREP_X_CUH

#include "common.cuh"
#include "q8dot.cuh"

namespace
{

/* what the int8-x products (dp4a, bulk) take of a call: the weights, x as
 * prep_x_launch() leaves it, y; each kernel's own fields follow */
struct Q8XArgs
{
	const uint8_t *w;
	size_t		rb;				/* bytes per row */
	size_t		wbytes;			/* M * rb */
	int			M,
				K,
				nt;				/* tiles per row */
	const uint8_t *xq;			/* int8 [nb][K], or f32 [nb][K] for F16/BF16 */
	const int2 *xm;				/* [nb][K / 32]: d, s0 | s1 << 16 */
	int			nb;
	void	   *y;
	int			ldy,
				y_bf16;
};

/* the call's fields of a (x is set by prep_x_launch, nt by the kernel) */
static inline void
q8x_args_set(Q8XArgs &a, const void *w, int wtype, int M, int K, int n, void *y, ds_cuda_dtype ytype,
			 int ldy)
{
	a.w = (const uint8_t *) w;
	a.rb = ds_row_size(wtype, K);
	a.wbytes = (size_t) M * a.rb;
	a.M = M;
	a.K = K;
	a.nb = n;
	a.y = y;
	a.ldy = ldy;
	a.y_bf16 = ytype == DS_CUDA_BF16;
}

/*
 * x for the product: per 32-element block (a warp), int8 values and the
 * meta (d, and the two half sums as int16: |sum| <= 16 * 127) -- or, for
 * F16/BF16 weights, x as dense f32.
 */
template <bool FLOAT>
__global__ void __launch_bounds__(256)
k_prep_x(const void *x, int x_bf16, int ldx, int K, int nb, uint8_t *xq, int2 *xm)
{
	const int	lane = threadIdx.x & 31;
	const int	blk = blockIdx.x * 8 + (threadIdx.x >> 5);
	const int	nblk = K / 32;

	grid_dependents_launch();
	/* launched as the programmatic dependent of the kernel before it: x
	 * and the workspace are that kernel's until it has finished */
	grid_dependency_wait();
	if (blk >= nb * nblk)
		return;

	const int	b = blk / nblk,
				kb = blk - b * nblk;
	const float v = ds_load_act(x, (size_t) b * ldx + 32 * kb + lane, x_bf16);
	const size_t e = (size_t) b * K + 32 * kb + lane;

	if constexpr (FLOAT)
		((float *) xq)[e] = v;
	else
	{
		int			q,
					s0,
					s1;
		float		d;

		dsq8::warp_quantize_block(v, &q, &d, &s0, &s1);
		xq[e] = (uint8_t) (int8_t) q;
		if (lane == 0)
			xm[blk] = make_int2(__float_as_int(d), (int) (((unsigned) s0 & 0xffffu) | ((unsigned) s1 << 16)));
	}
}

/* x-block record mm (d, s0 | s1 << 16) as dsq8::dot() takes it */
__device__ __forceinline__ dsq8::XMeta
xmeta_of(int2 mm)
{
	const int	s0 = (int) (int16_t) (mm.y & 0xffff),
				s1 = mm.y >> 16;

	return {__int_as_float(mm.x), s0, s1, s0 + s1};
}

/* x-block e of the quantized x (int8 at xq + e, 16-byte aligned; its
 * record at xm[e / 32]) as the words and meta dsq8::dot() takes, through
 * the read-only path (RO) or plain loads (shared memory) */
template <bool RO, typename I>
__device__ __forceinline__ void
xblock_of(const uint8_t *xq, const int2 *xm, I e, uint32_t (&xw)[8], dsq8::XMeta &m)
{
	const uint4 *xp = (const uint4 *) (xq + e);
	const uint4 x0 = RO ? __ldg(xp) : xp[0],
				x1 = RO ? __ldg(xp + 1) : xp[1];
	const int2	mm = RO ? __ldg(xm + e / 32) : xm[e / 32];

	xw[0] = x0.x;
	xw[1] = x0.y;
	xw[2] = x0.z;
	xw[3] = x0.w;
	xw[4] = x1.x;
	xw[5] = x1.y;
	xw[6] = x1.z;
	xw[7] = x1.w;
	m = xmeta_of(mm);
}

/* f32 x of a piece of a 128-element tile, xp at its element 8j
 * (dsq8::piece_f's order: 8j .. 8j+7 and 64+8j .. 64+8j+7), through the
 * read-only path */
__device__ __forceinline__ void
xf_piece(const float4 *xp, float xs[16])
{
	const float4 x0 = __ldg(xp),
				x1 = __ldg(xp + 1),
				x2 = __ldg(xp + 16),
				x3 = __ldg(xp + 17);
	const float v[16] = {x0.x, x0.y, x0.z, x0.w, x1.x, x1.y, x1.z, x1.w,
						 x2.x, x2.y, x2.z, x2.w, x3.x, x3.y, x3.z, x3.w};

#pragma unroll
	for (int i = 0; i < 16; i++)
		xs[i] = v[i];
}

/*
 * Quantize x into the workspace (int8 [nb][K] then int2 [nb][K / 32], or
 * f32 [nb][K] for F16/BF16) as the programmatic dependent of the kernel
 * before it on the stream; *xq, *xm: where the product finds it.
 */
template <bool FLOAT>
int
prep_x_launch(ds_cuda_context *ctx, cudaStream_t stream, const void *x, int x_bf16, int ldx,
			  int K, int nb, const uint8_t **xq, const int2 **xm)
{
	const size_t xq_bytes = ds_ws_round((size_t) nb * K * (FLOAT ? 4 : 1));
	const size_t xm_bytes = FLOAT ? 0 : ds_ws_round((size_t) nb * (K / 32) * 8);
	const int	nblk = nb * (K / 32);

	DS_REQUIRE(xq_bytes + xm_bytes <= ctx->ws_bytes, DS_CUDA_ERR_WORKSPACE,
			   "workspace too small for the quantized x");

	uint8_t    *q = ctx->ws;
	int2	   *m = (int2 *) (ctx->ws + xq_bytes);

	DS_CUDA_CHECK(ds_launch_pdl(k_prep_x<FLOAT>, (nblk + 7) / 8, 256, 0, stream, x, x_bf16, ldx, K, nb,
								q, m));
	*xq = q;
	*xm = m;
	return DS_CUDA_OK;
}

}								/* namespace */

#endif							/* DS_KERNELS_PREP_X_CUH */
