/*
 * matvec_bulk.cu -- the small-batch product y[b] = W x[b] (1 <= b <= 2)
 * with each block streaming one contiguous range of whole rows through
 * the copy engine: the weights' bytes as they lie in memory, in 1-D bulk
 * copies of whole-row stages, and the int8-x arithmetic of the dp4a
 * kernel (q8dot.cuh).
 *
 *  - Rows, not tiles of rows, are dealt out: block c of G takes rows
 *    c M / G .. (c + 1) M / G, so no row is shared between blocks (no
 *    split-K sums) and the blocks' shares differ by at most one row.  A
 *    block's rows are one contiguous byte range of the matrix.
 *  - One lane of a copy warp cuts that range into stages of sr whole rows
 *    and asks for each with one bulk copy into a ring of ns stages, each
 *    completing on its own mbarrier ("full"), at most lag stages asked for
 *    and not landed; it asks for stage i + ns once all compute warps have
 *    given stage i back ("empty").  The first stages are asked for before
 *    x is ready (the weights do not depend on the kernel before this one).
 *  - The work of a block is its rows, each cut into G segments where the
 *    block has few rows and they are long; unit v (row v / G, segment
 *    v % G) goes to compute warp v % 16.  A warp's 32 lanes take two
 *    32-element pieces of the segment at a time (lane j: pieces j and
 *    j + 32 of each 64, as q8dot.cuh unpacks them) and sum them over the
 *    warp with a fixed butterfly.  With G = 1 the warp stores the row's
 *    y; else each segment's sum goes to the row's slot in shared memory
 *    and the warp that completes the row adds the G sums in segment
 *    order: the result does not depend on timing.
 *  - Every compute warp visits every stage in order (waits for it to
 *    land, does its units there, gives it back), so no warp runs a ring
 *    ahead of another and a phase's parity always names one stage.
 *  - x is quantized by the dp4a kernel's x kernel (prep_x.cuh), launched
 *    as the programmatic dependent of the kernel before it; this kernel is
 *    its dependent, and its compute warps wait for it before copying the
 *    quantized x (int8 and the block records) into shared memory.  F16
 *    and BF16 weights read f32 x from global memory.
 *
 * Requires K % 256 == 0, and x plus two stages of one row in shared
 * memory (DS_CUDA_ERR_UNSUPPORTED otherwise).
 */
#include "common.cuh"
#include "matvec.cuh"
#include "prep_x.cuh"
#include "q8dot.cuh"
#include "reduce.cuh"
#include "split.cuh"
#include "tma.cuh"

namespace
{

/* the plan's constants (split.cuh) */
constexpr int BW = DS_BULK_WARPS;
constexpr int NS_MAX = DS_BULK_NS_MAX;
constexpr int SLOTS = DS_BULK_SLOTS;
constexpr int BARS = DS_BULK_BARS;

struct BArgs : Q8XArgs
{
	DsBulkPlan	p;				/* stages, ring, lag, segments, shared memory (split.cuh) */
	int			probe;			/* 1: the weights only (no arithmetic), for the benchmark */
};


/* The copy lane: every stage of rows r0 .. r1 through the ring. */
__device__ void
copy_lane(const BArgs &a, uint8_t *ring, uint32_t full, uint32_t empty, int r0, int r1)
{
	const int	nst = (r1 - r0 + a.p.sr - 1) / a.p.sr;
	const size_t wend16 = a.wbytes & ~(size_t) 15;

	for (int i = 0; i < nst; i++)
	{
		const int	buf = i % a.p.ns;
		const int	ra = r0 + i * a.p.sr,
					re = min(ra + a.p.sr, r1);
		const size_t s = (size_t) ra * a.rb,
					e = (size_t) re * a.rb;
		const size_t c0 = s & ~(size_t) 15;
		size_t		c1 = (e + 15) & ~(size_t) 15;
		uint8_t    *dst = ring + (size_t) buf * a.p.sbytes;

		if (i >= a.p.ns)
			mbar_wait(empty + 8 * buf, ((i / a.p.ns) - 1) & 1);
		if (a.p.lag > 0 && i >= a.p.lag)	/* at most lag stages on their way */
			mbar_wait(full + 8 * ((i - a.p.lag) % a.p.ns), ((i - a.p.lag) / a.p.ns) & 1);
		if (c1 > wend16)
		{
			/* the tensor's last bytes (fewer than 16): not past its end */
			for (size_t k = wend16; k < a.wbytes; k++)
				dst[k - c0] = a.w[k];
			c1 = wend16;
		}
		mbar_arrive_expect_tx(full + 8 * buf, (uint32_t) (c1 - c0));
		if (c1 > c0)
			bulk_copy(smem_u32(dst), a.w + c0, (uint32_t) (c1 - c0), full + 8 * buf);
		if (i == a.p.ns - 1 || i == nst - 1)
			grid_dependents_launch();
	}
}

/*
 * Piece pc (tile pc / 8, piece pc % 8) of the row at rowp times every
 * vector, added to acc; x from shared memory (int8 at xs, meta at xms) for
 * the quantized types, f32 from global memory for F16/BF16.
 */
template <int T, int NB>
__device__ __forceinline__ void
piece_dot(const BArgs &a, const uint8_t *rowp, int pc, const uint8_t *xs, const int2 *xms,
		  float (&acc)[NB])
{
	using TT = dsq8::Tile<T>;
	const int	t = pc >> 3,
				j = pc & 7;
	const uint8_t *tp = rowp + t * TT::B;

	if constexpr (TT::FLOAT)
	{
		float		v[16];

		dsq8::piece_f<T>(tp, j, v);
#pragma unroll
		for (int b = 0; b < NB; b++)
		{
			if (b >= a.nb)
				break;

			float		xv[16],
						s = acc[b];

			xf_piece((const float4 *) ((const float *) a.xq + (size_t) b * a.K + t * TT::K + 8 * j), xv);

#pragma unroll
			for (int i = 0; i < 16; i++)
				s = fmaf(v[i], xv[i], s);
			acc[b] = s;
		}
	}
	else
	{
		dsq8::Piece pq;

		dsq8::piece<T>(tp, j, pq);
#pragma unroll
		for (int b = 0; b < NB; b++)
		{
			if (b >= a.nb)
				break;

			uint32_t	xw[8];
			dsq8::XMeta xm;

			xblock_of<false>(xs, xms, b * a.K + 32 * pc, xw, xm);	/* x-block 8 t + j of vector b */

			acc[b] += dsq8::dot<T>(pq, xw, xm);
		}
	}
}

template <int T, int NB>
__global__ void __launch_bounds__(32 * (BW + 1), 1)
k_matvec_bulk(BArgs a)
{
	extern __shared__ __align__(128) uint8_t smem[];
	const int	lane = threadIdx.x & 31,
				warp = threadIdx.x >> 5;
	const uint32_t full = smem_u32(smem),
				empty = full + 8 * NS_MAX;
	int		   *cnt = (int *) (smem + BARS);	/* [SLOTS] arrivals of a row's segments */
	float	   *part = (float *) (smem + BARS + 4 * SLOTS);	/* [SLOTS][G][NB] */
	uint8_t    *xs = smem + a.p.xoff;		/* int8 x [NB][K], then int2 meta [NB][K / 32] */
	const int2 *xms = (const int2 *) (xs + a.nb * a.K);
	uint8_t    *ring = smem + a.p.roff;
	const int	r0 = ds_bulk_row_of(blockIdx.x, gridDim.x, a.M),
				r1 = ds_bulk_row_of(blockIdx.x + 1, gridDim.x, a.M);

	if (threadIdx.x == 0)
	{
		for (int i = 0; i < a.p.ns; i++)
		{
			mbar_init(full + 8 * i, 1);
			mbar_init(empty + 8 * i, BW);
		}
		asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
	}
	for (int i = threadIdx.x; i < SLOTS; i += blockDim.x)
		cnt[i] = 0;
	__syncthreads();

	if (warp == BW)
	{
		if (lane == 0)
			copy_lane(a, ring, full, empty, r0, r1);
		return;
	}

	/* x and y: the x kernel's and the kernel before it's until they end */
	grid_dependents_launch();
	grid_dependency_wait();
	if (!dsq8::Tile<T>::FLOAT)
	{
		const int	xb = a.nb * a.K + a.nb * (a.K / 32) * 8;	/* xq and xm are adjacent */

		for (int i = 16 * threadIdx.x; i < xb; i += 16 * 32 * BW)
			*(uint4 *) (xs + i) = __ldg((const uint4 *) (a.xq + i));
		asm volatile("bar.sync 1, %0;\n" :: "n"(BW * 32) : "memory");
	}

	const int	nv = (r1 - r0) * a.p.G,	/* (row, segment) units of this block */
				nst = (r1 - r0 + a.p.sr - 1) / a.p.sr;
	const int	np = a.nt * 8,			/* pieces per row */
				sp = np / a.p.G;			/* pieces per segment (the last takes the rest) */

	/*
	 * Every warp visits every stage in order: waits for it to land, takes
	 * its units there (unit v to warp v % BW), and gives it back.  So no
	 * warp runs a whole ring ahead of another, and a stage's phase parity
	 * names it unambiguously.
	 */
	int			v = warp;

	for (int i = 0; i < nst; i++)
	{
		const int	buf = i % a.p.ns,
					vend = min((i + 1) * a.p.sr * a.p.G, nv);
		const uint8_t *st = ring + buf * a.p.sbytes + (int) (((size_t) (r0 + i * a.p.sr) * a.rb) & 15);

		mbar_wait(full + 8 * buf, (i / a.p.ns) & 1);
		for (; v < vend; v += BW)
		{
			const int	rl = v / a.p.G,	/* row within the block */
						sg = v - rl * a.p.G;
			const uint8_t *rowp = st + (rl - i * a.p.sr) * (int) a.rb;
			const int	p0 = sg * sp,
						p1 = sg == a.p.G - 1 ? np : p0 + sp;
			float		acc[NB];

#pragma unroll
			for (int b = 0; b < NB; b++)
				acc[b] = 0.0f;
			/* two pieces per lane at a time; a lane past the end repeats
			 * the segment's last piece and drops it */
			for (int pc = (a.probe ? p1 : p0) + lane; pc < p1; pc += 64)
			{
				float		ta[NB],
							tb[NB];
				const int	pb = min(pc + 32, p1 - 1);

#pragma unroll
				for (int b = 0; b < NB; b++)
					ta[b] = tb[b] = 0.0f;
				piece_dot<T, NB>(a, rowp, pc, xs, xms, ta);
				piece_dot<T, NB>(a, rowp, pb, xs, xms, tb);
#pragma unroll
				for (int b = 0; b < NB; b++)
					acc[b] += ta[b] + (pc + 32 < p1 ? tb[b] : 0.0f);
			}
#pragma unroll
			for (int b = 0; b < NB; b++)
				acc[b] = ds_warp_sum(acc[b]);	/* a fixed butterfly */
			if (lane != 0)
				continue;
			if (a.p.G == 1)
			{
#pragma unroll
				for (int b = 0; b < NB; b++)
					if (b < a.nb)
						ds_store_act(a.y, (size_t) b * a.ldy + r0 + rl, acc[b], a.y_bf16);
				continue;
			}

			/* segments of a row: the last to arrive adds them in order */
			const int	sl = rl % a.p.slots;
			float	   *pp = part + sl * a.p.G * NB;

#pragma unroll
			for (int b = 0; b < NB; b++)
				pp[sg * NB + b] = acc[b];
			__threadfence_block();
			if (atomicAdd(&cnt[sl], 1) == a.p.G - 1)
			{
				__threadfence_block();
#pragma unroll
				for (int b = 0; b < NB; b++)
				{
					float		t = 0.0f;

					for (int g = 0; g < a.p.G; g++)
						t += ((volatile float *) pp)[g * NB + b];
					if (b < a.nb)
						ds_store_act(a.y, (size_t) b * a.ldy + r0 + rl, t, a.y_bf16);
				}
				cnt[sl] = 0;
			}
		}
		/* after the stage's sums: a stage given back has no row in flight */
		__syncwarp();
		if (lane == 0)
			mbar_arrive(empty + 8 * buf);
	}
}

template <int T, int NB>
int
launch(ds_cuda_context *ctx, cudaStream_t stream, BArgs a, const void *x, int x_bf16, int ldx,
	   int grid, int stage_bytes, int ring_bytes, int lag)
{
	using TT = dsq8::Tile<T>;
	static int	smem_set = 0;

	a.nt = a.K / TT::K;
	DS_REQUIRE(ds_bulk_plan(a.M, (long) a.rb, a.K, a.nt, a.nb, TT::FLOAT, ctx->sm_count, grid, stage_bytes,
							ring_bytes, lag, &a.p), DS_CUDA_ERR_UNSUPPORTED,
			   "the bulk product needs x and two stages of one row in shared memory");
	DS_CUDA_CHECK(ds_set_smem(k_matvec_bulk<T, NB>, DS_BULK_SMEM_MAX, &smem_set));
	DS_TRY(prep_x_launch<TT::FLOAT>(ctx, stream, x, x_bf16, ldx, a.K, a.nb, &a.xq, &a.xm));
	DS_REQUIRE(TT::FLOAT || (const uint8_t *) a.xm == a.xq + a.nb * a.K, DS_CUDA_ERR_CUDA,
			   "the quantized x is not one array");
	DS_CUDA_CHECK(ds_launch_pdl(k_matvec_bulk<T, NB>, a.p.grid, 32 * (BW + 1), a.p.smem, stream, a));
	return DS_CUDA_OK;
}

}								/* namespace */

int
ds_matvec_bulk_launch(ds_cuda_context *ctx, cudaStream_t stream, const void *w, int wtype,
					  int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
					  void *y, ds_cuda_dtype ytype, int ldy, int grid, int stage_bytes,
					  int ring_bytes, int lag, int probe)
{
	BArgs		a = {};

	DS_TRY(ds_matmul_check(ctx, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, 2));
	DS_REQUIRE(K % 256 == 0, DS_CUDA_ERR_UNSUPPORTED, "the bulk product needs K % 256 == 0");
	q8x_args_set(a, w, wtype, M, K, n, y, ytype, ldy);
	a.probe = probe;

	const int	xb = xtype == DS_CUDA_BF16;

	switch (wtype)
	{
#define B_CASE(T) \
		case T: \
			return n == 1 ? launch<T, 1>(ctx, stream, a, x, xb, ldx, grid, stage_bytes, ring_bytes, lag) : \
				launch<T, 2>(ctx, stream, a, x, xb, ldx, grid, stage_bytes, ring_bytes, lag);
		DSQ_FOR_EACH_TYPE(B_CASE)
#undef B_CASE
	}
	return ds_cuda_fail(DS_CUDA_ERR_UNSUPPORTED, __FILE__, __LINE__, "weight type",
						ds_type_name(wtype));
}

extern "C" int
ds_cuda_matvec_bulk(ds_cuda_context *ctx, ds_cuda_stream stream, const void *w, int wtype,
					int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
					void *y, ds_cuda_dtype ytype, int ldy)
{
	return ds_matvec_bulk_launch(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, 0, 0, 0, 0, 0);
}
