/*
 * matvec.cu -- small-batch products y[b] = W x[b], 1 <= b <= 8, with W in
 * a GGUF block layout as stored in the file.
 *
 * At small batch the product is bound by the bandwidth of reading W once,
 * so the kernel is built around that stream:
 *
 *  - A block of 8 warps owns 128 rows and a range of K (the split).  Each
 *    warp owns 16 rows and streams their bytes, one tile (256 or 128
 *    elements of each row) at a time, into its own shared-memory ring with
 *    16-byte cp.async copies, NST tiles in flight.  Copies cover the
 *    16-byte-aligned span of each row's tile, so every block layout (18-,
 *    22-, 34-, 210-byte blocks) streams the same way and each weight byte is
 *    read from memory once (a few boundary bytes of unaligned rows come
 *    twice, from L2).
 *  - Decoding turns each 32-element group into the exact small integers of
 *    the format (qblock.cuh), packed as bf16 in the register layout of
 *    mma.m16n8k16: 16 rows x 16 k times 16 k x 8 vectors per instruction.
 *    The tensor cores do the multiply-adds, so 8 vectors cost about what 1
 *    does.  x is split into bf16 hi + lo (two products) unless it is bf16.
 *  - Each group's sums are then scaled in f32: acc += s * C + c * X, with
 *    (s, c) the group's scale pair from a per-warp table filled once per
 *    tile, and X the sum of the group's x values.
 *  - x is prepared once per block, chunk by chunk, in shared memory in
 *    exactly the fragment order the decoders produce (kmap), with the sums.
 *  - When K is split over several blocks, partial sums go to the workspace
 *    and the last block of a row range adds them in a fixed order, so the
 *    result does not depend on timing.
 */
#include "common.cuh"
#include "matvec.cuh"
#include "qblock.cuh"
#include "tile_copy.cuh"

namespace
{

constexpr int MV_WARPS = 8;
constexpr int MV_THREADS = 32 * MV_WARPS;
constexpr int MV_ROWS = 16 * MV_WARPS;	/* rows per block */

struct MvArgs
{
	const uint8_t *w;
	size_t		row_bytes;
	int			M,
				K;
	const void *x;
	int			ldx,
				x_bf16;
	void	   *y;
	int			ldy,
				y_bf16;
	int			nb;				/* vectors, 1..8 */
	int			kt;				/* tiles of K per block */
	int			nsplit;			/* blocks along K */
	float	   *part;			/* [nsplit][nb][M] partial sums when nsplit > 1 */
	unsigned   *count;			/* one arrival counter per row range */
};

/* Sizes of the kernel for weight type T and NB vectors (1 or 8). */
template <int T, int NB>
struct Mv
{
	using QT = dsq::Q<T>;
	static constexpr int NST = QT::PITCH <= 240 ? 3 : 2;	/* tiles in flight per warp */
	static constexpr int NGT = QT::TILE_K / 32;	/* groups per tile */
	static constexpr int NSGT = QT::SG ? QT::TILE_K / QT::SG : 0;	/* scale groups per tile */
	static constexpr int NSG_G = QT::SG == 16 ? 2 : 1;	/* scale groups per group */
	static constexpr int TP = NSGT ? 2 * NSGT + 2 : 0;	/* scale table row pitch, floats */
	static constexpr int XCG = NB == 1 ? 64 : 16;	/* groups per x chunk */
	static constexpr int XCT = XCG / NGT;	/* tiles per x chunk */
	static constexpr int XF_BYTES = 2 * XCG * NB * 4 * 32;	/* two chunk buffers */
	static constexpr int XS_BYTES = QT::SG ? 2 * XCG * NSG_G * NB * 4 : 0;
	static constexpr int STAGE_BYTES = 16 * QT::PITCH;
	static constexpr int WARP_BYTES = NST * STAGE_BYTES + 16 * TP * 4;
	static constexpr int SMEM = XF_BYTES + XS_BYTES + MV_WARPS * WARP_BYTES;
};

/*
 * x for groups [kbase/32, kbase/32 + ngrp) in fragment order: entry
 * (grp, b, t) is the hi and lo bf16 pairs of the 8 values lane t needs for
 * vector b, and xs holds each scale group's sum of hi + lo.
 */
template <int T, int NB>
__device__ void
prep_x(const MvArgs &a, int kbase, int ngrp, uint4 *xf, float *xs)
{
	using QT = dsq::Q<T>;
	const int	items = ngrp * NB * 4;

	for (int i0 = 0; i0 < items; i0 += MV_THREADS)
	{
		int			i = i0 + threadIdx.x;
		int			t = i & 3,
					q = i >> 2,
					b = q % NB,
					grp = q / NB;
		bool		ok = i < items && b < a.nb;
		uint32_t	hi[4],
					lo[4];
		float		s0 = 0.0f,
					s1 = 0.0f;

#pragma unroll
		for (int r = 0; r < 4; r++)
		{
			float		vh[2],
						vl[2];

#pragma unroll
			for (int h = 0; h < 2; h++)
			{
				float		v = ok ? ds_load_act(a.x, (size_t) b * a.ldx + kbase + grp * 32 +
											   QT::kmap(t, r, h), a.x_bf16) : 0.0f;

				vh[h] = __bfloat162float(__float2bfloat16_rn(v));
				vl[h] = __bfloat162float(__float2bfloat16_rn(v - vh[h]));
				if (r < 2)
					s0 += vh[h] + vl[h];
				else
					s1 += vh[h] + vl[h];
			}
			hi[r] = dsq::pack_bf16x2(vh[0], vh[1]);
			lo[r] = dsq::pack_bf16x2(vl[0], vl[1]);
		}
		if (i < items)
		{
			xf[2 * i] = make_uint4(hi[0], hi[1], hi[2], hi[3]);
			xf[2 * i + 1] = make_uint4(lo[0], lo[1], lo[2], lo[3]);
		}
		if constexpr (QT::SG > 0)
		{
			s0 += __shfl_xor_sync(0xffffffffu, s0, 1);
			s0 += __shfl_xor_sync(0xffffffffu, s0, 2);
			s1 += __shfl_xor_sync(0xffffffffu, s1, 1);
			s1 += __shfl_xor_sync(0xffffffffu, s1, 2);
			if (t == 0 && i < items)
			{
				if constexpr (QT::SG == 32)
					xs[grp * NB + b] = s0 + s1;
				else
				{
					xs[(2 * grp) * NB + b] = s0;
					xs[(2 * grp + 1) * NB + b] = s1;
				}
			}
		}
	}
}

/* acc[0..3] += one scale group's sums: rows g, g+8 x vectors 2t, 2t+1. */
__device__ __forceinline__ void
apply_scale(float acc[4], const float cm[4], float2 sg, float2 s8, float2 X)
{
	acc[0] += sg.x * cm[0] + sg.y * X.x;
	acc[1] += sg.x * cm[1] + sg.y * X.y;
	acc[2] += s8.x * cm[2] + s8.y * X.x;
	acc[3] += s8.x * cm[3] + s8.y * X.y;
}

/* One tile of this warp's 16 rows against the prepared x. */
template <int T, int NB>
__device__ __forceinline__ void
tile_compute(const MvArgs &a, const uint8_t *st, float *tab, int row0, int tile,
			 const uint4 *xf, const float *xs, float acc[4], bool xsplit, int lane)
{
	using QT = dsq::Q<T>;
	using C = Mv<T, NB>;
	const int	g = lane >> 2,
				t = lane & 3;
	const int	ng = min(QT::TILE_K, a.K - tile * QT::TILE_K) / 32;
	const uint8_t *pg = st + g * QT::PITCH + ds_tile_offset(a.row_bytes, row0 + g, tile, QT::TILE_B);
	const uint8_t *p8 = st + (g + 8) * QT::PITCH +
		ds_tile_offset(a.row_bytes, row0 + g + 8, tile, QT::TILE_B);

	if constexpr (QT::SG > 0)
	{
		/* lane 2r + h fills the scale pairs of half h of row r's tile */
		const int	rr = lane >> 1,
					hh = lane & 1;
		const uint8_t *pr = st + rr * QT::PITCH +
			ds_tile_offset(a.row_bytes, row0 + rr, tile, QT::TILE_B);
		float		s[C::NSGT / 2],
					c[C::NSGT / 2];
		float2	   *trow = (float2 *) (tab + rr * C::TP) + hh * (C::NSGT / 2);

		QT::scales_half(pr, hh, s, c);
#pragma unroll
		for (int i = 0; i < C::NSGT / 2; i++)
			trow[i] = make_float2(s[i], c[i]);
		__syncwarp();
	}

#pragma unroll
	for (int grp = 0; grp < C::NGT; grp++)
	{
		if (grp >= ng)
			break;

		uint32_t	ag[QT::NPL][4],
					a8[QT::NPL][4];
		uint4		bh = make_uint4(0, 0, 0, 0),
					bl = make_uint4(0, 0, 0, 0);

		QT::frag(pg, grp, t, ag);
		QT::frag(p8, grp, t, a8);
		if (NB > 1 || g == 0)
		{
			const int	bi = (grp * NB + (NB > 1 ? g : 0)) * 4 + t;

			bh = xf[2 * bi];
			if (xsplit)
				bl = xf[2 * bi + 1];
		}

		if constexpr (QT::SG == 0)
		{
#pragma unroll
			for (int p = 0; p < QT::NPL; p++)
			{
				ds_mma_bf16(acc, ag[p][0], a8[p][0], ag[p][1], a8[p][1], bh.x, bh.y);
				ds_mma_bf16(acc, ag[p][2], a8[p][2], ag[p][3], a8[p][3], bh.z, bh.w);
				if (xsplit)
				{
					ds_mma_bf16(acc, ag[p][0], a8[p][0], ag[p][1], a8[p][1], bl.x, bl.y);
					ds_mma_bf16(acc, ag[p][2], a8[p][2], ag[p][3], a8[p][3], bl.z, bl.w);
				}
			}
		}
		else
		{
			float		c0[4] = {0.0f, 0.0f, 0.0f, 0.0f};
			float		c1[4] = {0.0f, 0.0f, 0.0f, 0.0f};
			const float2 *tg = (const float2 *) (tab + g * C::TP);
			const float2 *t8 = (const float2 *) (tab + (g + 8) * C::TP);

			ds_mma_bf16(c0, ag[0][0], a8[0][0], ag[0][1], a8[0][1], bh.x, bh.y);
			if (xsplit)
				ds_mma_bf16(c0, ag[0][0], a8[0][0], ag[0][1], a8[0][1], bl.x, bl.y);
			if constexpr (QT::SG == 32)
			{
				ds_mma_bf16(c0, ag[0][2], a8[0][2], ag[0][3], a8[0][3], bh.z, bh.w);
				if (xsplit)
					ds_mma_bf16(c0, ag[0][2], a8[0][2], ag[0][3], a8[0][3], bl.z, bl.w);
			}
			else
			{
				ds_mma_bf16(c1, ag[0][2], a8[0][2], ag[0][3], a8[0][3], bh.z, bh.w);
				if (xsplit)
					ds_mma_bf16(c1, ag[0][2], a8[0][2], ag[0][3], a8[0][3], bl.z, bl.w);
			}
#pragma unroll
			for (int m = 0; m < C::NSG_G; m++)
			{
				const int	sgi = grp * C::NSG_G + m;
				float2		X;

				if (NB == 1)
					X = make_float2(t == 0 ? xs[sgi] : 0.0f, 0.0f);
				else
					X = *(const float2 *) (xs + sgi * NB + 2 * t);
				apply_scale(acc, m ? c1 : c0, tg[sgi], t8[sgi], X);
			}
		}
	}
}

/* Store one result, f32 or bf16, if it lies inside y. */
__device__ __forceinline__ void
store_y(const MvArgs &a, int b, int row, float v)
{
	if (b < a.nb && row < a.M)
		ds_store_act(a.y, (size_t) b * a.ldy + row, v, a.y_bf16);
}

template <int T, int NB>
__global__ void __launch_bounds__(MV_THREADS, 1)
k_matvec(MvArgs a)
{
	using QT = dsq::Q<T>;
	using C = Mv<T, NB>;
	extern __shared__ __align__(16) uint8_t smem[];
	__shared__ int s_last;
	uint4	   *xf_all = (uint4 *) smem;
	float	   *xs_all = (float *) (smem + C::XF_BYTES);
	const int	tid = threadIdx.x,
				warp = tid >> 5,
				lane = tid & 31,
				g = lane >> 2,
				t = lane & 3;
	uint8_t    *wsm = smem + C::XF_BYTES + C::XS_BYTES + warp * C::WARP_BYTES;
	float	   *tab = (float *) (wsm + C::NST * C::STAGE_BYTES);
	const int	ntiles_all = (a.K + QT::TILE_K - 1) / QT::TILE_K;
	const int	tile0 = blockIdx.y * a.kt;
	const int	ntile = min(a.kt, ntiles_all - tile0);
	const int	row0 = blockIdx.x * MV_ROWS + warp * 16;
	const bool	active = row0 < a.M;
	const bool	xsplit = !a.x_bf16;
	float		acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
	int			it = 0;

	/* the first NST-1 tiles go in flight before anything else */
	if (active)
	{
#pragma unroll
		for (int s = 0; s < C::NST - 1; s++)
		{
			if (s < ntile)
				ds_issue_tile_rows<T>(a.w, a.row_bytes, a.M, a.K, wsm + s * C::STAGE_BYTES,
										  row0, 16, tile0 + s, lane, 32);
			ds_cp_async_commit();
		}
	}

	for (int ct = 0; ct < ntile; ct += C::XCT)
	{
		const int	cnt = min(C::XCT, ntile - ct);
		const int	kbase = (tile0 + ct) * QT::TILE_K;
		const int	buf = (ct / C::XCT) & 1;
		uint4	   *xf = xf_all + buf * (C::XCG * NB * 4 * 2);
		float	   *xs = xs_all + buf * (C::XCG * C::NSG_G * NB);

		prep_x<T, NB>(a, kbase, min(cnt * QT::TILE_K, a.K - kbase) / 32, xf, xs);
		__syncthreads();
		if (!active)
			continue;
		for (int lt = 0; lt < cnt; lt++, it++)
		{
			const int	nxt = it + C::NST - 1;

			if (nxt < ntile)
				ds_issue_tile_rows<T>(a.w, a.row_bytes, a.M, a.K, wsm + (nxt % C::NST) * C::STAGE_BYTES,
									  row0, 16, tile0 + nxt, lane, 32);
			ds_cp_async_commit();
			ds_cp_async_wait<C::NST - 1>();
			__syncwarp();
			tile_compute<T, NB>(a, wsm + (it % C::NST) * C::STAGE_BYTES, tab, row0, tile0 + it,
								xf + lt * C::NGT * NB * 4 * 2,
								xs + lt * C::NGT * C::NSG_G * NB, acc, xsplit, lane);
			__syncwarp();
		}
	}

	if (a.nsplit == 1)
	{
		if (active)
		{
			store_y(a, 2 * t, row0 + g, acc[0]);
			store_y(a, 2 * t + 1, row0 + g, acc[1]);
			store_y(a, 2 * t, row0 + g + 8, acc[2]);
			store_y(a, 2 * t + 1, row0 + g + 8, acc[3]);
		}
		return;
	}

	/* split K: publish the partial sums; the last block to arrive adds them */
	if (active)
	{
		float	   *p = a.part + (size_t) blockIdx.y * a.nb * a.M;

		for (int i = 0; i < 4; i++)
		{
			int			b = 2 * t + (i & 1),
						row = row0 + g + 8 * (i >> 1);

			if (b < a.nb && row < a.M)
				p[(size_t) b * a.M + row] = acc[i];
		}
	}
	__threadfence();
	__syncthreads();
	if (tid == 0)
		s_last = atomicAdd(&a.count[blockIdx.x], 1u) == (unsigned) a.nsplit - 1;
	__syncthreads();
	if (!s_last)
		return;
	__threadfence();
	for (int i = tid; i < MV_ROWS * a.nb; i += MV_THREADS)
	{
		int			b = i / MV_ROWS,
					row = blockIdx.x * MV_ROWS + i % MV_ROWS;
		float		sum = 0.0f;

		if (row >= a.M)
			continue;
		for (int s = 0; s < a.nsplit; s++)
			sum += __ldcg(a.part + ((size_t) s * a.nb + b) * a.M + row);
		ds_store_act(a.y, (size_t) b * a.ldy + row, sum, a.y_bf16);
	}
	if (tid == 0)
		a.count[blockIdx.x] = 0;
}

/* Pick the split of K, check the workspace, launch. */
template <int T, int NB>
int
launch(ds_cuda_context *ctx, cudaStream_t stream, MvArgs a, int kt)
{
	using QT = dsq::Q<T>;
	using C = Mv<T, NB>;
	static int	smem_set = 0;
	const int	nrb = (a.M + MV_ROWS - 1) / MV_ROWS;
	const int	ntiles = (a.K + QT::TILE_K - 1) / QT::TILE_K;

	if (kt <= 0)
	{
		/* about two blocks per multiprocessor, splitting K when rows are few */
		int			want = (2 * ctx->sm_count + nrb - 1) / nrb;
		int			s = want < 1 ? 1 : (want > ntiles ? ntiles : want);

		kt = (ntiles + s - 1) / s;
	}
	a.kt = kt;
	a.nsplit = (ntiles + kt - 1) / kt;
	a.count = ctx->counters;
	a.part = (float *) ctx->ws;
	if (a.nsplit > 1)
	{
		DS_REQUIRE((size_t) a.nsplit * a.nb * a.M * sizeof(float) <= ctx->ws_bytes,
				   DS_CUDA_ERR_WORKSPACE, "workspace too small for the split-K partial sums");
		DS_REQUIRE(nrb <= DS_COUNTERS, DS_CUDA_ERR_ARG, "too many rows");
	}
	DS_CUDA_CHECK(ds_set_smem(k_matvec<T, NB>, C::SMEM, &smem_set));
	k_matvec<T, NB><<<dim3(nrb, a.nsplit), MV_THREADS, C::SMEM, stream>>>(a);
	DS_CUDA_CHECK_LAUNCH();
	return DS_CUDA_OK;
}

}								/* namespace */

int
ds_matmul_check(const ds_cuda_context *ctx, const void *w, int wtype, int M, int K,
				const void *x, ds_cuda_dtype xtype, int ldx, int n, const void *y,
				ds_cuda_dtype ytype, int ldy, int n_max)
{
	DS_REQUIRE(ctx != NULL && w != NULL && x != NULL && y != NULL, DS_CUDA_ERR_ARG,
			   "NULL context or pointer");
	DS_REQUIRE(M >= 1 && K >= 32 && K % 32 == 0, DS_CUDA_ERR_ARG,
			   "M must be >= 1 and K a multiple of 32");
	DS_REQUIRE(ds_row_size(wtype, K) != 0, DS_CUDA_ERR_ARG,
			   "K is not a whole number of blocks of the weight type");
	DS_REQUIRE(n >= 1 && n <= n_max, DS_CUDA_ERR_ARG, "n out of range");
	DS_REQUIRE(ldx >= K && ldy >= M, DS_CUDA_ERR_ARG, "ldx < K or ldy < M");
	DS_REQUIRE(((uintptr_t) w & 15) == 0, DS_CUDA_ERR_ARG, "weights must be 16-byte aligned");
	DS_REQUIRE((xtype == DS_CUDA_F32 || xtype == DS_CUDA_BF16) &&
			   (ytype == DS_CUDA_F32 || ytype == DS_CUDA_BF16),
			   DS_CUDA_ERR_ARG, "unknown activation type");
	return DS_CUDA_OK;
}

int
ds_matvec_launch(ds_cuda_context *ctx, cudaStream_t stream, const void *w, int wtype,
				 int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
				 void *y, ds_cuda_dtype ytype, int ldy, int kt)
{
	MvArgs		a;

	DS_TRY(ds_matmul_check(ctx, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, 8));
	a.w = (const uint8_t *) w;
	a.row_bytes = ds_row_size(wtype, K);
	a.M = M;
	a.K = K;
	a.x = x;
	a.ldx = ldx;
	a.x_bf16 = xtype == DS_CUDA_BF16;
	a.y = y;
	a.ldy = ldy;
	a.y_bf16 = ytype == DS_CUDA_BF16;
	a.nb = n;
	switch (wtype)
	{
#define MV_CASE(T) \
		case T: \
			return n == 1 ? launch<T, 1>(ctx, stream, a, kt) : launch<T, 8>(ctx, stream, a, kt);
		DSQ_FOR_EACH_TYPE(MV_CASE)
#undef MV_CASE
	}
	return ds_cuda_fail(DS_CUDA_ERR_UNSUPPORTED, __FILE__, __LINE__, "weight type",
						ds_type_name(wtype));
}

extern "C" int
ds_cuda_matvec(ds_cuda_context *ctx, ds_cuda_stream stream, const void *w, int wtype,
			   int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
			   void *y, ds_cuda_dtype ytype, int ldy)
{
	return ds_matvec_launch(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, 0);
}
