/*
 * matvec_q8mma.cu -- small-batch products y[b] = W x[b], 1 <= b <= 8, with
 * int8 activations on the int8 tensor cores (mma.m16n8k32.s8): the weights
 * are unpacked to int8 in registers exactly as the dp4a kernel does, but
 * one instruction multiplies 16 rows x 32 weights with all 8 vectors, so
 * the work per weight does not grow with the number of vectors.
 *
 *  - A first small kernel quantizes x per 32 elements (the rule of
 *    q8dot.cuh) straight into the B-fragment order of the tensor cores
 *    (lane 4g + t: words t and t + 4 of vector g's block; vectors past n
 *    are zero) and writes, per k-block and lane pair, a 16-byte record of
 *    the x-side scale terms (mrec_put).  The product is launched as its
 *    programmatic dependent; the x kernel is the programmatic dependent of
 *    the kernel before it, which the product lets launch once its first
 *    copies are queued (it waits for that kernel before it reads x).
 *  - A warp owns RJ = 16 MT rows (one or two m16 tiles) and a range of K
 *    tiles (a "unit"); each step copies one 256-element tile of its RJ rows
 *    with coalesced 16-byte cp.async into a ring of S stages (32-bit
 *    offsets fixed per unit, immediate shared-memory offsets: ~3
 *    instructions per 16 bytes).  Per k-block: the lane unpacks words t and
 *    t + 4 of rows g and g + 8 (mfrag), one mma per m-tile (Q6_K: two k16
 *    products, a scale per 16), then two fma per output value (mcomb).
 *  - Few rows and long K: K is split into KS segments; units (row block,
 *    segment) are dealt out evenly; each unit hands its sums over and
 *    counts itself, and the last unit of a row block to count adds the KS
 *    sums in segment order: results do not depend on timing.  Up to
 *    WS_KS_MAX segments the sums go to the context's word slots
 *    (ds_wslot_put, no fence) and the last waits for any word still empty
 *    (ds_wslot_take_range, a few slots per round trip); above, to
 *    partials in the workspace behind a fence, which the last reads all at
 *    once (the word slots lost up to 9% there, 3584x18944 with 13
 *    segments).  A third hand-over (ds_cuda_matvec_q8mma_tuned, handover
 *    3) splits K in 4 or 2 segments held by the warps of one block, which
 *    hand their sums over through shared memory at a named barrier: no
 *    round trip to memory at all, fewer warps.
 *
 *  - F16/BF16 (tile_float): the same copies and units, 16 rows x 128
 *    elements per step, the weights straight from shared memory as A
 *    fragments, f32 accumulation in the mma.  BF16: x as bf16 hi + lo B
 *    fragments, no scale work at all.  F16: f16 products on the weights
 *    as stored, x per tile scaled by a power of two and split into f16 hi
 *    + lo (k_prep_f16), one fma per output value and tile for the scale.
 *
 * Weight types Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K, F16, BF16;
 * K % 256 == 0.  Quantized types: the product with the int8-quantized x (x
 * scales rounded to 22 significant bits), ds_ref_matmul_q8 to ~3e-7
 * relative; BF16: ds_ref_matmul to ~3e-6; F16: x to 22 bits per element
 * (bf16 x exactly but for elements under ~2^-31 of their tile's max),
 * ~1e-6.
 */
#include "common.cuh"
#include "matvec.cuh"
#include "q8mma.cuh"

namespace
{

using namespace dsq8mma;

constexpr int QW = 4;			/* warps per block */
constexpr int QT = 32 * QW;
constexpr int QS = 3;			/* ring stages */
constexpr int KS_MAX = 16;
/* K segments up to which the split-K sums go through the word slots (the
 * last to count takes them, a few slots per round trip); above, through
 * partials behind a fence, read all at once */
constexpr int WS_KS_MAX = 8;

/* how the split-K sums are handed over (the kernel's HM) */
constexpr int HM_FENCE = 0;		/* partials behind a fence, a counter */
constexpr int HM_WSLOT = 1;		/* word slots, a counter */
constexpr int HM_BLOCK = 2;		/* within the block: the ring, a named barrier */

/* types whose units can hold two m16 tiles (32 rows) */
template <int T>
constexpr bool MT2_OK = !(T == DS_TYPE_Q8_0 || T == DS_TYPE_Q6_K || T == DS_TYPE_F16 ||
						  T == DS_TYPE_BF16);

template <int T, int MTP>
struct QCfg
{
	static constexpr bool FLOAT = dsq8::Tile<T>::FLOAT;	/* F16/BF16: bf16 tensor cores */
	static constexpr int MT = MTP;	/* m16 tiles per unit */
	/* blocks per multiprocessor (a register cap of 168 or 128): 4 measured
	 * better for F16/BF16 and the 16-row units of the 4/5-bit types, 3 for
	 * the 32-row units and for Q8_0/Q6_K (Q6_K 152064x3584 at n = 8: 60% of
	 * copy with 3, 40% with 4) */
	static constexpr int MINB = MT == 1 && T != DS_TYPE_Q8_0 && T != DS_TYPE_Q6_K ? 4 : 3;
	static constexpr int RJ = 16 * MT;	/* rows per unit */
	static constexpr int TB = dsq8::Tile<T>::B;	/* bytes per row and tile */
	static constexpr int TK = dsq8::Tile<T>::K;	/* elements per tile */
	static constexpr bool SHIFT = T == DS_TYPE_Q6_K;	/* rows only 2-byte aligned */
	/* 16-byte chunks per row and tile; Q6_K: the covering span at any even
	 * offset (<= 14 + 210 bytes) */
	static constexpr int CR = SHIFT ? 14 : TB / 16;
	/* row pitch in shared memory: rows g and g + 8 of a warp's loads on
	 * distinct banks (Q6_K 240, Q4_1 176, F16/BF16 288: 8-byte loads) */
	static constexpr int PITCH = SHIFT ? 240 : FLOAT ? 288 : T == DS_TYPE_Q4_1 ? 176 : TB;
	static constexpr bool PAD = PITCH != 16 * CR;	/* chunk offsets not linear */
	static constexpr int NC = RJ * CR;
	static constexpr int NI = (NC + 31) / 32;
	static constexpr int STAGE = RJ * PITCH;
	static constexpr int WARP = QS * STAGE;
	static constexpr int SMEM = QW * WARP;
	static constexpr int REC4 = FLOAT ? 0 : dsq8::MREC<T> / 4;	/* uint4 per record */
	static constexpr int NV = 4 * MT;	/* output values per lane */
};

struct QArgs
{
	const uint8_t *w;
	uint32_t	rb;				/* bytes per row */
	size_t		wbytes;
	int			M,
				nt,				/* tiles per row */
				nb;				/* vectors */
	int			ks,				/* K segments */
				ntk,			/* tiles per segment */
				units,			/* row blocks x segments */
				upw;			/* consecutive units per warp */
	const uint4 *xb;			/* B fragments: [K / 64][32 lanes] */
	const uint4 *xr;			/* records: [K / 32][4][REC4] */
	float	   *wslots;			/* [units][NV / 4][32][4] word slots (1 < ks <= WS_KS_MAX) */
	float	   *part;			/* [units][NV][32] partial sums (ks > WS_KS_MAX) */
	unsigned   *counters;		/* per row block (ks > 1) */
	void	   *y;
	int			ldy,
				y_bf16,
				xsplit;			/* F16/BF16: x has a lo part (f32 x) */
};

/*
 * x for F16 weights (tile_float below): per 128 elements (one
 * tile) and vector, x times an exact power of two 2^s that brings the
 * tile's max |x| into [2^14, 2^15), split into f16 hi and lo (hi + lo =
 * the scaled x to 22 bits; lo may be subnormal, an absolute error of at
 * most 2^-25 of the scaled unit, that is ~2^-39 of the tile's max |x|),
 * at the indices k_prep_mma gives the bf16 parts; xs[tile][vector] =
 * 2^-s.  Zero, NaN or infinite maxima keep s = 0.  Block = tile, warp =
 * vector (all 8; vectors >= nb are zero).
 */
__global__ void __launch_bounds__(256)
k_prep_f16(const void *x, int x_bf16, int ldx, int nb, uint8_t *xb, float *xs)
{
	const int	lane = threadIdx.x & 31,
				vec = threadIdx.x >> 5,
				tile = blockIdx.x;
	float		v[4],
				m = 0.0f;

	grid_dependents_launch();
	grid_dependency_wait();
#pragma unroll
	for (int j = 0; j < 4; j++)
	{
		v[j] = vec < nb ? ds_load_act(x, (size_t) vec * ldx + 128 * tile + 32 * j + lane, x_bf16) : 0.0f;
		m = fmaxf(m, fabsf(v[j]));
	}
#pragma unroll
	for (int o = 16; o > 0; o >>= 1)
		m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));

	const int	s = dsq8::f16_x_shift(m);
	const float sc = ldexpf(1.0f, s);

#pragma unroll
	for (int j = 0; j < 4; j++)
	{
		const float u = v[j] * sc;
		const __half h = __float2half_rn(u);
		const __half l = __float2half_rn(u - __half2float(h));
		const size_t i = dsq8::mma_xf_index(8 * tile + 2 * j + (lane >> 4), vec, lane & 15);

		((__half *) xb)[i] = h;
		((__half *) xb)[i + 4] = l;
	}
	if (lane == 0)
		xs[(size_t) tile * 8 + vec] = ldexpf(1.0f, -s);
}

/*
 * F16/BF16: one tile of 128 elements of 16 rows (rows g and g + 8 of this
 * lane) on the tensor cores, accumulating in f32.  Lane t takes elements
 * 4t..4t+3 of each k16 group (one 8-byte load per row): a0, a1 = elements
 * 4t, 4t+1 of rows g, g + 8, a2, a3 = 4t+2, 4t+3; x's B fragments follow
 * the same order (k_prep_mma, k_prep_f16).  BF16: w (x_hi + x_lo) in bf16,
 * into acc.  F16: the weights as stored times the tile's scaled f16 x_hi
 * + x_lo (k_prep_f16) into a tile sum, then acc += sum 2^-s per vector.
 */
template <int T>
__device__ __forceinline__ void
tile_float(const QArgs &a, const uint8_t *stage, int tile, int lane, float (&acc)[1][4])
{
	using C = QCfg<T, 1>;
	const int	g = lane >> 2,
				t = lane & 3;
	const uint8_t *r0 = stage + g * C::PITCH + 8 * t;
	const uint4 *xp = a.xb + (size_t) tile * 8 * 32 + lane;
	const uint4 zero4 = make_uint4(0, 0, 0, 0);
	float		ts[4] = {0.0f, 0.0f, 0.0f, 0.0f};	/* F16: the tile's scaled sums */

#pragma unroll
	for (int kk = 0; kk < 8; kk++)
	{
		const uint4 xf = g < a.nb ? __ldg(xp + 32 * kk) : zero4;
		const uint2 w0 = *(const uint2 *) (r0 + 32 * kk),
					w1 = *(const uint2 *) (r0 + 8 * C::PITCH + 32 * kk);

		if constexpr (T == DS_TYPE_BF16)
		{
			ds_mma_bf16(acc[0], w0.x, w1.x, w0.y, w1.y, xf.x, xf.y);
			if (a.xsplit)
				ds_mma_bf16(acc[0], w0.x, w1.x, w0.y, w1.y, xf.z, xf.w);
		}
		else
		{
			ds_mma_f16(ts, w0.x, w1.x, w0.y, w1.y, xf.x, xf.y);
			if (a.xsplit)
				ds_mma_f16(ts, w0.x, w1.x, w0.y, w1.y, xf.z, xf.w);
		}
	}
	if constexpr (T == DS_TYPE_F16)
	{
		/* 2^-s of vectors 2t, 2t + 1 (1 for vectors >= nb, whose x is 0) */
		const float2 sc = __ldg((const float2 *) a.xr + (size_t) tile * 4 + t);

		acc[0][0] = fmaf(ts[0], sc.x, acc[0][0]);
		acc[0][1] = fmaf(ts[1], sc.y, acc[0][1]);
		acc[0][2] = fmaf(ts[2], sc.x, acc[0][2]);
		acc[0][3] = fmaf(ts[3], sc.y, acc[0][3]);
	}
}

template <int T, bool ONE, int MTP, int HM>
__global__ void __launch_bounds__(QT, QCfg<T, MTP>::MINB)
k_q8mma(QArgs a)
{
	using C = QCfg<T, MTP>;
	constexpr int MT = C::MT;
	static_assert(C::REC4 >= 0 && C::SMEM <= 227 * 1024, "record size, shared memory");
	extern __shared__ __align__(16) uint8_t smem[];
	const int	lane = threadIdx.x & 31,
				warp = threadIdx.x >> 5;
	const int	g = lane >> 2,
				t = lane & 3;
	const int	gw = blockIdx.x * QW + warp;
	const int	ub = gw * a.upw,
				ue = min(ub + a.upw, a.units);
	const uint8_t *ring = smem + warp * C::WARP;
	const uint32_t ring_s = (uint32_t) __cvta_generic_to_shared(ring) + 16 * lane;

	/* ---- the copy side: unit ic, its tile it (absolute), plan offsets */
	uint32_t	goff[C::NI];
	uint32_t	doff[C::PAD ? C::NI : 1];
	const uint8_t *jptr = a.w;
	uint32_t	jlow = 0;		/* low bits of the unit's first row offset (Q6_K) */
	int			jrem = 0;		/* bytes from jptr to the tensor end, clamped */
	int			ic = ub,
				it = 0,
				ite = 0;

	auto		plan = [&] (int u) {
		const int	job = u / a.ks,
					seg = u - job * a.ks;
		const int	r0 = job * C::RJ,
					rv = min(C::RJ, a.M - r0);
		const size_t roff = (size_t) r0 * a.rb;

		it = seg * a.ntk;
		ite = min(a.nt, it + a.ntk);
		jptr = a.w + roff;
		jlow = (uint32_t) roff;
		jrem = (int) min(a.wbytes - roff, (size_t) 0x7fffffff);
#pragma unroll
		for (int i = 0; i < C::NI; i++)
		{
			const int	c = lane + 32 * i;
			const int	r = c / C::CR,
						cc = c - r * C::CR;

			goff[i] = (uint32_t) min(r, rv - 1) * a.rb + 16 * cc;
			if constexpr (C::PAD)
				doff[i] = r * C::PITCH + 16 * cc - 16 * lane;
		}
	};

	auto		copy = [&] (int slot) {
		const uint32_t st = ring_s + slot * C::STAGE;

		if constexpr (!C::SHIFT)
		{
			const uint8_t *base = jptr + (size_t) it * C::TB;

			/* one 64-bit base per step, 32-bit offsets per chunk (keeps the
			 * compiler from widening every offset) */
			asm("" : "+l"(base));

#pragma unroll
			for (int i = 0; i < C::NI; i++)
				if (C::NC % 32 == 0 || i < C::NI - 1 || lane + 32 * i < C::NC)
					cp16(st + (C::PAD ? doff[i] : 512 * i), base + goff[i]);
		}
		else
		{
			const uint32_t o0 = (uint32_t) it * C::TB;

#pragma unroll
			for (int i = 0; i < C::NI; i++)
				if (C::NC % 32 == 0 || i < C::NI - 1 || lane + 32 * i < C::NC)
				{
					const uint32_t off = goff[i] + o0;
					const int	rel = (int) (off - ((jlow + off) & 15));
					const int	nbytes = jrem - rel;

					if (nbytes >= 16)
						cp16(st + doff[i], jptr + rel);
					else		/* the tensor's last bytes: nothing read past its end */
						for (int b = 0; b < nbytes; b++)
							asm volatile("st.shared.u8 [%0], %1;\n"
										 :: "r"(st + doff[i] + b), "r"((uint32_t) jptr[rel + b]));
				}
		}
	};

	/* next step to copy: unit ic, tile it; false when this warp is done */
	auto		advance = [&] () {
		if (++it == ite)
		{
			if (++ic < ue)
				plan(ic);
		}
	};

	if (ic < ue)
		plan(ic);
#pragma unroll
	for (int s = 0; s < QS - 1; s++)
	{
		if (ic < ue)
		{
			copy(s);
			advance();
		}
		ds_cp_async_commit();
	}
	/* the next call's x preparation may launch (it waits for this kernel) */
	grid_dependents_launch();
	grid_dependency_wait();

	const uint4 zero4 = make_uint4(0, 0, 0, 0);
	int			slot = 0,
				fill = QS - 1;

	for (int cu = ub; cu < ue; cu++)
	{
		const int	job = cu / a.ks,
					seg = cu - job * a.ks;
		const int	r0 = job * C::RJ,
					rv = min(C::RJ, a.M - r0);
		const int	t0 = seg * a.ntk,
					t1 = min(a.nt, t0 + a.ntk);
		float		acc[MT][4],
					macc[MT][4];

		acc_zero<MT>(acc, macc);

		for (int tile = t0; tile < t1; tile++)
		{
			if (ic < ue)
			{
				copy(fill);
				advance();
			}
			ds_cp_async_commit();
			fill = fill + 1 == QS ? 0 : fill + 1;
			ds_cp_async_wait<QS - 1>();
			__syncwarp();

			/* ---- compute one tile of RJ rows */
			const uint8_t *stage = ring + slot * C::STAGE;

			if constexpr (C::FLOAT)
				tile_float<T>(a, stage, tile, lane, acc);
			else if constexpr (ONE)
				dsq8mma::q8_tile1<T, MT, C::PITCH>(a.xb, a.xr, stage, (uint32_t) r0 * a.rb, a.rb, rv, tile,
												   lane, acc, macc);
			else
				dsq8mma::q8_tile<T, MT, C::PITCH>(a.xb, a.xr, a.nb, stage, (uint32_t) r0 * a.rb, a.rb, rv,
												  tile, lane, acc, macc);
			slot = slot + 1 == QS ? 0 : slot + 1;
			__syncwarp();
		}

		/* ---- the unit's sums: straight to y, or through the partials */
		float		v[C::NV];

		if constexpr (ONE && !C::FLOAT)
			dsq8mma::q8_fold1<MT>(acc, macc);

#pragma unroll
		for (int m = 0; m < MT; m++)
#pragma unroll
			for (int i = 0; i < 4; i++)
				v[4 * m + i] = acc[m][i] + macc[m][i];
		if constexpr (HM == HM_BLOCK)
		{
			/* the row block's ks (2 or 4) segments are warps of this block
			 * (units of a block: warps in order, one unit each): each
			 * stores its sums at the start of its ring, the job's warps
			 * meet at a named barrier, and the last segment's warp adds
			 * them in segment order (-0 + p0 = p0 exactly) */
			float	   *red = (float *) (smem + warp * C::WARP) + lane;

			ds_cp_async_wait<0>();
			__syncwarp();
#pragma unroll
			for (int i = 0; i < C::NV; i++)
				red[32 * i] = v[i];
			/* barrier numbers as immediates (one in a register reserves
			 * all 16): the 4 warps at 1, or each pair at 1 or 2 */
			if (a.ks == 4)
				asm volatile("bar.sync 1, 128;\n" ::: "memory");
			else if (warp < 2)
				asm volatile("bar.sync 1, 64;\n" ::: "memory");
			else
				asm volatile("bar.sync 2, 64;\n" ::: "memory");
			if (seg != a.ks - 1)
				continue;

			const float *r0p = (const float *) (smem + (warp - seg) * C::WARP) + lane;

#pragma unroll
			for (int i = 0; i < C::NV; i++)
				v[i] = -0.0f;
			for (int k = 0; k < a.ks; k++)
#pragma unroll
				for (int i = 0; i < C::NV; i++)
					v[i] += r0p[k * (C::WARP / 4) + 32 * i];
		}
		else if constexpr (HM == HM_WSLOT)
		{
			/* word slots and a counter: each unit stores its sums (no
			 * fence) and counts itself; the last to count adds the job's
			 * sums in segment order (-0 + p0 = p0 exactly), its own in its
			 * place (its slot emptied), waiting for any word still empty */
			float	   *jslots = a.wslots + (size_t) job * a.ks * C::NV * 32 + 4 * lane;

			ds_wslot_put<C::NV, 32>(jslots + (size_t) seg * C::NV * 32, v);
			if (!ds_warp_arrive_last(a.counters, job, (unsigned) a.ks, lane))
				continue;

			float		s[C::NV];
			/* slots in flight: 24 registers of loads (16 for Q5_K's 32-row
			 * units, which spill with more) */
			constexpr int KB = T == DS_TYPE_Q5_K && MT == 2 ? 2 : 24 / C::NV;

#pragma unroll
			for (int i = 0; i < C::NV; i++)
				s[i] = -0.0f;
			ds_wslot_take_range<C::NV, 32, KB>(s, jslots, (size_t) C::NV * 32, 0, seg);
			ds_wslot_clear<C::NV, 32>(jslots + (size_t) seg * C::NV * 32);
#pragma unroll
			for (int i = 0; i < C::NV; i++)
				s[i] += v[i];
			ds_wslot_take_range<C::NV, 32, KB>(s, jslots, (size_t) C::NV * 32, seg + 1, a.ks);
#pragma unroll
			for (int i = 0; i < C::NV; i++)
				v[i] = s[i];
			if (lane == 0)
				a.counters[job] = 0;
		}
		else if (a.ks > 1)
		{
			/* partial sums, a fence and a counter: the last to count reads
			 * them all at once */
			float	   *pp = a.part + (size_t) cu * C::NV * 32 + lane;

#pragma unroll
			for (int i = 0; i < C::NV; i++)
				__stcg(pp + 32 * i, v[i]);
			__threadfence();
			if (!ds_warp_arrive_last(a.counters, job, (unsigned) a.ks, lane))
				continue;
			__threadfence();

			const float *p0 = a.part + (size_t) job * a.ks * C::NV * 32 + lane;

#pragma unroll
			for (int i = 0; i < C::NV; i++)
				v[i] = __ldcg(p0 + 32 * i);
			for (int k = 1; k < a.ks; k++)
#pragma unroll
				for (int i = 0; i < C::NV; i++)
					v[i] += __ldcg(p0 + (size_t) k * C::NV * 32 + 32 * i);
			if (lane == 0)
				a.counters[job] = 0;
		}
#pragma unroll
		for (int m = 0; m < MT; m++)
#pragma unroll
			for (int i = 0; i < 4; i++)
			{
				const int	row = r0 + 16 * m + 8 * (i >> 1) + g,
							col = 2 * t + (i & 1);

				if (row < a.M && col < a.nb)
					ds_store_act(a.y, (size_t) col * a.ldy + row, v[4 * m + i], a.y_bf16);
			}
	}
	ds_cp_async_wait<0>();
}

/* Quantize x into fragments, then the product as its programmatic dependent. */
template <int T, int MTP>
int
q8mma_launch(ds_cuda_context *ctx, cudaStream_t stream, const void *w, int M, int K,
			 const void *x, int x_bf16, int ldx, int n, void *y, int y_bf16, int ldy, int ks, int handover)
{
	using C = QCfg<T, MTP>;
	static int	per_sm = 0,		/* blocks per multiprocessor, the counter hand-overs */
				per_sm_b = 0;	/* the same within the block */
	const int	nt = K / C::TK;
	const int	njobs = (M + C::RJ - 1) / C::RJ;
	const size_t xb_bytes = ds_ws_round((size_t) K * (C::FLOAT ? 32 : 8));
	/* records; F16: the tiles' x scales, [K / 128][8 vectors] */
	const size_t xr_bytes = T == DS_TYPE_F16 ? ds_ws_round((size_t) (K / 128) * 8 * 4) :
		C::FLOAT ? 0 : ds_ws_round((size_t) (K / 32) * 4 * dsq8::MREC<T> * 4);

	/* the kernel's instances: one vector or more, and the hand-over */
	void		(*const kerns[2][3]) (QArgs) = {
		{k_q8mma<T, false, MTP, HM_FENCE>, k_q8mma<T, false, MTP, HM_WSLOT>, k_q8mma<T, false, MTP, HM_BLOCK>},
		{k_q8mma<T, true, MTP, HM_FENCE>, k_q8mma<T, true, MTP, HM_WSLOT>, k_q8mma<T, true, MTP, HM_BLOCK>}};

	if (per_sm == 0)
	{
		int			p[2][3];

		for (int o = 0; o < 2; o++)
			for (int h = 0; h < 3; h++)
			{
				DS_CUDA_CHECK(cudaFuncSetAttribute(kerns[o][h], cudaFuncAttributeMaxDynamicSharedMemorySize,
												   C::SMEM));
				DS_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&p[o][h], kerns[o][h], QT, C::SMEM));
			}
		per_sm_b = min(p[0][HM_BLOCK], p[1][HM_BLOCK]);
		per_sm = min(min(p[0][HM_FENCE], p[1][HM_FENCE]), min(p[0][HM_WSLOT], p[1][HM_WSLOT]));
	}
	DS_REQUIRE(per_sm > 0 && per_sm_b > 0, DS_CUDA_ERR_CUDA,
			   "the int8 tensor-core kernel does not fit on a multiprocessor");
	const long	cap = (long) per_sm * ctx->sm_count * QW;	/* resident warps */

	/* by default the in-block hand-over where it measured faster (H200,
	 * 2026-11-29, two runs, 3-8 vectors): Q8_0 on 3584x3584 7-9% and
	 * 8960x1536 7-10% (the other types 4-12% slower there), F16 and BF16
	 * on 1536x1536 9-12% (on the larger shapes even or up to 10% slower) */
	if (handover == 0 && n >= 3 &&
		((T == DS_TYPE_Q8_0 && M >= 2048 && M < 16384 && K <= 4096) ||
		 (C::FLOAT && (long) M * K < (1L << 22))))
		handover = 3;

	/* split K so that the units (row block, segment) come close to the
	 * resident warps, segments of at least one tile */
	if (ks <= 0)
		ks = (int) max(1L, min((long) KS_MAX, cap / njobs));
	if (njobs > DS_COUNTERS)
		ks = 1;
	ks = max(1, min(ks, nt));
	/* within the block: 4 or 2 segments (a block's warps hold whole row
	 * blocks), none empty, a unit per warp; else no split */
	if (handover == 3)
	{
		const long	cap_b = (long) per_sm_b * ctx->sm_count * QW;

		ks = 1;
		for (int c = 4; c >= 2 && ks == 1; c /= 2)
			if ((nt + (nt + c - 1) / c - 1) / ((nt + c - 1) / c) == c && (long) njobs * c <= cap_b)
				ks = c;
	}

	const int	ntk = (nt + ks - 1) / ks;

	ks = (nt + ntk - 1) / ntk;	/* no empty segment */

	const long	units = (long) njobs * ks;
	/* the split-K hand-over: word slots up to WS_KS_MAX segments, in an
	 * instance of its own so that the other keeps its code */
	const int	hm = ks == 1 ? HM_FENCE : handover == 3 ? HM_BLOCK :
		(handover ? handover == 1 : ks <= WS_KS_MAX) ? HM_WSLOT : HM_FENCE;
	const size_t slot_bytes = (size_t) units * C::NV * 32 * 4;
	const size_t part_bytes = ks > 1 && hm == HM_FENCE ? ds_ws_round(slot_bytes) : 0;
	const bool	ws = hm == HM_WSLOT;

	DS_REQUIRE(xb_bytes + xr_bytes + part_bytes <= ctx->ws_bytes, DS_CUDA_ERR_WORKSPACE,
			   "workspace too small for the int8 x fragments and split-K sums");
	DS_REQUIRE(!ws || slot_bytes <= DS_WSLOT_BYTES, DS_CUDA_ERR_WORKSPACE,
			   "too few word slots for the split-K sums");

	QArgs		a;
	uint8_t    *xb = ctx->ws;
	uint32_t   *xr = (uint32_t *) (ctx->ws + xb_bytes);

	if constexpr (T == DS_TYPE_F16)
		DS_CUDA_CHECK(ds_launch_pdl(k_prep_f16, K / 128, 256, 0, stream, x, x_bf16, ldx, n, xb, (float *) xr));
	else
		DS_CUDA_CHECK(ds_launch_pdl(k_prep_mma<T>, K / 32, 256, 0, stream, x, x_bf16, ldx, n, xb, xr));

	a.w = (const uint8_t *) w;
	a.rb = (uint32_t) ds_row_size(T, K);
	a.wbytes = (size_t) M * a.rb;
	a.M = M;
	a.nt = nt;
	a.nb = n;
	a.ks = ks;
	a.ntk = ntk;
	a.units = (int) units;
	/* a unit per warp within the block (its warps hold whole row blocks) */
	a.upw = hm == HM_BLOCK ? 1 : (int) ((units + cap - 1) / cap);
	a.xb = (const uint4 *) xb;
	a.xr = (const uint4 *) xr;
	a.wslots = ctx->wslots;
	a.part = (float *) (ctx->ws + xb_bytes + xr_bytes);
	a.counters = ctx->counters;
	a.y = y;
	a.ldy = ldy;
	a.y_bf16 = y_bf16;
	a.xsplit = !x_bf16;

	const auto	kern = kerns[n == 1][hm];
	const int	warps = (int) ((units + a.upw - 1) / a.upw);
	DS_CUDA_CHECK(ds_launch_pdl(kern, (warps + QW - 1) / QW, QT, C::SMEM, stream, a));
	return DS_CUDA_OK;
}

}								/* namespace */

/* Rows per unit, 16 or 32, where the type allows both: 16 on the smaller
 * products (more units, shorter ones), 32 where the x loads shared by two
 * m16 tiles matter more. */
static int
q8mma_mt(int wtype, int M, int K)
{
	(void) wtype;
	return (long) M * K < (1L << 25) ? 1 : 2;
}

template <int T>
static int
q8mma_type(ds_cuda_context *ctx, cudaStream_t stream, const void *w, int M, int K,
		   const void *x, int x_bf16, int ldx, int n, void *y, int y_bf16, int ldy, int ks, int mt, int handover)
{
	if constexpr (MT2_OK<T>)
	{
		if ((mt ? mt : q8mma_mt(T, M, K)) == 2)
			return q8mma_launch<T, 2>(ctx, stream, w, M, K, x, x_bf16, ldx, n, y, y_bf16, ldy, ks, handover);
	}
	return q8mma_launch<T, 1>(ctx, stream, w, M, K, x, x_bf16, ldx, n, y, y_bf16, ldy, ks, handover);
}

int
ds_matvec_q8mma_launch(ds_cuda_context *ctx, cudaStream_t stream, const void *w, int wtype,
					   int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
					   void *y, ds_cuda_dtype ytype, int ldy, int ks, int mt, int handover)
{
	DS_TRY(ds_matmul_check(ctx, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, 8));
	DS_REQUIRE(K % 256 == 0, DS_CUDA_ERR_UNSUPPORTED, "the int8 tensor-core product needs K % 256 == 0");
	switch (wtype)
	{
#define Q8M_CASE(T) \
		case T: \
			return q8mma_type<T>(ctx, stream, w, M, K, x, xtype == DS_CUDA_BF16, ldx, n, y, \
								 ytype == DS_CUDA_BF16, ldy, ks, mt, handover);
		Q8M_CASE(DS_TYPE_Q4_0)
		Q8M_CASE(DS_TYPE_Q4_1)
		Q8M_CASE(DS_TYPE_Q5_0)
		Q8M_CASE(DS_TYPE_Q8_0)
		Q8M_CASE(DS_TYPE_Q4_K)
		Q8M_CASE(DS_TYPE_Q5_K)
		Q8M_CASE(DS_TYPE_Q6_K)
		Q8M_CASE(DS_TYPE_F16)
		Q8M_CASE(DS_TYPE_BF16)
#undef Q8M_CASE
	}
	return ds_cuda_fail(DS_CUDA_ERR_UNSUPPORTED, __FILE__, __LINE__, "weight type",
						ds_type_name(wtype));
}

extern "C" int
ds_cuda_matvec_q8mma(ds_cuda_context *ctx, ds_cuda_stream stream, const void *w, int wtype,
					 int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
					 void *y, ds_cuda_dtype ytype, int ldy)
{
	return ds_matvec_q8mma_launch(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, 0, 0, 0);
}

extern "C" int
ds_cuda_matvec_q8mma_tuned(ds_cuda_context *ctx, ds_cuda_stream stream, const void *w, int wtype,
						   int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
						   void *y, ds_cuda_dtype ytype, int ldy, int ks, int mt, int handover)
{
	DS_REQUIRE(ks >= 0 && ks <= KS_MAX && mt >= 0 && mt <= 2 && handover >= 0 && handover <= 3,
			   DS_CUDA_ERR_ARG, "q8mma knobs: ks 0-16, mt 0-2, handover 0-3");
	return ds_matvec_q8mma_launch(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, ks, mt,
								  handover);
}
