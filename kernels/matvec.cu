/*
 * matvec.cu -- small-batch products y[b] = W x[b], 1 <= b <= 8, with W in
 * a GGUF block layout as stored in the file.
 *
 * At small batch the product is bound by the bandwidth of reading W once,
 * so the kernel is built around that stream and spends as few instructions
 * per weight as it can:
 *
 *  - Work is cut into units of 128 rows x kt tiles of K (a tile is 256 or
 *    128 elements of a row).  A persistent grid of as many blocks as fit
 *    on the device takes units from an atomic counter, so the last wave is
 *    never a few blocks running alone.
 *  - Each of a block's 8 warps owns 16 rows of the unit and streams their
 *    tiles into a two-slot shared-memory ring with 16-byte cp.async copies,
 *    one tile ahead, the next unit's first tile included; where rows are
 *    16-byte aligned, consecutive lanes copy consecutive chunks of a row.  The copies cover the 16-byte-aligned
 *    span of each row's tile, so every block layout (18-, 22-, 34-, 210-byte
 *    blocks) streams the same way and each weight byte is read from memory
 *    once.
 *  - Decoding turns each 32-element group into the exact small integers of
 *    the format (qblock.cuh), packed as bf16 in the register layout of
 *    mma.m16n8k16, so the tensor cores do the multiply-adds: 16 rows x 16 k
 *    times 16 k x 8 columns.  An f32 x is split into bf16 hi + lo (two
 *    products); a bf16 x is used as it is.
 *  - The 8 columns of the product carry (scale group, vector) pairs: with
 *    NB vectors, 8 / NB consecutive scale groups share one accumulator,
 *    each in its own columns (x is zero in the others), so the f32 scaling
 *    acc += s * C + c * X (X = sum of the group's x) runs once per 8 / NB
 *    groups instead of once per group.  (s, c) come from a per-warp table
 *    filled once per tile; X is prepared with x.
 *  - x is laid out once per unit in shared memory in exactly the fragment
 *    order the decoders produce (qblock.cuh kmap), with the sums.
 *  - When K is split over several units, each warp publishes its partial
 *    sums and the last warp to finish a 16-row group adds them in a fixed
 *    order, so the result does not depend on timing.
 */
#include "common.cuh"
#include "matvec.cuh"
#include "qblock.cuh"
#include "tile_copy.cuh"

namespace
{

constexpr int MV_WARPS = 8;
constexpr int MV_THREADS = 32 * MV_WARPS;
constexpr int MV_ROWS = 16 * MV_WARPS;	/* rows per unit */
constexpr int XF_BUF = 8192;	/* bytes of x fragments per unit */
constexpr int XS_BUF = 1024;	/* bytes of x sums per unit */

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
	int			kt;				/* tiles of K per unit */
	int			nsplit;			/* units along K */
	int			nrb;			/* units along M */
	int			units;			/* nrb * nsplit */
	float	   *part;			/* [nsplit][nb][M] partial sums when nsplit > 1 */
	unsigned   *sched;			/* [0] units handed out, [1] blocks finished */
	unsigned   *count;			/* arrivals per 16-row group */
};

/* Sizes of the kernel for weight type T and NB vectors (1, 2, 4 or 8). */
/* scale groups that share one accumulator: 8 columns / NB vectors */
template <int NB>
constexpr int SETP = 8 / NB;

template <int T, int NB>
struct Mv
{
	using QT = dsq::Q<T>;
	static constexpr int NGT = QT::TILE_K / 32;	/* groups per tile */
	static constexpr int NSGT = QT::SG ? QT::TILE_K / QT::SG : 0;	/* scale groups per tile */
	static constexpr int TP = NSGT ? 2 * NSGT + 4 : 0;	/* table row pitch, floats */
	static constexpr int KT_MAX = XF_BUF / (NGT * NB * 128);	/* tiles per unit */
	static constexpr int STAGE = 16 * QT::PITCH;
	static constexpr int WARP_BYTES = 2 * STAGE + 16 * TP * 4;
	static constexpr int XBASE = 2 * XF_BUF + 2 * XS_BUF + 32;
	static constexpr int SMEM = XBASE + MV_WARPS * WARP_BYTES;
};

/* Unit u: rows 128 * (u % nrb) .., tiles kt * (u / nrb) .. */
__device__ __forceinline__ int
unit_rb(const MvArgs &a, int u)
{
	return u % a.nrb;
}

__device__ __forceinline__ int
unit_split(const MvArgs &a, int u)
{
	return u / a.nrb;
}

__device__ __forceinline__ int
unit_ntile(const MvArgs &a, int u, int ntiles_all)
{
	return min(a.kt, ntiles_all - unit_split(a, u) * a.kt);
}

/*
 * Queue the copy of one tile of this warp's 16 rows, any alignment: lane
 * 2r + h copies chunks h, h + 2, ... of row r.  Only a chunk that would
 * cross the end of the tensor is copied byte by byte.  Always commits one
 * group.
 */
template <int T, int NB>
__device__ __forceinline__ void
issue_tile(const MvArgs &a, uint8_t *stage, int row0, int tile, int lane)
{
	using QT = dsq::Q<T>;
	constexpr int CPR = QT::PITCH / 16;
	const int	r = lane >> 1,
				h = lane & 1;
	const int	row = row0 + r;

	if (row < a.M)
	{
		const int	ng = min(QT::TILE_K, a.K - tile * QT::TILE_K) / 32;
		const size_t gs = (size_t) row * a.row_bytes + (size_t) tile * QT::TILE_B;
		const int	lim = (int) (gs & 15) + dsq::tile_bytes<T>(ng);
		const uint8_t *src = a.w + (gs & ~(size_t) 15);
		uint8_t    *dst = stage + r * QT::PITCH;
		const bool	last = row == a.M - 1;
		const uint8_t *end = a.w + (size_t) a.M * a.row_bytes;

#pragma unroll
		for (int k = 0; k < (CPR + 1) / 2; k++)
		{
			const int	c = h + 2 * k;

			if (c < CPR && 16 * c < lim)
			{
				if (!last || src + 16 * c + 16 <= end)
					ds_cp_async16(dst + 16 * c, src + 16 * c, 16);
				else
					for (const uint8_t *b = src + 16 * c; b < end; b++)
						dst[16 * c + (b - src - 16 * c)] = *b;
			}
		}
	}
	ds_cp_async_commit();
}

/*
 * The copy of a tile when every row is 16-byte aligned (row_bytes % 16 ==
 * 0, so every tile is a whole number of chunks and none crosses the end of
 * the tensor) and the tensor is under 4 GiB: 32-bit offsets, no boundary
 * cases.  Chunk slots run row by row (slot i: row i / CPRA, chunk i %
 * CPRA) and lane l takes slots l, l + 32, ..., so one copy instruction
 * reads a few long runs of consecutive bytes.
 */
template <int T>
__device__ __forceinline__ void
issue_tile_fast(const MvArgs &a, uint8_t *stage, int row0, int tile, int lane)
{
	using QT = dsq::Q<T>;
	constexpr int CPRA = QT::TILE_B / 16;
	const int	nch = dsq::tile_bytes<T>(min(QT::TILE_K, a.K - tile * QT::TILE_K) / 32) / 16;
	const uint32_t rb = (uint32_t) a.row_bytes;
	const uint32_t base = (uint32_t) row0 * rb + (uint32_t) tile * QT::TILE_B;

#pragma unroll
	for (int k = 0; k < (16 * CPRA + 31) / 32; k++)
	{
		const int	i = lane + 32 * k;
		const int	r = i / CPRA,
					c = i - r * CPRA;

		if (i < 16 * CPRA && row0 + r < a.M && c < nch)
			ds_cp_async16(stage + r * QT::PITCH + 16 * c, a.w + base + r * rb + 16 * c, 16);
	}
	ds_cp_async_commit();
}

/*
 * x for ngrp groups from element kbase in fragment order: entry (grp, b, t)
 * is the hi and lo bf16 pairs of the 8 values lane t needs for vector b,
 * and xs holds each scale group's sum of hi + lo.
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

/*
 * Scale the accumulator of a finished set of P scale groups (first scale
 * group sb of the tile, xsu its index among the unit's x sums, nvalid of
 * them present: fewer in a row's last, partial tile) into acc.  Column n of
 * C holds scale group sb + n / NB for vector n % NB.
 */
template <int T, int NB>
__device__ __forceinline__ void
scale_set(float acc[4], const float C[4], const float *tab, const float *xs, int sb, int xsu,
		  int nvalid, int g, int t)
{
	using Cf = Mv<T, NB>;
	const float *tg = tab + g * Cf::TP,
			   *t8 = tab + (g + 8) * Cf::TP;

	if constexpr (NB == 1)
	{
		/* columns 2t, 2t+1: scale groups sb + 2t, sb + 2t + 1 of vector 0 */
		float4		sg = *(const float4 *) (tg + 2 * (sb + 2 * t));
		float4		s8 = *(const float4 *) (t8 + 2 * (sb + 2 * t));
		float2		X = *(const float2 *) (xs + xsu + 2 * t);

		if (2 * t + 1 < nvalid)
		{
			acc[0] += sg.x * C[0] + sg.y * X.x + sg.z * C[1] + sg.w * X.y;
			acc[2] += s8.x * C[2] + s8.y * X.x + s8.z * C[3] + s8.w * X.y;
		}
		else if (2 * t < nvalid)
		{
			acc[0] += sg.x * C[0] + sg.y * X.x;
			acc[2] += s8.x * C[2] + s8.y * X.x;
		}
	}
	else
	{
		/* columns 2t, 2t+1: scale group sb + 2t / NB, vectors b0, b0 + 1 */
		const int	j = (2 * t) / NB,
					b0 = (2 * t) % NB;
		float2		sg = *(const float2 *) (tg + 2 * (sb + j));
		float2		s8 = *(const float2 *) (t8 + 2 * (sb + j));
		float2		X = *(const float2 *) (xs + (xsu + j) * NB + b0);

		if (j >= nvalid)
			return;
		acc[0] += sg.x * C[0] + sg.y * X.x;
		acc[1] += sg.x * C[1] + sg.y * X.y;
		acc[2] += s8.x * C[2] + s8.y * X.x;
		acc[3] += s8.x * C[3] + s8.y * X.y;
	}
}

/* One tile of this warp's 16 rows against the unit's prepared x. */
template <int T, int NB>
__device__ __forceinline__ void
tile_compute(const MvArgs &a, const uint8_t *st, float *tab, int row0, int tile, int lt,
			 const uint4 *xf, const float *xs, const uint4 *zero, float acc[4], bool xsplit,
			 int lane)
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
		float4	   *trow = (float4 *) (tab + rr * C::TP + hh * C::NSGT);

		QT::scales_half(pr, hh, s, c);
#pragma unroll
		for (int i = 0; i < C::NSGT / 4; i++)
			trow[i] = make_float4(s[2 * i], c[2 * i], s[2 * i + 1], c[2 * i + 1]);
		__syncwarp();
	}

	float		ch[4] = {0.0f, 0.0f, 0.0f, 0.0f},
				cl[4] = {0.0f, 0.0f, 0.0f, 0.0f};

#pragma unroll
	for (int grp = 0; grp < C::NGT; grp++)
	{
		if (grp >= ng)
			break;

		const int	ug = lt * C::NGT + grp;	/* group index in the unit */
		uint32_t	ag[QT::NPL][4],
					a8[QT::NPL][4];
		uint2		h0,
					h1,
					l0 = make_uint2(0, 0),
					l1 = make_uint2(0, 0);

		QT::frag(pg, grp, t, ag);
		QT::frag(p8, grp, t, a8);

		/* B: lane (g, t) holds column g; x where the column's scale group
		 * (or, without scales, vector) matches, zero elsewhere */
		{
			const uint4 *s0,
					   *s1;

			if constexpr (QT::SG == 0)
			{
				s0 = g < NB ? xf + 2 * ((ug * NB + g) * 4 + t) : zero;
				s1 = s0;
			}
			else
			{
				const int	sg0 = (grp * 32) / QT::SG,	/* scale group of k16 step 0 */
							sg1 = (grp * 32 + 16) / QT::SG;

				s0 = g / NB == sg0 % SETP<NB> ? xf + 2 * ((ug * NB + g % NB) * 4 + t) : zero;
				s1 = g / NB == sg1 % SETP<NB> ? xf + 2 * ((ug * NB + g % NB) * 4 + t) : zero;
			}
			h0 = *(const uint2 *) s0;
			h1 = *((const uint2 *) s1 + 1);
			if (xsplit)
			{
				l0 = *(const uint2 *) (s0 + 1);
				l1 = *((const uint2 *) (s1 + 1) + 1);
			}
		}

		if constexpr (QT::SG == 0)
		{
#pragma unroll
			for (int p = 0; p < QT::NPL; p++)
			{
				ds_mma_bf16(acc, ag[p][0], a8[p][0], ag[p][1], a8[p][1], h0.x, h0.y);
				ds_mma_bf16(acc, ag[p][2], a8[p][2], ag[p][3], a8[p][3], h1.x, h1.y);
				if (xsplit)
				{
					ds_mma_bf16(cl, ag[p][0], a8[p][0], ag[p][1], a8[p][1], l0.x, l0.y);
					ds_mma_bf16(cl, ag[p][2], a8[p][2], ag[p][3], a8[p][3], l1.x, l1.y);
				}
			}
		}
		else
		{
#pragma unroll
			for (int m = 0; m < 2; m++)
			{
				const int	sg = (grp * 32 + 16 * m) / QT::SG;

				ds_mma_bf16(ch, ag[0][2 * m], a8[0][2 * m], ag[0][2 * m + 1], a8[0][2 * m + 1],
							m ? h1.x : h0.x, m ? h1.y : h0.y);
				if (xsplit)
					ds_mma_bf16(cl, ag[0][2 * m], a8[0][2 * m], ag[0][2 * m + 1], a8[0][2 * m + 1],
								m ? l1.x : l0.x, m ? l1.y : l0.y);
				/* the set is complete after the last k16 step of its last scale
				 * group, or of the tile's last group */
				if ((QT::SG == 16 || m == 1) &&
					(sg % SETP<NB> == SETP<NB> - 1 || (grp == ng - 1 && m == 1)))
				{
					float		cs[4] = {ch[0] + cl[0], ch[1] + cl[1], ch[2] + cl[2], ch[3] + cl[3]};
					const int	sb = sg - sg % SETP<NB>;

					scale_set<T, NB>(acc, cs, tab, xs, sb, lt * C::NSGT + sb,
									 ng * 32 / QT::SG - sb, g, t);
#pragma unroll
					for (int i = 0; i < 4; i++)
						ch[i] = cl[i] = 0.0f;
				}
			}
		}
	}
	if constexpr (QT::SG == 0)
	{
#pragma unroll
		for (int i = 0; i < 4; i++)
			acc[i] += cl[i];
	}
}

/*
 * The warp's results for its 16 rows: after the reduction over the lanes
 * that share a vector, lane (g, t) holds rows g, g+8 of vectors 2t, 2t+1
 * when 2t < NB (NB = 1 with scales: t = 0, vector 0).
 */
template <int T, int NB>
__device__ __forceinline__ bool
finish_lanes(float acc[4], int t)
{
	if constexpr (dsq::Q<T>::SG > 0 && NB <= 4)
	{
#pragma unroll
		for (int i = 0; i < 4; i++)
		{
			if (NB <= 2)
				acc[i] += __shfl_xor_sync(0xffffffffu, acc[i], 1);
			acc[i] += __shfl_xor_sync(0xffffffffu, acc[i], 2);
		}
	}
	return NB == 1 ? t == 0 : 2 * t < NB;
}

/* Store one result, f32 or bf16, if it lies inside y. */
__device__ __forceinline__ void
store_y(const MvArgs &a, int b, int row, float v)
{
	if (b < a.nb && row < a.M)
		ds_store_act(a.y, (size_t) b * a.ldy + row, v, a.y_bf16);
}

/* The warp's 16 rows of one unit: to y, or through the split-K partials. */
template <int T, int NB>
__device__ __forceinline__ void
unit_epilogue(const MvArgs &a, float acc[4], int row0, int split, int lane)
{
	const int	g = lane >> 2,
				t = lane & 3;
	const bool	writer = finish_lanes<T, NB>(acc, t);

	if (a.nsplit == 1)
	{
		if (writer)
			for (int i = 0; i < 4; i++)
				store_y(a, 2 * t + (i & 1), row0 + g + 8 * (i >> 1), acc[i]);
		return;
	}
	if (writer)
	{
		float	   *p = a.part + (size_t) split * a.nb * a.M;

		for (int i = 0; i < 4; i++)
		{
			int			b = 2 * t + (i & 1),
						row = row0 + g + 8 * (i >> 1);

			if (b < a.nb && row < a.M)
				p[(size_t) b * a.M + row] = acc[i];
		}
	}
	ds_fence_acq_rel();			/* partials visible before the arrival */
	if (!ds_warp_arrive_last(a.count, row0 / 16, (unsigned) a.nsplit, lane))
		return;
	ds_fence_acq_rel();			/* every partial visible to this warp */
	for (int i = lane; i < 16 * a.nb; i += 32)
	{
		int			b = i / 16,
					row = row0 + i % 16;
		float		sum = 0.0f;

		if (row >= a.M)
			continue;
		for (int s = 0; s < a.nsplit; s++)
			sum += __ldcg(a.part + ((size_t) s * a.nb + b) * a.M + row);
		ds_store_act(a.y, (size_t) b * a.ldy + row, sum, a.y_bf16);
	}
	if (lane == 0)
		a.count[row0 / 16] = 0;
}

template <int T, int NB>
__global__ void __launch_bounds__(MV_THREADS, 3)
k_matvec(MvArgs a)
{
	using QT = dsq::Q<T>;
	using C = Mv<T, NB>;
	extern __shared__ __align__(16) uint8_t smem[];
	__shared__ int s_unit[3];
	const int	tid = threadIdx.x,
				warp = tid >> 5,
				lane = tid & 31;
	uint4	   *zero = (uint4 *) (smem + 2 * XF_BUF + 2 * XS_BUF);
	uint8_t    *wsm = smem + C::XBASE + warp * C::WARP_BYTES;
	float	   *tab = (float *) (wsm + 2 * C::STAGE);
	const int	ntiles_all = (a.K + QT::TILE_K - 1) / QT::TILE_K;
	const bool	xsplit = !a.x_bf16;
	/* the fast copy needs aligned rows and 32-bit offsets */
	const bool	fast = QT::TILE_B % 16 == 0 && a.row_bytes % 16 == 0 &&
		(size_t) a.M * a.row_bytes < ((size_t) 1 << 32);
	int			it = 0;			/* this warp's tile count: ring slot it % 2 */

	if (tid < 2)
		zero[tid] = make_uint4(0, 0, 0, 0);
	if (tid == 0)
	{
		s_unit[0] = blockIdx.x;
		s_unit[1] = gridDim.x + atomicAdd(&a.sched[0], 1u);
	}
	__syncthreads();

	/* the first tile of the first unit goes in flight before anything else */
	{
		int			u = s_unit[0];

		if (u < a.units)
			issue_tile<T, NB>(a, wsm, unit_rb(a, u) * MV_ROWS + warp * 16,
							  unit_split(a, u) * a.kt, lane);
		else
			ds_cp_async_commit();
	}

	for (int i = 0;; i++)
	{
		const int	u = s_unit[i % 3],
					un = s_unit[(i + 1) % 3];

		if (u >= a.units)
			break;

		const int	row0 = unit_rb(a, u) * MV_ROWS + warp * 16;
		const int	split = unit_split(a, u);
		const int	tile0 = split * a.kt;
		const int	ntile = unit_ntile(a, u, ntiles_all);
		const int	kbase = tile0 * QT::TILE_K;
		uint4	   *xf = (uint4 *) (smem + (i & 1) * XF_BUF);
		float	   *xs = (float *) (smem + 2 * XF_BUF + (i & 1) * XS_BUF);
		float		acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};

		prep_x<T, NB>(a, kbase, min(ntile * QT::TILE_K, a.K - kbase) / 32, xf, xs);
		if (tid == 0)
			s_unit[(i + 2) % 3] = gridDim.x + atomicAdd(&a.sched[0], 1u);
		__syncthreads();

		for (int lt = 0; lt < ntile; lt++, it++)
		{
			/* one tile ahead: the next of this unit, or the next unit's first */
			if (lt + 1 < ntile && fast)
				issue_tile_fast<T>(a, wsm + ((it + 1) & 1) * C::STAGE, row0, tile0 + lt + 1, lane);
			else if (lt + 1 < ntile)
				issue_tile<T, NB>(a, wsm + ((it + 1) & 1) * C::STAGE, row0, tile0 + lt + 1, lane);
			else if (un < a.units)
				issue_tile<T, NB>(a, wsm + ((it + 1) & 1) * C::STAGE,
								  unit_rb(a, un) * MV_ROWS + warp * 16, unit_split(a, un) * a.kt,
								  lane);
			else
				ds_cp_async_commit();
			ds_cp_async_wait<1>();
			__syncwarp();
			if (row0 < a.M)
				tile_compute<T, NB>(a, wsm + (it & 1) * C::STAGE, tab, row0, tile0 + lt, lt, xf, xs,
									zero, acc, xsplit, lane);
			__syncwarp();
		}
		if (row0 < a.M)
			unit_epilogue<T, NB>(a, acc, row0, split, lane);
	}
	ds_cp_async_wait<0>();

	/* the last block out resets the unit counter for the next launch */
	__syncthreads();
	__threadfence();
	if (tid == 0 && atomicAdd(&a.sched[1], 1u) == gridDim.x - 1)
	{
		a.sched[0] = 0;
		a.sched[1] = 0;
	}
}

/* Blocks per multiprocessor, units, split of K; check the workspace; launch. */
template <int T, int NB>
int
launch(ds_cuda_context *ctx, cudaStream_t stream, MvArgs a, int kt)
{
	using QT = dsq::Q<T>;
	using C = Mv<T, NB>;
	static int	smem_set = 0,
				per_sm = 0;
	const int	nrb = (a.M + MV_ROWS - 1) / MV_ROWS;
	const int	ntiles = (a.K + QT::TILE_K - 1) / QT::TILE_K;
	int			grid;

	DS_CUDA_CHECK(ds_set_smem(k_matvec<T, NB>, C::SMEM, &smem_set));
	if (per_sm == 0)
		DS_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, k_matvec<T, NB>,
																	MV_THREADS, C::SMEM));
	grid = per_sm * ctx->sm_count;
	if (kt <= 0 && (size_t) nrb * ntiles < (size_t) 2 * grid)
	{
		/* a small product: about one unit per multiprocessor, each long
		 * enough to keep its copies in flight */
		int			per = (ctx->sm_count + nrb - 1) / nrb;

		kt = (ntiles + per - 1) / per;
		kt = kt > C::KT_MAX ? C::KT_MAX : kt;
	}
	else if (kt <= 0)
	{
		/* the longest units that still give every block about 2 of them */
		kt = 1;
		for (int k = C::KT_MAX < ntiles ? C::KT_MAX : ntiles; k > 1; k--)
			if ((size_t) nrb * ((ntiles + k - 1) / k) >= (size_t) 2 * grid)
			{
				kt = k;
				break;
			}
	}
	DS_REQUIRE(kt <= C::KT_MAX, DS_CUDA_ERR_ARG, "kt too large for the x buffer");
	a.kt = kt;
	a.nsplit = (ntiles + kt - 1) / kt;
	a.nrb = nrb;
	a.units = nrb * a.nsplit;
	a.sched = ctx->counters;
	a.count = ctx->counters + 2;
	a.part = (float *) ctx->ws;
	if (a.nsplit > 1)
		DS_REQUIRE((size_t) a.nsplit * a.nb * a.M * sizeof(float) <= ctx->ws_bytes,
				   DS_CUDA_ERR_WORKSPACE, "workspace too small for the split-K partial sums");
	DS_REQUIRE((size_t) nrb * MV_WARPS + 2 <= DS_COUNTERS, DS_CUDA_ERR_ARG, "too many rows");
	if (grid > a.units)
		grid = a.units;
	k_matvec<T, NB><<<grid, MV_THREADS, C::SMEM, stream>>>(a);
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
			return n == 1 ? launch<T, 1>(ctx, stream, a, kt) : \
				n == 2 ? launch<T, 2>(ctx, stream, a, kt) : \
				n <= 4 ? launch<T, 4>(ctx, stream, a, kt) : launch<T, 8>(ctx, stream, a, kt);
		DSQ_FOR_EACH_TYPE(MV_CASE)
#undef MV_CASE
	}
	return ds_cuda_fail(DS_CUDA_ERR_UNSUPPORTED, __FILE__, __LINE__, "weight type",
						ds_type_name(wtype));
}

extern "C" int
ds_cuda_matvec_mma(ds_cuda_context *ctx, ds_cuda_stream stream, const void *w, int wtype,
			   int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
			   void *y, ds_cuda_dtype ytype, int ldy)
{
	return ds_matvec_launch(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, 0);
}
