/*
 * split.cuh -- how the copy-engine kernel (matvec_q8tma.cu) and the wgmma
 * GEMM (gemm_wgmma.cu) deal their work to blocks, host and device: the
 * specification that the CPU tests check.
 *
 * The work is nrb row blocks x nch steps each, in order (step s = row
 * block s / nch, chunk s % nch).  Block c of G takes steps [begin(c),
 * begin(c + 1)):
 *  - whole row blocks, c nrb / G of them before it, where that keeps the
 *    blocks within 3% of each other (whole_ok): no row block is shared;
 *  - otherwise equal ranges of steps, c steps / G (stream-K): a row block
 *    can be shared by several blocks.  Each sharer writes its partial sums
 *    to its slot (block, 0 for its first row block, 1 for any later one:
 *    only its first and last row blocks can be partial), and the last to
 *    arrive adds the slots of blocks owner(first step) .. owner(last step)
 *    in that order.  A block is the first sharer of at most one shared row
 *    block (so the GEMM keeps that row block's counters at its index).
 */
#ifndef DS_KERNELS_SPLIT_CUH
#define DS_KERNELS_SPLIT_CUH

#include "qblock.cuh"

struct DsSplit
{
	long		nrb;			/* row blocks */
	int			nch;			/* steps per row block */
	int			G;				/* blocks */
	int			whole;			/* whole row blocks per block */
};

/* whole row blocks per block when that costs under 3% of balance */
DS_HD bool
ds_split_whole_ok(long nrb, int G)
{
	return nrb >= G && (nrb + G - 1) / G * G <= nrb + nrb * 3 / 100;
}

/* whether a shared row block's first sharer adds its sums (its later
 * sharers then never wait for their writes) rather than the last sharer to
 * arrive: where a row block has at most 2 sharers on average (H200,
 * 2026-11-29, the bulk-copy int8 kernel: 2-11% faster there, up to 12%
 * slower with 3-11 sharers, whose parts end together) */
DS_HD bool
ds_split_first_adds(long nrb, int G, int whole)
{
	return !whole && G <= 2 * nrb;
}

/* the first step of block c (c = G: the end) */
DS_HD long
ds_split_begin(const DsSplit &p, int c)
{
	return p.whole ? (long) c * p.nrb / p.G * p.nch : (long) c * (p.nrb * p.nch) / p.G;
}

/* the block whose steps hold step s (equal ranges of steps) */
DS_HD int
ds_split_owner(const DsSplit &p, long s)
{
	return (int) (((s + 1) * p.G - 1) / (p.nrb * p.nch));
}

/* block c's partial-sum slot for row block j (0 or 1) */
DS_HD int
ds_split_slot(const DsSplit &p, int c, long j)
{
	return ds_split_begin(p, c) / p.nch == j ? 0 : 1;
}

/*
 * The aligned grids, the default where a product has few row blocks: nrb s
 * blocks, each row block whole to one block (s = 1) or cut by the equal
 * ranges above into s parts that each lie within it (G is a multiple of
 * nrb and s <= nch, so block c takes steps [c nch / s, (c + 1) nch / s)
 * of row block c / s).  The measurements that chose them are at their
 * callers.
 *  - q8tma (matvec_q8tma.cu): s as large as sms allows, at most 4, and
 *    at least 3 steps per part where s > 1; 0 where nrb > sms (no aligned
 *    grid: the caller then runs one block per multiprocessor).
 *  - the wgmma GEMM (gemm_wgmma.cu, nrb = tiles, nch = K tiles): s as
 *    large as sms allows, at most 8 and nch, on short products only (nrb
 *    <= sms and nrb nch <= 4 sms); elsewhere sms.
 */
DS_HD long
ds_split_q8tma_grid(long nrb, long nch, int sms)
{
	long		s;

	if (nrb <= 0 || nrb > sms)
		return 0;
	s = sms / nrb;
	s = s < nch / 3 ? s : nch / 3;
	s = s < 4 ? s : 4;
	return nrb * (s > 1 ? s : 1);
}

DS_HD int
ds_split_wgmma_grid(long nrb, long nch, int sms)
{
	long		s;

	if (nrb > sms || nrb * nch > 4L * sms)
		return sms;
	s = sms / nrb;
	s = s < nch ? s : nch;
	s = s < 8 ? s : 8;
	return (int) (nrb * s);
}

/*
 * The whole-row bulk product (matvec_bulk.cu): block c of grid takes rows
 * ds_bulk_row_of(c) .. ds_bulk_row_of(c + 1); its shared memory holds the
 * mbarriers, the row slots, x (quantized types) at xoff and a ring of ns
 * stages of sr whole rows (sbytes each: the rows' covering 16-byte span
 * and 4 bytes of over-read) at roff; rows are cut into G segments where a
 * block has few long rows, with slots for every row in the ring.
 */
constexpr int DS_BULK_WARPS = 16;		/* compute warps (and one copy warp) */
constexpr int DS_BULK_SR_MAX = 32;		/* rows per stage */
constexpr int DS_BULK_NS_MAX = 16;		/* stages */
constexpr int DS_BULK_G_MAX = 8;		/* segments per row */
constexpr int DS_BULK_SLOTS = 64;		/* rows with segments in flight */
constexpr int DS_BULK_BARS = 2 * DS_BULK_NS_MAX * 8;	/* the mbarriers' bytes */
constexpr int DS_BULK_SMEM_MAX = 227 * 1024;
constexpr int DS_BULK_STAGE_DEF = 24 * 1024;	/* default stage and ring bytes */
constexpr int DS_BULK_RING_DEF = 192 * 1024;
constexpr int DS_BULK_LAG_DEF = 3;		/* stages on their way per block */

struct DsBulkPlan
{
	int			grid,			/* blocks */
				sr,				/* rows per stage */
				ns,				/* stages */
				sbytes,			/* a stage's room */
				lag,			/* stages asked for and not landed, 0: the ring */
				G,				/* segments per row */
				slots,			/* row slots in use (G > 1) */
				xoff,			/* shared memory: x */
				roff,			/* the ring */
				smem;			/* bytes in all */
};

DS_HD int
ds_bulk_row_of(int c, int grid, int M)
{
	return (int) ((long long) c * M / grid);
}

/*
 * The plan for M rows of rb bytes (K elements, nt tiles of 8 pieces), nb
 * vectors, x in shared memory unless flt (F16/BF16), on sms
 * multiprocessors; grid, stage_bytes, ring_bytes: 0 = the defaults; lag <
 * 0: the whole ring, 0: the default.  False where two stages of one row do
 * not fit beside x.
 */
DS_HD bool
ds_bulk_plan(int M, long rb, int K, int nt, int nb, bool flt, int sms, int grid, int stage_bytes,
			 int ring_bytes, int lag, DsBulkPlan *p)
{
	const long	sb = stage_bytes > 0 ? stage_bytes : DS_BULK_STAGE_DEF;
	const int	xbytes = flt ? 0 : (nb * K + nb * (K / 32) * 8 + 15) & ~15;

	p->grid = grid > 0 ? grid : sms;
	p->grid = p->grid < M ? p->grid : M;
	p->xoff = DS_BULK_BARS + 4 * DS_BULK_SLOTS + 4 * DS_BULK_SLOTS * DS_BULK_G_MAX * nb;
	p->roff = p->xoff + xbytes;

	const long	room = DS_BULK_SMEM_MAX - p->roff;
	const long	rg0 = ring_bytes > 0 ? ring_bytes : DS_BULK_RING_DEF;
	const long	rg = rg0 < room ? rg0 : room;
	const long	sr = sb / rb;

	/* rows per stage, then as many stages as the ring holds */
	p->sr = (int) (sr < 1 ? 1 : sr > DS_BULK_SR_MAX ? DS_BULK_SR_MAX : sr);
	if (p->sr * rb + 32 > room / 2)
		return false;
	p->sbytes = (int) ((p->sr * rb + 32 + 15) & ~15L);
	p->ns = (int) (rg / p->sbytes < DS_BULK_NS_MAX ? rg / p->sbytes : DS_BULK_NS_MAX);
	if (p->ns < 2)
		return false;
	lag = lag < 0 ? 0 : lag > 0 ? lag : DS_BULK_LAG_DEF;
	p->lag = lag < p->ns ? lag : p->ns;
	p->smem = p->roff + p->ns * p->sbytes;

	/* segments per row: enough (row, segment) units for the warps, each
	 * segment at least 64 pieces; row slots for every row in the ring */
	const int	rows = (M + p->grid - 1) / p->grid;

	p->G = 1;
	while (p->G < DS_BULK_G_MAX && rows * p->G < 4 * DS_BULK_WARPS && nt * 8 / (2 * p->G) >= 64)
		p->G *= 2;
	p->slots = (p->ns + 1) * p->sr;
	if (p->slots > DS_BULK_SLOTS)
		p->G = 1;
	return true;
}

/*
 * Q6_K's rows in the copy-engine kernel (210-byte blocks: a row is not a
 * multiple of 16 bytes, 8 rows are): a 128-row block is copied as 8 boxes
 * of 16 rows, box i holding rows 8 p + i (p = 0..15), and box i is the
 * m16 tile of fragment rows 16 i .. 16 i + 15.  Fragment row R of a block
 * is this row of it.
 */
DS_HD int
ds_res_row(int R)
{
	return 8 * (R & 15) + (R >> 4);
}

#endif							/* DS_KERNELS_SPLIT_CUH */
