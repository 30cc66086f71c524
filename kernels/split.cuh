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
