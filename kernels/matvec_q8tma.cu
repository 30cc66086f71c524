/*
 * matvec_q8tma.cu -- small-batch products y[b] = W x[b], 1 <= b <= 8, on
 * the int8 tensor cores like matvec_q8mma.cu, with the weights streamed by
 * the copy engine: one lane of each block only issues tensor copies
 * (cp.async.bulk.tensor, completing on an mbarrier) of whole row-block
 * tiles into a ring of 2-4 shared-memory stages; the block's TW compute
 * warps only read shared memory.  The bytes in flight cost neither
 * registers nor issue slots of the compute warps.
 *
 *  - The weights are a 2-D tensor of 8-byte words (rb / 8 per row, M
 *    rows).  A step is one copy-engine box of RB rows x SC tiles (SC = 2
 *    by default: 128 rows x 304 bytes for Q4_K), PITCH bytes wide: SC
 *    tiles, plus 16 bytes where that is a multiple of 32, so that rows g =
 *    0..7 of a warp's loads fall on distinct banks; rows past M and bytes
 *    past a row's end are zero-filled by the copy engine (never read).
 *    The TW = 8 compute warps are RG row groups of 16 MT rows x SC tile
 *    columns; each computes its rows of its tile (dsq8mma::q8_tile, the
 *    q8mma kernel's tile product) and the columns' sums are added in
 *    column order at the end of a row block.
 *  - Work: each block takes a range of whole row blocks where they divide
 *    evenly enough among the blocks (within 3%); otherwise it is split
 *    stream-K style: the steps (row block, SC tiles) in order are cut into
 *    gridDim.x equal ranges, one per block, so every block streams the
 *    same number of bytes whatever the shape.  With few row blocks the
 *    default grid is 1-4 blocks per row block (aligned_grid_of), so that
 *    each block's range lies within one row block.  A row block that one
 *    block covers whole is stored straight to y; one shared by
 *    several blocks has the sharers' partial sums added in block order
 *    (split.cuh): where a row block has at most ~2 sharers its first
 *    sharer adds them, taking each word of the later sharers' slots as it
 *    is written (the later sharers never wait for their writes);
 *    otherwise the last to arrive does (a counter per row block and row
 *    group).  Results do not depend on timing.
 *  - x is quantized into the B fragments and records of k_prep_mma first;
 *    this kernel is its programmatic dependent, and its copy lane starts
 *    the weight copies before the compute warps wait for x.  k_prep_mma is
 *    itself launched as the programmatic dependent of whatever kernel
 *    precedes it, and this kernel lets its dependents launch at its start:
 *    in a run of products the next call's x preparation waits on an
 *    already resident block instead of a launch, and the next product's
 *    blocks start streaming their weights as this one's blocks finish.
 *    With XS the copy lane also copies each step's x fragments and
 *    records into the stage (after waiting for x), and the compute warps
 *    read x from shared memory.
 *  - The copy lane keeps at most `lag` steps (2 by default, 1 with 4-tile
 *    steps) asked for and
 *    not yet landed: it asks for step i once its stage is free and step
 *    i - lag has landed.  With the whole ring on its way every block's
 *    first step landed late (the memory system serves all requests
 *    interleaved), and the compute warps then trailed the data by the
 *    whole ring to the end.
 *
 * Q6_K's rows (210-byte blocks) are in general not a multiple of 16 bytes,
 * which a tensor map's row stride must be; 8 rows are (1680 bytes per
 * tile).  So Q6_K's weights are seen as M / 8 rows of 8 rows each
 * (ds_residue_tensor_map), and a step is 8 boxes of 16 such super-rows x
 * PITCH bytes: box i holds rows 8 p + i, p = 0..15, of the 128-row block,
 * from the 16-byte boundary at or before the step's first byte in row i
 * (the copy engine starts a box row on a 16-byte boundary), so the step's
 * bytes start (i rb + c SC 210) & 15 bytes into each row of box i, the
 * same for all its rows.  A warp's m16 tile is one box (the fragment rows
 * are rows 8 p + i in the results), so its 8 rows g of a load fall on
 * distinct banks as before.  Needs M % 8 == 0.
 *
 * Weight types Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K; K % 256 == 0.
 * Numerics are the q8mma kernel's: the product with the int8-quantized x,
 * ds_ref_matmul_q8 to ~3e-7 relative.
 */
#include "common.cuh"
#include "matvec.cuh"
#include "q8mma.cuh"
#include "split.cuh"
#include "tma.cuh"
#include "trace.cuh"

namespace
{

using namespace dsq8mma;

constexpr int QS_MAX = 4;		/* ring stages, where they fit */
constexpr int BAR_BYTES = 128;	/* the mbarriers, before the ring */

/* types whose warps can take two m16 tiles (32 rows) */
template <int T>
constexpr bool TMT2_OK = T != DS_TYPE_Q8_0;

/*
 * A step is RB rows x SC consecutive tiles, one box of the copy engine:
 * wider boxes stream closer to the copy bandwidth (the engine alone, on
 * the H200: 86% of copy with 256 x 144-byte boxes, 102% with 64 x 576).
 * The TW compute warps are RG row groups of 16 MT rows x SC tile columns.
 */
template <int T, int MTP, int SCP, bool XSP = false>
struct TCfg
{
	static constexpr bool XS = XSP;	/* x copied into each stage too */
	static constexpr int MT = MTP;
	static constexpr int SC = SCP;	/* tiles per step */
	static constexpr int TW = 8;	/* compute warps per block */
	static constexpr int TT = 32 * (TW + 1);	/* and the copy warp */
	static constexpr int RG = TW / SC;	/* row groups */
	static constexpr int RB = 16 * MT * RG;	/* rows per step */
	static constexpr int TB = dsq8::Tile<T>::B;
	/* Q6_K: 8 boxes of 16 super-rows per step (residue boxes, above) */
	static constexpr bool RES = T == DS_TYPE_Q6_K;
	/* row pitch = the box width: SC tiles rounded up to 16 bytes, 16 more
	 * where that is a multiple of 32, so that rows g = 0..7 of a warp's
	 * loads fall on distinct banks (the extra bytes are the next tile's
	 * or row's, or zeros past the end) */
	static constexpr int P16 = (SC * TB + (RES ? 14 : 0) + 15) / 16 * 16;
	static constexpr int PITCH = P16 % 32 == 0 ? P16 + 16 : P16;
	static constexpr int STAGE = RB * PITCH;
	/* XS: a step's x B fragments (2 KB per tile) and records (512 REC4
	 * bytes per tile) beside its weights */
	static constexpr int REC4 = dsq8::MREC<T> / 4;
	static constexpr int XB = SC * 2048;
	static constexpr int XSTAGE = XS ? XB + SC * 512 * REC4 : 0;
	static constexpr int NV = 4 * MT;	/* output values per lane */
	/* one vector: the mma chains of a tile (q8_tile1): 8 independent ones
	 * for Q4_K and Q5_K in 4-tile steps (16 rows per warp; H200,
	 * 2026-11-29, one run against 2: 1536x8960 Q4_K 8.61 -> 7.37 us, Q5_K
	 * 9.94 -> 7.71; 3584x3584 6.22 -> 5.65 and 7.37 -> 6.06; 1536x1536
	 * 3.85 -> 3.52 and 4.26 -> 3.64; with 32 rows per warp 1-2% slower on
	 * 3584x18944, as were the other types on most shapes; with 16 rows per
	 * warp in 2-tile steps at two blocks per multiprocessor, below, Q4_K
	 * 152064x1536 37.3 -> 47.2) */
	static constexpr int NCH = (T == DS_TYPE_Q4_K || T == DS_TYPE_Q5_K) && MT == 1 && SC == 4 ? 8 : 2;
	static constexpr int RED = TW * NV * 32 * 4;	/* the column sums */
	static constexpr int QS = (227 * 1024 - BAR_BYTES - RED) / (STAGE + XSTAGE) < QS_MAX ?
		(227 * 1024 - BAR_BYTES - RED) / (STAGE + XSTAGE) : QS_MAX;
	static constexpr int SMEM = BAR_BYTES + QS * (STAGE + XSTAGE) + RED;
	static_assert(RG * SC == TW && RB <= 256 && PITCH / 8 <= 256, "step shape");
	static_assert(!RES || (RB == 128 && PITCH / 2 <= 256), "residue boxes: 8 x 16 rows");
};

struct TArgs
{
	const uint8_t *w;
	uint32_t	rb;				/* bytes per row */
	int			M,
				nt,				/* tiles per row */
				nb;				/* vectors */
	long		steps;			/* row blocks x nch */
	const uint4 *xb;			/* B fragments: [K / 64][32 lanes] */
	const uint4 *xr;			/* records: [K / 32][4][REC4] */
	int			nch;			/* steps per row block: tiles / SC, rounded up */
	int			lag;			/* > 0: step i is asked for once step i - lag has landed */
	int			whole;			/* blocks take whole row blocks (no partial sums) */
	int			owner;			/* a shared row block's first sharer adds its sums (below) */
	float	   *part;			/* [gridDim.x][2][RG][NV][32] partial sums */
	float	   *wslots;			/* [gridDim.x][2][RG][NV / 4][32][4] word slots (owner) */
	unsigned   *counters;		/* [blocks][RG][arrived, stored] */
	void	   *y;
	int			ldy,
				y_bf16;
};

template <int T, bool ONE, int MTP, int SCP, bool XSP>
__global__ void __launch_bounds__(TCfg<T, MTP, SCP, XSP>::TT, 1)
k_q8tma(const __grid_constant__ CUtensorMap tm, TArgs a)
{
	using C = TCfg<T, MTP, SCP, XSP>;
	constexpr int TW = C::TW,
				QS = C::QS,
				MT = C::MT,
				SC = C::SC,
				RG = C::RG;
	static_assert(C::SMEM <= 227 * 1024 && QS >= 2 && 16 * QS <= BAR_BYTES - 4, "shared memory");
	static_assert(C::STAGE % 128 == 0, "copy boxes");
	extern __shared__ __align__(128) uint8_t smem[];
	const int	lane = threadIdx.x & 31,
				warp = threadIdx.x >> 5;
	const int	G = gridDim.x;
	const DsSplit sp = {a.steps / a.nch, a.nch, G, a.whole};
	const long	b0 = ds_split_begin(sp, blockIdx.x),
				b1 = ds_split_begin(sp, blockIdx.x + 1);
	const uint32_t full0 = smem_u32(smem),
				empty0 = full0 + 8 * QS;
	uint8_t    *ring = smem + BAR_BYTES;
	uint8_t    *xring = ring + QS * C::STAGE;	/* XS: [QS][XSTAGE] */
	float	   *red = (float *) (xring + QS * C::XSTAGE);

	/* the next call's x preparation may start now (it waits for this
	 * kernel before it touches the workspace) */
	grid_dependents_launch();
#ifdef DS_TRACE
	/* the launch count in the mbarriers' spare bytes */
	unsigned   *tr_seq = (unsigned *) (smem + BAR_BYTES - 4);
	DsTrace		tr = {nullptr, 0};

	if (threadIdx.x == 0)
	{
		*tr_seq = ds_trace_seq_next(0);
		tr = ds_trace_at(*tr_seq, 0);
		tr.ev(0);
	}
#endif
	if (warp == TW && lane == 0)
		asm volatile("prefetch.tensormap [%0];\n" :: "l"(&tm) : "memory");
	if (threadIdx.x == 0)
	{
		for (int s = 0; s < QS; s++)
		{
			mbar_init(full0 + 8 * s, 1);
			mbar_init(empty0 + 8 * s, TW);
		}
		asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
	}
	__syncthreads();
#ifdef DS_TRACE
	if (threadIdx.x == 0)
		tr.ev(1);
	if ((warp == TW || warp == 0) && lane == 0)
		tr = ds_trace_at(*tr_seq, warp == TW ? 1 : 2);
#endif

	if (warp == TW)
	{
		/* ---- the copy warp (one lane): step i into stage i % QS once its
		 * last use is over, one tensor copy of RB rows x PITCH bytes; rows
		 * past M and bytes past a row's end are zero-filled by the copy
		 * engine, not read */
		if (lane != 0)
			return;

		const uint32_t ring_s = smem_u32(ring),
					xring_s = smem_u32(xring);
		/* step b0 + i into stage i % QS once its last use is over: its
		 * weights (one box, or Q6_K's 8 residue boxes) and, with XS, the
		 * x bytes the stage also waits for (copied by xcopy) */
		auto		weights = [&] (long i) {
			const long	s = b0 + i;
			const int	slot = (int) (i % QS);
			const int	j = (int) (s / a.nch),
						c = (int) (s - (long) j * a.nch);
			const uint32_t bar = full0 + 8 * slot,
						dst = ring_s + slot * C::STAGE;

			if (i >= QS)
				mbar_wait(empty0 + 8 * slot, (uint32_t) ((i / QS - 1) & 1));
			if (a.lag > 0 && i >= a.lag)
			{
				/* at most lag steps on their way at once (the stage of step
				 * i - lag cannot have moved on: step i - lag + QS > i is
				 * not asked for yet) */
				const long	p = i - a.lag;

				mbar_wait(full0 + 8 * (int) (p % QS), (uint32_t) ((p / QS) & 1));
			}
			mbar_arrive_expect_tx(bar, C::STAGE + (C::XS ? (uint32_t) min(SC, a.nt - c * SC) *
												   (2048 + 512 * C::REC4) : 0u));
			if constexpr (C::RES)
			{
#pragma unroll
				for (int r = 0; r < 8; r++)
					tma_load_2d(dst + r * 16 * C::PITCH, &tm, (int) (((r * a.rb + c * (SC * C::TB)) & ~15u) / 2),
								j * 16, bar);
			}
			else
				tma_load_2d(dst, &tm, c * (SC * C::TB / 8), j * C::RB, bar);
#ifdef DS_TRACE
			tr.ev(2);
#endif
		};

		if constexpr (!C::XS)
		{
			for (long i = 0; b0 + i < b1; i++)
				weights(i);
		}
		else
		{
			const long	nsteps = b1 - b0,
						ahead = a.lag > 0 ? a.lag : QS,
						first = nsteps < ahead ? nsteps : ahead;
			/* step i's x fragments and records, two 1-D bulk copies */
			auto		xcopy = [&] (long i) {
				const long	s = b0 + i;
				const int	slot = (int) (i % QS);
				const int	c = (int) (s % a.nch),
							ntv = min(SC, a.nt - c * SC);
				const uint32_t bar = full0 + 8 * slot,
							dst = xring_s + slot * C::XSTAGE;

				bulk_copy(dst, a.xb + (size_t) c * SC * 128, (uint32_t) ntv * 2048, bar);
				bulk_copy(dst + C::XB, a.xr + (size_t) c * SC * 32 * C::REC4, (uint32_t) ntv * 512 * C::REC4, bar);
			};

			/* the first stages' weights before x is ready, then their x */
			for (long i = 0; i < first; i++)
				weights(i);
			grid_dependency_wait();
			for (long i = 0; i < first; i++)
				xcopy(i);
			for (long i = first; i < nsteps; i++)
			{
				weights(i);
				xcopy(i);
			}
		}
		return;
	}

	/* a timeline event of compute warp 0 (in a -DDS_TRACE build) */
	auto		mark = [&] (int e) {
#ifdef DS_TRACE
		if (warp == 0 && lane == 0)
			tr.ev(e);
#endif
	};

	/* ---- the compute warps: warp = column * RG + row group */
	grid_dependency_wait();
	mark(3);

	const int	rg = warp % RG,
				col = warp / RG;
	const int	wr = rg * 16 * MT;	/* this warp's first row in a step */
	const int	g = lane >> 2,
				t = lane & 3;
	long		i = 0;

	for (long s = b0; s < b1;)
	{
		const int	j = (int) (s / a.nch),
					c0 = (int) (s - (long) j * a.nch);
		const int	c1 = (int) min((long) a.nch, c0 + (b1 - s));
		const int	r0 = j * C::RB + wr;
		const int	rv = max(1, a.M - r0);
		float		acc[MT][4],
					macc[MT][4];

		acc_zero<MT>(acc, macc);

		for (int c = c0; c < c1; c++, i++)
		{
			const int	slot = (int) (i % QS);
			const int	tile = c * SC + col;

			mbar_wait(full0 + 8 * slot, (uint32_t) ((i / QS) & 1));
			mark(4);
			if (tile < a.nt)
			{
				/* Q6_K: the rows of box i start (i rb + c SC TB) & 15
				 * bytes in, then the tile's column (q8_tile, coff) */
				const uint8_t *st = ring + slot * C::STAGE + wr * C::PITCH + (C::RES ? 0 : col * C::TB);
				const uint32_t roff = C::RES ? (uint32_t) (wr / 16) * a.rb + (uint32_t) (c * SC * C::TB) :
					(uint32_t) r0 * a.rb;
				const int	coff = C::RES ? col * C::TB : -1;

				if constexpr (C::XS)
				{
					const uint4 *xs = (const uint4 *) (xring + slot * C::XSTAGE);

					if constexpr (ONE)
						q8_tile1<T, MT, C::PITCH, true, C::NCH>(xs, xs + C::XB / 16, st, roff, a.rb, rv, tile, lane,
														acc, macc, col, coff);
					else
						q8_tile<T, MT, C::PITCH, true>(xs, xs + C::XB / 16, a.nb, st, roff, a.rb, rv, tile,
													   lane, acc, macc, col, coff);
				}
				else if constexpr (ONE)
					q8_tile1<T, MT, C::PITCH, false, C::NCH>(a.xb, a.xr, st, roff, a.rb, rv, tile, lane, acc, macc, -1, coff);
				else
					q8_tile<T, MT, C::PITCH>(a.xb, a.xr, a.nb, st, roff, a.rb, rv, tile, lane, acc, macc, -1,
											 coff);
			}
			__syncwarp();
			if (lane == 0)
				mbar_arrive(empty0 + 8 * slot);
			mark(5);
		}
		s += c1 - c0;

		/* the SC columns' sums of each row group, added in column order */
		float		v[C::NV];

		if constexpr (ONE)
			q8_fold1<MT>(acc, macc);

#pragma unroll
		for (int m = 0; m < MT; m++)
#pragma unroll
			for (int q = 0; q < 4; q++)
				v[4 * m + q] = acc[m][q] + macc[m][q];
		if constexpr (SC > 1)
		{
#pragma unroll
			for (int q = 0; q < C::NV; q++)
				red[(warp * C::NV + q) * 32 + lane] = v[q];
			asm volatile("bar.sync 1, %0;\n" :: "n"(TW * 32) : "memory");
			if (col == 0)
			{
#pragma unroll
				for (int k = 1; k < SC; k++)
#pragma unroll
					for (int q = 0; q < C::NV; q++)
						v[q] += red[((k * RG + rg) * C::NV + q) * 32 + lane];
			}
			asm volatile("bar.sync 1, %0;\n" :: "n"(TW * 32) : "memory");
			if (col != 0)
				continue;
		}
		mark(6);

		if (c0 != 0 || c1 != a.nch)
		{
			/* a row block shared with other blocks: its sums are added in
			 * block order, the adding block's own from registers, by
			 *  - owner (at most ~2 sharers a row block on average, the
			 *    stream-K split of few, long ranges): its first sharer cf.
			 *    A later sharer stores its sums to its slot in the word
			 *    slots (a.wslots, all DS_WSLOT_EMPTY between calls) and
			 *    goes on; cf waits for each word of the later sharers'
			 *    slots to be written, adds it and empties it (a block is
			 *    the first sharer of at most one shared row block, at the
			 *    end of its range, and a later sharer of at most one, at
			 *    its start: split.cuh; the later sharers write at the
			 *    start of their ranges without waiting for anything, and
			 *    the grid fits on the GPU at once, so each of them runs,
			 *    or will as other kernels' blocks end; the next kernel
			 *    launches only once all of this one's blocks have
			 *    started).  No counter, no fence: each word
			 *    is its own flag, so no sharer waits for its stores to be
			 *    acknowledged (a release there took 1.5-5 us at the start
			 *    of a call, behind the weights streaming in);
			 *  - otherwise the last to arrive (the protocol of
			 *    gemm_wgmma.cu: counters of arrivals and of slots written
			 *    at the first sharer's index; a sharer that is not last
			 *    writes its slot, then counts it; the last waits for those
			 *    counts and writes no slot): with many sharers ending
			 *    together the first sharer would wait for all of them */
			const long	first = (long) j * a.nch;
			const int	cf = ds_split_owner(sp, first),
						cl = ds_split_owner(sp, first + a.nch - 1);
			auto		pslot = [&] (int cb) {
				return a.part + ((size_t) (2 * cb + ds_split_slot(sp, cb, j)) * RG + rg) * C::NV * 32 + lane;
			};
			unsigned   *arrived = a.counters + ((size_t) cf * RG + rg) * 2,
					   *stored = arrived + 1;
			const int	me = (int) blockIdx.x;

			if (a.owner)
			{
				/* a later sharer's sums go to its word slot and it goes on:
				 * no counter, no fence; the first sharer takes them word by
				 * word as they arrive */
				float	   *ws = a.wslots + ((size_t) (2 * me + ds_split_slot(sp, me, j)) * RG + rg) *
					C::NV * 32 + 4 * lane;

				if (me != cf)
				{
					ds_wslot_put<C::NV, 32>(ws, v);
					mark(8);
					continue;
				}
				mark(9);
				/* ((0 + s_cf) + s_cf+1) + ...: its own, then the later ones */
#pragma unroll
				for (int q = 0; q < C::NV; q++)
					v[q] = 0.0f + v[q];
				for (int cb = cf + 1; cb <= cl; cb++)
					ds_wslot_take<C::NV, 32>(v, a.wslots + ((size_t) (2 * cb + ds_split_slot(sp, cb, j)) * RG + rg) *
											 C::NV * 32 + 4 * lane);
			}
			else
			{
				if (!ds_warp_arrive_last(arrived, 0, (unsigned) (cl - cf + 1), lane))
				{
					float	   *pp = pslot(me);

#pragma unroll
					for (int q = 0; q < C::NV; q++)
						__stcg(pp + 32 * q, v[q]);
					__threadfence();
					__syncwarp();
					if (lane == 0)
						atomicAdd(stored, 1u);
					mark(8);
					continue;
				}
				mark(7);
				if (lane == 0)
				{
					while (*(volatile unsigned *) stored != (unsigned) (cl - cf))
						__nanosleep(32);
					*arrived = 0;
					*stored = 0;
				}
				__syncwarp();
				__threadfence();
				mark(9);

				/* ((0 + s_cf) + s_cf+1) + ...: the sharers before, its own,
				 * the ones after */
				float		pre[C::NV];

#pragma unroll
				for (int q = 0; q < C::NV; q++)
					pre[q] = 0.0f;
				for (int cb = cf; cb < me; cb++)
				{
					const float *p = pslot(cb);

#pragma unroll
					for (int q = 0; q < C::NV; q++)
						pre[q] += __ldcg(p + 32 * q);
				}
#pragma unroll
				for (int q = 0; q < C::NV; q++)
					v[q] = pre[q] + v[q];
				for (int cb = me + 1; cb <= cl; cb++)
				{
					const float *p = pslot(cb);

#pragma unroll
					for (int q = 0; q < C::NV; q++)
						v[q] += __ldcg(p + 32 * q);
				}
			}
		}
#pragma unroll
		for (int m = 0; m < MT; m++)
#pragma unroll
			for (int q = 0; q < 4; q++)
			{
				/* Q6_K: fragment row R = wr + 16 m + p is row 8 p + R / 16
				 * of the row block */
				const int	row = C::RES ? j * C::RB + ds_res_row(wr + 16 * m + 8 * (q >> 1) + g) :
					r0 + 16 * m + 8 * (q >> 1) + g,
							vc = 2 * t + (q & 1);

				if (row < a.M && vc < a.nb)
					ds_store_act(a.y, (size_t) vc * a.ldy + row, v[4 * m + q], a.y_bf16);
			}
		mark(10);
	}
	mark(11);
}

#ifdef DS_TRACE
/* the timeline of the calls since the last take (bench_kernels, DS_BENCH_TRACE) */
extern "C" int
ds_trace_q8tma_take(unsigned long long *out)
{
	return (int) ds_trace_take(out);
}
#endif

template <int T, int MTP, int SCP, bool XSP>
int
q8tma_launch(ds_cuda_context *ctx, cudaStream_t stream, const void *w, int M, int K,
			 const void *x, int x_bf16, int ldx, int n, void *y, int y_bf16, int ldy, int grid, int lag)
{
	using C = TCfg<T, MTP, SCP, XSP>;
	static int	smem_set = 0,
				smem_set1 = 0,
				per_sm = 0;
	const int	nt = K / 256;
	const int	nch = (nt + C::SC - 1) / C::SC;
	const long	nrb = (M + C::RB - 1) / C::RB;
	const long	steps = nrb * nch;
	const size_t xb_bytes = ds_ws_round((size_t) K * 8);
	const size_t xr_bytes = ds_ws_round((size_t) (K / 32) * 4 * dsq8::MREC<T> * 4);
	const auto	kern = n == 1 ? k_q8tma<T, true, MTP, SCP, XSP> : k_q8tma<T, false, MTP, SCP, XSP>;

	DS_CUDA_CHECK(ds_set_smem(k_q8tma<T, true, MTP, SCP, XSP>, C::SMEM, &smem_set1));
	DS_CUDA_CHECK(ds_set_smem(k_q8tma<T, false, MTP, SCP, XSP>, C::SMEM, &smem_set));
	if (per_sm == 0)
	{
		int			p1 = 0,
					p2 = 0;

		DS_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&p1, k_q8tma<T, true, MTP, SCP, XSP>, C::TT,
																	C::SMEM));
		DS_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&p2, k_q8tma<T, false, MTP, SCP, XSP>, C::TT,
																	C::SMEM));
		per_sm = min(p1, p2);
	}
	DS_REQUIRE(per_sm > 0, DS_CUDA_ERR_CUDA, "the bulk-copy int8 kernel does not fit on a multiprocessor");

	const int	G = (int) min(steps, grid > 0 ? (long) grid : (long) per_sm * ctx->sm_count);

	DS_REQUIRE((long) G * C::RG * 2 <= DS_COUNTERS, DS_CUDA_ERR_UNSUPPORTED, "too many blocks for the split counters");
	const size_t part_bytes = ds_ws_round((size_t) G * 2 * C::RG * C::NV * 32 * 4);

	DS_REQUIRE(xb_bytes + xr_bytes + part_bytes <= ctx->ws_bytes, DS_CUDA_ERR_WORKSPACE,
			   "workspace too small for the int8 x fragments");

	/* the weights as a 2-D tensor of 8-byte words, boxes of RB rows x PITCH
	 * bytes */
	CUtensorMap tm;
	const uint32_t rb = (uint32_t) ds_row_size(T, K);

	if constexpr (C::RES)
	{
		DS_REQUIRE(M % 8 == 0, DS_CUDA_ERR_UNSUPPORTED, "Q6_K in the bulk-copy kernel needs M % 8 == 0");
		DS_REQUIRE(ds_residue_tensor_map(&tm, w, rb, (uint64_t) M, C::PITCH, 16) == CUDA_SUCCESS,
				   DS_CUDA_ERR_CUDA, "cuTensorMapEncodeTiled failed (or the driver has none)");
	}
	else
	{
		DS_REQUIRE(rb % 16 == 0, DS_CUDA_ERR_UNSUPPORTED, "rows must be a multiple of 16 bytes");
		DS_REQUIRE(ds_weight_tensor_map(&tm, w, rb, (uint64_t) M, C::PITCH, C::RB) == CUDA_SUCCESS,
				   DS_CUDA_ERR_CUDA, "cuTensorMapEncodeTiled failed (or the driver has none)");
	}

	TArgs		a;
	uint8_t    *xb = ctx->ws;
	uint32_t   *xr = (uint32_t *) (ctx->ws + xb_bytes);

	/* a programmatic dependent of the kernel before it (a product of the
	 * same kind lets it start at once; it waits for that kernel's end
	 * before it reads x or writes the workspace) */
	DS_CUDA_CHECK(ds_launch_pdl(k_prep_mma<T>, K / 32, 256, 0, stream, x, x_bf16, ldx, n, xb, xr));

	a.w = (const uint8_t *) w;
	a.rb = rb;
	a.M = M;
	a.nt = nt;
	a.nb = n;
	a.steps = steps;
	a.nch = nch;
	a.lag = lag < C::QS ? lag : 0;	/* lag >= QS: the ring is the limit */
	a.whole = ds_split_whole_ok(nrb, G);
	/* (split.cuh); only where every block can be resident at once (a
	 * first sharer waits for later blocks) */
	a.owner = ds_split_first_adds(nrb, G, a.whole) && G <= per_sm * ctx->sm_count;
	a.wslots = ctx->wslots;
	DS_REQUIRE(!a.owner || part_bytes <= DS_WSLOT_BYTES, DS_CUDA_ERR_UNSUPPORTED,
			   "too many blocks for the word slots");
	a.xb = (const uint4 *) xb;
	a.xr = (const uint4 *) xr;
	a.part = (float *) (ctx->ws + xb_bytes + xr_bytes);
	a.counters = ctx->counters;
	a.y = y;
	a.ldy = ldy;
	a.y_bf16 = y_bf16;

	DS_CUDA_CHECK(ds_launch_pdl(kern, G, C::TT, C::SMEM, stream, tm, a));
	return DS_CUDA_OK;
}

/*
 * The default grid where there are at most as many row blocks (nrb) as
 * multiprocessors: nrb s blocks, each row block whole to one block (s = 1)
 * or shared by s blocks in aligned parts, s as large as the multiprocessors
 * allow but at most 4 and with at least 3 steps per block (nch steps per
 * row block); 0 where nrb exceeds them (then one block per multiprocessor,
 * stream-K).  H200, 2026-11-29, one run against one block per
 * multiprocessor (stream-K over 132 blocks), at 1 and 8 vectors:
 * 1536x1536 (24 row blocks of 64, 24 blocks) 18-36% faster (Q6_K, 12
 * blocks: -1 to 9%); 3584x3584 (112 blocks, 2 per row block) 8-28% (Q6_K,
 * 56: 12%, and 2% slower at n = 8); 8960x1536 (70 row blocks of 128, 70
 * blocks) 6-28% (Q8_0 keeps 132: 140 row blocks of 64); 1536x8960 (96
 * blocks) 2-8%; 3584x18944 (112 blocks) 3-13% (Q6_K 4%, and 2% slower at
 * n = 8).  The sharers' round trips cost more than idle multiprocessors:
 * 168 blocks on 3584x3584 (3 sharers each) took 12.3 us against 7.0 with
 * 112.  The rule is ds_split_q8tma_grid (split.cuh), which the CPU tests
 * check; aligned_grid_of applies it to one configuration.
 */

/* row blocks of M rows with 16 MT rows per warp and SC tiles per step */
template <int T, int MT, int SC>
static long
row_blocks(int M)
{
	return (M + TCfg<T, MT, SC>::RB - 1) / TCfg<T, MT, SC>::RB;
}

/* the aligned grid of that configuration for an M x K product */
template <int T, int MT, int SC>
static long
aligned_grid_of(int M, int K, int sms)
{
	return ds_split_q8tma_grid(row_blocks<T, MT, SC>(M), (K / 256 + SC - 1) / SC, sms);
}

template <int T, int SCP, bool XSP>
static int
q8tma_sc(ds_cuda_context *ctx, cudaStream_t stream, const void *w, int M, int K,
		 const void *x, int x_bf16, int ldx, int n, void *y, int y_bf16, int ldy, int mt, int grid, int lag)
{
	if constexpr (T == DS_TYPE_Q6_K)
	{
		/* 128-row steps, 8 boxes of 16 rows: 32 rows per warp at 2 tiles
		 * per step, 16 at 1 */
		constexpr int MTQ = SCP == 2 ? 2 : 1;

		if constexpr (SCP > 2)
			return ds_cuda_fail(DS_CUDA_ERR_UNSUPPORTED, __FILE__, __LINE__, "Q6_K steps of", "4 tiles");
		else
		{
			DS_REQUIRE(mt == 0 || mt == MTQ, DS_CUDA_ERR_UNSUPPORTED,
					   "Q6_K: 32 rows per warp at 2 tiles per step, 16 at 1");
			if (mt == 0 && grid == 0)
				grid = (int) aligned_grid_of<T, MTQ, SCP>(M, K, ctx->sm_count);
			return q8tma_launch<T, MTQ, SCP, XSP>(ctx, stream, w, M, K, x, x_bf16, ldx, n, y, y_bf16, ldy, grid, lag);
		}
	}
	else
	{
		if (mt == 0 && grid == 0)
		{
			/* few row blocks: the aligned grid, with 16 or 32 rows per warp,
			 * whichever gives more blocks; where both give as many, 32 for
			 * Q4_K, and for Q4_0 at one vector (3584x18944, 112 blocks:
			 * Q4_K 18.2 against 23.0 us at n = 1, 19.8 against 20.8 at n
			 * = 8; Q4_0 17.6 against 20.5 at n = 1, the others 2-8% the
			 * other way) */
			const long	g1 = aligned_grid_of<T, 1, SCP>(M, K, ctx->sm_count);
			long		g2 = 0;

			if constexpr (TMT2_OK<T>)
				g2 = aligned_grid_of<T, 2, SCP>(M, K, ctx->sm_count);
			if (g2 > 0 && (g2 > g1 || (g2 == g1 && (T == DS_TYPE_Q4_K || (T == DS_TYPE_Q4_0 && n == 1)))))
			{
				if constexpr (TMT2_OK<T>)
					return q8tma_launch<T, 2, SCP, XSP>(ctx, stream, w, M, K, x, x_bf16, ldx, n, y, y_bf16, ldy,
														(int) g2, lag);
			}
			if (g1 > 0)
				return q8tma_launch<T, 1, SCP, XSP>(ctx, stream, w, M, K, x, x_bf16, ldx, n, y, y_bf16, ldy,
													(int) g1, lag);
		}
		if constexpr (TMT2_OK<T>)
		{
			/* 32 rows per warp where each block still gets a few steps */
			const long	steps2 = row_blocks<T, 2, SCP>(M) * ((K / 256 + SCP - 1) / SCP);

			if (mt == 2 || (mt == 0 && steps2 >= 4L * ctx->sm_count))
				return q8tma_launch<T, 2, SCP, XSP>(ctx, stream, w, M, K, x, x_bf16, ldx, n, y, y_bf16, ldy,
													grid, lag);
		}
		return q8tma_launch<T, 1, SCP, XSP>(ctx, stream, w, M, K, x, x_bf16, ldx, n, y, y_bf16, ldy, grid, lag);
	}
}

template <int T>
static int
q8tma_type(ds_cuda_context *ctx, cudaStream_t stream, const void *w, int M, int K,
		   const void *x, int x_bf16, int ldx, int n, void *y, int y_bf16, int ldy, int mt, int sc,
		   int grid, int xs, int lag)
{
	/* by default x is staged where that measured faster at 1-8 vectors
	 * (H200, 2026-11-29, the output projections: Q4_K 78 -> 83% of copy at
	 * n = 1 and 70 -> 80% at n = 8, Q5_K 83 -> 86 and 70 -> 82, Q4_1 and
	 * Q5_0 +0-1 at n = 1 and +9-10 at n = 8; Q6_K on every shape, 152064 x
	 * 3584 80 -> 84% at n = 1, the 7B FFN shapes 41-44 -> 45-50%; Q4_0 even
	 * on the output projections, 5-9% faster on 18944x3584); Q8_0 -1 to -3 */
	if constexpr (T == DS_TYPE_Q4_0 || T == DS_TYPE_Q4_1 || T == DS_TYPE_Q5_0 || T == DS_TYPE_Q4_K ||
				  T == DS_TYPE_Q5_K || T == DS_TYPE_Q8_0)
	{
		/* under 2^25 weights: 4 tiles per step (row blocks of 32 rows, x
		 * not staged) where their aligned grid has at least as many blocks
		 * as that of 2 tiles, with at most 1 step per block on its way
		 * (H200, 2026-11-29, one run each at 1, 2, 4, 8 vectors against 2
		 * tiles with the aligned grid: 1536x1536 48 blocks against 24,
		 * 1-19% faster, Q4_0 n = 8 3.87 against 4.56 us; 1536x8960 96
		 * blocks, 2 sharers against 4, 4-23%, Q4_0 n = 1 8.04 against
		 * 10.50, n = 8 8.60 against 9.95, Q5_0 3% slower at n = 1; Q8_0
		 * there 8.2-9.2 against 10.0-12.1, on 1536x1536 3.4-4.1 against
		 * 3.9-5.4.  On 3584x3584, 112 blocks either way (whole row blocks
		 * against 2 sharers), 4 tiles were -6 to +14% with 2 steps on
		 * their way, but with 1 Q4_0 5.80 / 6.43 us at n = 1 / 8 against
		 * 6.97 / 7.22, Q5_K 7.28 / 7.31 against 7.34 / 8.08, the others
		 * alike; Q8_0 6.7-8.2 against 7.9-9.8.  1 step on its way against
		 * 2 with 4-tile steps: 3584x3584 2-8% faster, 1536x8960 1-5%
		 * (Q4_1 n = 1 7.84 against 8.29), Q8_0 there 9-11% at 2-8 vectors
		 * but 4% slower at one, 1536x1536 within 2%.  On 8960x1536, 280 row
		 * blocks of 32, 2 tiles stay 30-50% ahead.) */
		if (sc == 0 && xs < 0 && mt == 0 && grid == 0 && (long) M * K < (1L << 25))
		{
			long		g2 = aligned_grid_of<T, 1, 2>(M, K, ctx->sm_count);

			if constexpr (TMT2_OK<T>)
				g2 = max(g2, aligned_grid_of<T, 2, 2>(M, K, ctx->sm_count));
			if (aligned_grid_of<T, 1, 4>(M, K, ctx->sm_count) >= max(g2, 1L))
				return q8tma_sc<T, 4, false>(ctx, stream, w, M, K, x, x_bf16, ldx, n, y, y_bf16, ldy, mt, grid,
											 lag < 0 ? 1 : lag);
		}
	}
	/* by default at most 2 steps per block on their way (H200, 2026-11-29,
	 * against the whole ring of 4: the 7B FFN shapes 3-8% faster at 1 and
	 * 8 vectors, e.g. Q4_0 18944x3584 n = 1 18.0 -> 17.3 us, Q4_K
	 * 3584x18944 n = 8 22.9 -> 21.1, Q5_K 25.4 -> 23.9; the 1.5B shapes
	 * and 152064x1536 0-3% faster; 152064x3584 within 1% except Q6_K and
	 * Q8_0, 1-3% slower there, which keep the whole ring); 1 with 4-tile
	 * steps (above) */
	if (lag < 0)
		lag = (T == DS_TYPE_Q6_K || T == DS_TYPE_Q8_0) && (long) M * K >= (1L << 29) ? 0 : 2;
	/* one vector on the output projections (M >= 65536): 16 rows per warp
	 * in 2-tile steps, x not staged, two blocks per multiprocessor (64-row
	 * blocks: 152064 rows are 9 whole ones per block).  H200, 2026-11-29,
	 * two runs against the 32-row default: 152064x1536 Q4_0 37.1-37.3 us
	 * against 38.7-38.8, Q4_1 40.5-40.6 against 41.7, Q4_K 37.3 against
	 * 39.0, Q5_K 44.5 against 46.1, Q5_0 even; 152064x3584 Q4_0 81.0-81.7
	 * against 82.8-83.6, Q4_1 88.4-88.5 against 89.9-90.3, Q5_0 97.4-97.5
	 * against 99.4-100.0, Q4_K 81.4 against 83.1, Q5_K 98.2 against 99.0.
	 * Q8_0 keeps its default (1-3% slower so), and 18944x3584 too (14-50%
	 * slower). */
	if constexpr (T != DS_TYPE_Q6_K && T != DS_TYPE_Q8_0)
	{
		if (n == 1 && M >= 65536 && sc == 0 && xs < 0 && mt == 0 && grid == 0)
			return q8tma_sc<T, 2, false>(ctx, stream, w, M, K, x, x_bf16, ldx, n, y, y_bf16, ldy, 1,
										 2 * ctx->sm_count, lag);
	}
	if (xs < 0)
		xs = sc == 0 && T != DS_TYPE_Q8_0;
	if (xs)						/* x staged through the copy engine: 2 tiles per step */
		return q8tma_sc<T, 2, true>(ctx, stream, w, M, K, x, x_bf16, ldx, n, y, y_bf16, ldy, mt, grid, lag);
	if (sc == 1)
		return q8tma_sc<T, 1, false>(ctx, stream, w, M, K, x, x_bf16, ldx, n, y, y_bf16, ldy, mt, grid, lag);
	if (sc == 4)
		return q8tma_sc<T, 4, false>(ctx, stream, w, M, K, x, x_bf16, ldx, n, y, y_bf16, ldy, mt, grid, lag);
	return q8tma_sc<T, 2, false>(ctx, stream, w, M, K, x, x_bf16, ldx, n, y, y_bf16, ldy, mt, grid, lag);
}

}								/* namespace */

int
ds_matvec_q8tma_launch(ds_cuda_context *ctx, cudaStream_t stream, const void *w, int wtype,
					   int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
					   void *y, ds_cuda_dtype ytype, int ldy, int mt, int sc, int grid, int xs, int lag)
{
	DS_TRY(ds_matmul_check(ctx, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, 8));
	DS_REQUIRE(K % 256 == 0, DS_CUDA_ERR_UNSUPPORTED, "the bulk-copy int8 product needs K % 256 == 0");
	/* lag < 0: the default, chosen in q8tma_type */
	switch (wtype)
	{
#define Q8T_CASE(T) \
		case T: \
			return q8tma_type<T>(ctx, stream, w, M, K, x, xtype == DS_CUDA_BF16, ldx, n, y, \
								 ytype == DS_CUDA_BF16, ldy, mt, sc, grid, xs, lag);
		Q8T_CASE(DS_TYPE_Q4_0)
		Q8T_CASE(DS_TYPE_Q4_1)
		Q8T_CASE(DS_TYPE_Q5_0)
		Q8T_CASE(DS_TYPE_Q8_0)
		Q8T_CASE(DS_TYPE_Q4_K)
		Q8T_CASE(DS_TYPE_Q5_K)
		Q8T_CASE(DS_TYPE_Q6_K)
#undef Q8T_CASE
	}
	return ds_cuda_fail(DS_CUDA_ERR_UNSUPPORTED, __FILE__, __LINE__, "weight type",
						ds_type_name(wtype));
}

extern "C" int
ds_cuda_matvec_q8tma(ds_cuda_context *ctx, ds_cuda_stream stream, const void *w, int wtype,
					 int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
					 void *y, ds_cuda_dtype ytype, int ldy)
{
	return ds_matvec_q8tma_launch(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, 0, 0, 0, -1, -1);
}

extern "C" int
ds_cuda_matvec_q8tma_tuned(ds_cuda_context *ctx, ds_cuda_stream stream, const void *w, int wtype,
						   int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
						   void *y, ds_cuda_dtype ytype, int ldy, int mt, int sc, int xs, int lag)
{
	DS_REQUIRE(mt >= 0 && mt <= 2 && (sc == 0 || sc == 1 || sc == 2 || sc == 4) && (xs == 0 || xs == 1) &&
			   lag >= 0 && lag <= 3,
			   DS_CUDA_ERR_ARG, "mt 0-2, sc 0, 1, 2 or 4, xs 0 or 1, lag 0-3");
	return ds_matvec_q8tma_launch(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, mt, sc, 0, xs, lag);
}
