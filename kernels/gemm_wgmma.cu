/*
 * gemm_wgmma.cu -- larger batches (16 vectors and more, prefill) on
 * Hopper's warpgroup tensor-core instruction (wgmma, sm_90a): y = W x with
 * W read once in its quantized size and decoded straight into the
 * instruction's A registers.
 *
 * A block of three warpgroups owns a multiprocessor (persistent, one block
 * per SM); W is cut into units of 128 rows x one tile of K:
 *  - producer: one lane has the copy engine bring each unit's W into one
 *    of R raw slots as a single box of 128 rows x TILE_B bytes (2-D tensor
 *    map; rows past M and bytes past a row's end read as zeros); Q6_K
 *    (210-byte blocks: rows are not 16-byte units, 8 rows are) as 8 boxes
 *    of 16 rows x 240 bytes, box i holding rows 8 p + i from the 16-byte
 *    boundary at or before the tile (the residue boxes of
 *    matvec_q8tma.cu; M % 8 == 0), box i being warp i's 16 fragment
 *    rows; where neither fits (F16 for its banks, K with a partial tile,
 *    Q6_K with M % 8 != 0 or 256-vector blocks), three warps copy it
 *    with 16-byte cp.async (tile_copy.cuh); another lane brings each stage's 64 k x BN vectors of
 *    x (bf16, in the instruction's k order: gemm_bf16.cuh) into an NS-stage
 *    ring, swizzled 128 bytes as wgmma reads it.  The producer hands its
 *    registers to the consumers (setmaxnreg).
 *  - two consumer warpgroups, 64 rows each: per unit every lane builds the
 *    scale table of its warp's rows (bf16x2 (s, s), (c', c') per group,
 *    c' = c + OFF s, OFF = 128, 0 for Q8_0), then per stage decodes the A
 *    fragments of its two rows (qblock.cuh frag, then w = s (A - OFF) +
 *    c' in bf16x2) and issues four wgmma.m64nBNk16 with x from shared
 *    memory; fragments are double-buffered by stage, so a stage decodes
 *    while the last one's products run, and a stage's x slot is released
 *    once its products are complete.
 * Barriers (mbarriers): x full / empty per stage, W full / empty per raw
 * slot.  Work is dealt as in matvec_q8tma.cu (split.cuh): units in order (column
 * tile, row tile, K tile), whole row tiles per block where that balances,
 * else equal ranges of units (stream-K) with partial sums that the last
 * block of a row tile adds in block order.
 *
 * Accuracy: a bf16 GEMM with f32 accumulation.  A weight is s q + c' with
 * s and c' rounded to bf16 and one rounding of the result (the fused GEMM
 * rounds s A + c computed in f32: the two differ by about a bf16 rounding
 * of c'); x rounded to bf16.  Same inputs, same bits.
 */
#include <string.h>

#include "common.cuh"
#include "gemm_bf16.cuh"
#include "gemm_wgmma.cuh"
#include "matvec.cuh"
#include "qblock.cuh"
#include "split.cuh"
#include "tile_copy.cuh"
#include "tma.cuh"
#include "trace.cuh"

namespace
{

constexpr int WG_ROWS = 128;	/* rows per unit: two consumer warpgroups */
constexpr int WG_THREADS = 384;
constexpr int WG_SMEM_MAX = 227 * 1024 - 64;	/* and s_last */

template <int T, int BN, bool WT>
struct Wg
{
	using QT = dsq::Q<T>;
	static constexpr int STAGE = BN * 128;	/* x: BN vectors x 64 k bf16 */
	/* Q6_K by the copy engine: 8 residue boxes per unit */
	static constexpr bool RES = WT && T == DS_TYPE_Q6_K;
	/* the residue boxes' width: TILE_B rounded up to 16 bytes, 16 more
	 * where that is a multiple of 32 (rows g = 0..7 of a warp on distinct
	 * banks); 240 for Q6_K */
	static constexpr int RW16 = (QT::TILE_B + 14 + 15) / 16 * 16;
	static constexpr int RESW = RW16 % 32 == 0 ? RW16 + 16 : RW16;
	/* one unit of W as stored: rows of TILE_B bytes (a copy-engine box),
	 * RESW (residue boxes) or PITCH (16-byte cp.async chunks,
	 * tile_copy.cuh) */
	static constexpr int WP = RES ? RESW : WT ? QT::TILE_B : QT::PITCH;
	static constexpr int RAW = WG_ROWS * WP;
	static constexpr int NSGT = QT::SG ? QT::TILE_K / QT::SG : 0;
	static constexpr int TP = NSGT ? 2 * NSGT + 2 : 0;	/* words per row of the scale table */
	static constexpr int TAB = WG_ROWS * TP * 4;
	static constexpr int UNIT = (RAW + TAB + 127) / 128 * 128;	/* a raw slot and its scale table */
	static constexpr int BAR = 256;
	/* three raw slots where three stages still fit, else two; then as many
	 * stages as fit, up to 6 */
	static constexpr int R = 1024 + BAR + 3 * UNIT + 3 * STAGE <= WG_SMEM_MAX ? 3 : 2;
	static constexpr int NS0 = (WG_SMEM_MAX - 1024 - BAR - R * UNIT) / STAGE;
	static constexpr int NS = NS0 < 6 ? NS0 : 6;
	static constexpr int SMEM = 1024 + BAR + R * UNIT + NS * STAGE;
	static_assert(NS >= 2 && SMEM <= WG_SMEM_MAX, "shared memory");
	static_assert(STAGE % 1024 == 0, "stages keep the 1024-byte swizzle alignment");
};

/* the offset of the decoders' integers A (qblock.cuh): 128 + q for the
 * unsigned quants, q for Q8_0 */
template <int T>
struct WgOff
{
	static constexpr int OFF = T == DS_TYPE_Q8_0 ? 0 : 128;
};

struct WgArgs
{
	const uint8_t *w;
	size_t		row_bytes;
	int			M,
				K,
				n;
	int			nt;				/* tiles of K */
	int			nrb;			/* row tiles */
	long		units;			/* column tiles x row tiles x nt */
	int			whole;			/* whole row tiles per block */
	int			owner;			/* a shared tile's first sharer adds its sums (below) */
	int			hints;			/* L2 policies: W evict-first, x evict-last */
	float	   *part;			/* [G][2 slots][2 warpgroups][BN / 8][128][4] */
	unsigned   *counters;		/* [blocks][2 warpgroups][arrived, stored] */
	void	   *y;
	int			ldy,
				y_bf16;
};

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

/* a shared-memory matrix descriptor: K-major rows of 128 bytes, 128-byte
 * swizzle, 8-row groups 1024 bytes apart */
__device__ __forceinline__ uint64_t
wg_desc(uint32_t addr)
{
	return (uint64_t) ((addr & 0x3ffff) >> 4) | ((uint64_t) 1 << 16) | ((uint64_t) (1024 >> 4) << 32) |
		((uint64_t) 1 << 62);
}

__device__ __forceinline__ void
wg_fence(void)
{
	asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}

__device__ __forceinline__ void
wg_commit(void)
{
	asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}

template <int N>
__device__ __forceinline__ void
wg_wait(void)
{
	asm volatile("wgmma.wait_group.sync.aligned %0;\n" :: "n"(N) : "memory");
}

/* keep the compiler from moving accumulator accesses across the
 * asynchronous products */
template <int R>
__device__ __forceinline__ void
wg_fence_acc(float (&d)[R])
{
#pragma unroll
	for (int i = 0; i < R; i++)
		asm volatile("" : "+f"(d[i]) :: "memory");
}

__device__ __forceinline__ void
named_sync(int id, int nthreads)
{
	asm volatile("bar.sync %0, %1;\n" :: "r"(id), "r"(nthreads) : "memory");
}

/* D[64 x 64] (+)= A * B, A in registers (the mma.m16n8k16 layout per warp),
 * B in shared memory (descriptor b), bf16, f32 accumulators; acc = 0
 * overwrites D */
__device__ __forceinline__ void
wg_mma_rs_n64(float (&d)[32], const uint32_t *a, uint64_t b, int acc)
{
	asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
				 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {"
				 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
				 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
				 "}, {%32, %33, %34, %35}, %36, p, 1, 1, 0;\n}\n"
				 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
				   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
				   "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
				   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
				 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(acc));
}

/* D[64 x 128] (+)= A * B, A in registers (the mma.m16n8k16 layout per warp),
 * B in shared memory (descriptor b), bf16, f32 accumulators; acc = 0
 * overwrites D */
__device__ __forceinline__ void
wg_mma_rs_n128(float (&d)[64], const uint32_t *a, uint64_t b, int acc)
{
	asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
				 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {"
				 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
				 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
				 "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
				 "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
				 "}, {%64, %65, %66, %67}, %68, p, 1, 1, 0;\n}\n"
				 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
				   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
				   "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
				   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
				   "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
				   "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
				   "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
				   "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
				 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(acc));
}

/* D[64 x 256] (+)= A * B, A in registers (the mma.m16n8k16 layout per warp),
 * B in shared memory (descriptor b), bf16, f32 accumulators; acc = 0
 * overwrites D */
__device__ __forceinline__ void
wg_mma_rs_n256(float (&d)[128], const uint32_t *a, uint64_t b, int acc)
{
	asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %133, 0;\n"
				 "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {"
				 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
				 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
				 "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
				 "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "
				 "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "
				 "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "
				 "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "
				 "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
				 "}, {%128, %129, %130, %131}, %132, p, 1, 1, 0;\n}\n"
				 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
				   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
				   "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
				   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
				   "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
				   "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
				   "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
				   "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]),
				   "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]),
				   "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]),
				   "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]),
				   "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]),
				   "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]),
				   "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]),
				   "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]),
				   "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
				 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(acc));
}

/* w = s (A - OFF) + c' in bf16x2, s and c' from the scale table: A - OFF
 * is exact (a small integer), one rounding per weight after s and c' are
 * rounded to bf16 */
template <int T>
__device__ __forceinline__ uint32_t
wg_scale(uint32_t a, uint2 sc)
{
	uint32_t	q = a,
				w;

	if constexpr (WgOff<T>::OFF != 0)
		asm("fma.rn.bf16x2 %0, %1, %2, %3;\n" : "=r"(q) : "r"(a), "r"(0x3f803f80u), "r"(0xc300c300u));	/* A - 128 */
	asm("fma.rn.bf16x2 %0, %1, %2, %3;\n" : "=r"(w) : "r"(q), "r"(sc.x), "r"(sc.y));
	return w;
}

template <int BN>
__device__ __forceinline__ void
wg_mma(float (&d)[BN / 2], const uint32_t *a, uint64_t b, int acc)
{
	if constexpr (BN == 64)
		wg_mma_rs_n64(d, a, b, acc);
	else if constexpr (BN == 128)
		wg_mma_rs_n128(d, a, b, acc);
	else
		wg_mma_rs_n256(d, a, b, acc);
}

/* keep A fragments alive (and in place) until the products reading them
 * are known complete */
__device__ __forceinline__ void
wg_fence_a(uint32_t (&a)[16])
{
#pragma unroll
	for (int i = 0; i < 16; i++)
		asm volatile("" : "+r"(a[i]) :: "memory");
}

#endif							/* __CUDA_ARCH_FEAT_SM90_ALL */

template <int T, int BN, bool WT>
__global__ void __launch_bounds__(WG_THREADS, 1)
k_gemm_wgmma(const __grid_constant__ CUtensorMap tmx, const __grid_constant__ CUtensorMap tmw, WgArgs a)
{
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
	using QT = dsq::Q<T>;
	using C = Wg<T, BN, WT>;
	constexpr int NS = C::NS,
				R = C::R;
	constexpr int NR = BN / 2;	/* accumulators per thread */
	constexpr int PW = 96;		/* producer threads that copy W (warps 0-2) */
	extern __shared__ uint8_t smem_raw[];
	__shared__ int s_last[2];
#ifdef DS_TRACE
	__shared__ unsigned s_trseq;
	DsTrace		tr = {nullptr, 0};
#endif
	/* (an offset from smem_raw, so that the compiler keeps shared loads) */
	uint8_t    *stages = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
	uint8_t    *units = stages + NS * C::STAGE;	/* [R][raw W, scale table] */
	const uint32_t xfull0 = smem_u32(units + R * C::UNIT),
				sempty0 = xfull0 + 8 * NS,
				rfull0 = sempty0 + 8 * NS,
				rempty0 = rfull0 + 8 * R,
				slotbar0 = rempty0 + 8 * R;	/* [2]: a warpgroup's slot written */
	const int	tid = threadIdx.x,
				wg = tid >> 7,
				lt = tid & 127;
	const DsSplit sp = {a.units / a.nt, a.nt, (int) gridDim.x, a.whole};
	const long	b0 = ds_split_begin(sp, blockIdx.x),
				b1 = ds_split_begin(sp, blockIdx.x + 1);
	auto		nstages = [&] (int c) {	/* 64-k stages of tile c */
		return (min(QT::TILE_K, a.K - c * QT::TILE_K) / 32 + 1) / 2;
	};

#ifdef DS_TRACE
	if (tid == 0)
	{
		s_trseq = ds_trace_seq_next(0);
		tr = ds_trace_at(s_trseq, 0);
		tr.ev(0);
	}
#endif
	if (tid == 0)
	{
		for (int s = 0; s < NS; s++)
		{
			mbar_init(xfull0 + 8 * s, 1);	/* the x copy's expect_tx */
			mbar_init(sempty0 + 8 * s, 2);	/* one per consumer warpgroup */
		}
		for (int r = 0; r < R; r++)
		{
			mbar_init(rfull0 + 8 * r, WT ? 1 : PW);	/* the W box's expect_tx, or each copier */
			mbar_init(rempty0 + 8 * r, 2);	/* consumer warpgroups done decoding the unit */
		}
		mbar_init(slotbar0, 1);
		mbar_init(slotbar0 + 8, 1);
		asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
	}
	__syncthreads();
	/* the next kernel may launch (it waits for this one where it needs to) */
	grid_dependents_launch();
#ifdef DS_TRACE
	/* block start and end of set-up; the W lane's copies; the x lane after
	 * its wait; consumer warpgroup 0: each unit's W landed, the end of
	 * each range part, the split-K sums, the end */
	if (tid == 0)
		tr.ev(1);
	if (tid == 64 || tid == 96 || tid == 128)
		tr = ds_trace_at(s_trseq, tid == 64 ? 1 : tid == 96 ? 3 : 2);
#endif

	if (wg == 0)
	{
		/* ---- producer: its registers go to the consumers ---- */
		asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n" ::: "memory");
		if (lt >= PW)
		{
			/* warp 3, one lane: the x tile of every stage */
			if (lt == PW + 1 && a.owner && b0 < b1 && b0 % a.nt != 0)
			{
				/* another lane, where the first sharer adds the sums:
				 * this block's range starts inside a tile whose first
				 * sharer is an earlier block.  Once each consumer
				 * warpgroup's sums are in its slot, count them, releasing
				 * the slot's writes (ordered by the barriers): the
				 * warpgroups go on at once instead of waiting for their
				 * stores to be acknowledged behind the weights and x
				 * streaming in */
				const int	cf = ds_split_owner(sp, b0 / a.nt * a.nt);

				for (int w = 0; w < 2; w++)
				{
					mbar_wait(slotbar0 + 8 * w, 0);
					asm volatile("red.release.gpu.global.add.u32 [%0], 1;\n"
								 :: "l"(a.counters + ((size_t) cf * 2 + w) * 2 + 1) : "memory");
				}
			}
			if (lt != PW)
				return;
			asm volatile("prefetch.tensormap [%0];\n" :: "l"(&tmx) : "memory");
			/* x is the x kernel's (this kernel is its programmatic
			 * dependent): W streams before it has finished, x after */
			grid_dependency_wait();
#ifdef DS_TRACE
			tr.ev(21);
#endif

			int			sg = 0;
			const uint64_t keep = l2_policy_evict_last();

			for (long u = b0; u < b1; u++)
			{
				const long	jj = u / a.nt;
				const int	c = (int) (u - jj * a.nt),
							col0 = (int) (jj / a.nrb) * BN;

				for (int q = 0; q < nstages(c); q++, sg++)
				{
					const int	slot = sg % NS;
					const uint32_t full = xfull0 + 8 * slot;

					if (sg >= NS)
						mbar_wait(sempty0 + 8 * slot, (uint32_t) ((sg / NS - 1) & 1));
					mbar_arrive_expect_tx(full, C::STAGE);
					if (a.hints)
						tma_load_2d_hint(smem_u32(stages + slot * C::STAGE), &tmx, c * QT::TILE_K + 64 * q, col0,
										 full, keep);
					else
						tma_load_2d(smem_u32(stages + slot * C::STAGE), &tmx, c * QT::TILE_K + 64 * q, col0, full);
				}
			}
			return;
		}

		if constexpr (WT)
		{
			/* warp 2, one lane: each unit's W as one box of 128 rows x
			 * TILE_B bytes (rows past M and bytes past a row's end read as
			 * zeros), into slot i % R once the unit before in that slot is
			 * decoded */
			if (lt != 64)
				return;
			asm volatile("prefetch.tensormap [%0];\n" :: "l"(&tmw) : "memory");

			const uint64_t once = l2_policy_evict_first();

			for (long i = 0; b0 + i < b1; i++)
			{
				const long	u = b0 + i,
							jj = u / a.nt;
				const uint32_t full = rfull0 + 8 * (i % R);

				if (i >= R)
					mbar_wait(rempty0 + 8 * (i % R), (uint32_t) ((i / R - 1) & 1));
				mbar_arrive_expect_tx(full, C::RAW);
				if constexpr (C::RES)
				{
					/* box r: rows 8 p + r of the row tile, p = 0..15, from
					 * the 16-byte boundary at or before the tile (2-byte
					 * elements) */
					const int	c = (int) (u - jj * a.nt);

#pragma unroll
					for (int r = 0; r < 8; r++)
					{
						const uint32_t dst = smem_u32(units + (i % R) * C::UNIT + r * 16 * C::WP);
						const int	bx = (int) (((r * a.row_bytes + (size_t) c * QT::TILE_B) & ~(size_t) 15) / 2),
									by = (int) (jj % a.nrb) * (WG_ROWS / 8);

						if (a.hints)
							tma_load_2d_hint(dst, &tmw, bx, by, full, once);
						else
							tma_load_2d(dst, &tmw, bx, by, full);
					}
				}
				else if (a.hints)
					tma_load_2d_hint(smem_u32(units + (i % R) * C::UNIT), &tmw,
									 (int) (u - jj * a.nt) * (QT::TILE_B / 8), (int) (jj % a.nrb) * WG_ROWS, full,
									 once);
				else
					tma_load_2d(smem_u32(units + (i % R) * C::UNIT), &tmw,
								(int) (u - jj * a.nt) * (QT::TILE_B / 8), (int) (jj % a.nrb) * WG_ROWS, full);
#ifdef DS_TRACE
				tr.ev(2);
#endif
			}
			return;
		}
		else
		{
			/* warps 0-2: W units R - 1 ahead by 16-byte copies */
			auto		issue = [&] (long i) {
				if (b0 + i < b1)
				{
					const long	u = b0 + i,
								jj = u / a.nt;

					if (i >= R)
						mbar_wait(rempty0 + 8 * (i % R), (uint32_t) ((i / R - 1) & 1));
					ds_issue_tile_rows<T>(a.w, a.row_bytes, a.M, a.K, units + (i % R) * C::UNIT,
										  (int) (jj % a.nrb) * WG_ROWS, WG_ROWS, (int) (u - jj * a.nt), lt, PW);
				}
				ds_cp_async_commit();
			};

			for (int k = 0; k < R - 1; k++)
				issue(k);
			for (long i = 0; b0 + i < b1; i++)
			{
				ds_cp_async_wait<R - 2>();	/* unit i landed (this thread's copies) */
				mbar_arrive(rfull0 + 8 * (i % R));
				issue(i + R - 1);	/* into the slot of unit i - 1, once decoded */
			}
			return;
		}
	}

	/* ---- consumers: warpgroup cw has rows 64 cw .. +63 of each unit; a
	 * thread decodes the A fragments of its two rows (those of mma.m16n8k16:
	 * rows g and g + 8 of its warp's 16) straight into registers ---- */
	const int	cw = wg - 1,
				w4 = (tid >> 5) & 3,
				g = (tid & 31) >> 2,
				t = tid & 3;
	const int	rl = cw * 64 + w4 * 16 + g;	/* this thread's rows: rl, rl + 8 */

	asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n" ::: "memory");
	/* a timeline event of consumer warpgroup 0 (in a -DDS_TRACE build) */
	auto		mark = [&] (int e) {
#ifdef DS_TRACE
		if (tid == 128)
			tr.ev(e);
#endif
	};
	float		acc[NR];
	uint32_t	A0[16],
				A1[16];			/* a stage's fragments, double-buffered */
	int			sg = 0,
				pending = -1;
	long		i = 0;
	bool		waited = false;	/* for the kernel before (grid_dependency_wait) */

#pragma unroll
	for (int k = 0; k < NR; k++)
		acc[k] = 0.0f;

	for (long u = b0; u < b1;)
	{
		const long	jj = u / a.nt;
		const int	c0 = (int) (u - jj * a.nt),
					c1 = (int) min((long) a.nt, c0 + (b1 - u)),
					row0 = (int) (jj % a.nrb) * WG_ROWS;
		int			first = 1;

		wg_fence_acc(acc);
		for (int c = c0; c < c1; c++, i++)
		{
			const int	ng = min(QT::TILE_K, a.K - c * QT::TILE_K) / 32;
			const uint8_t *ws = units + (i % R) * C::UNIT;
			uint2	   *tg = (uint2 *) (ws + C::RAW) + rl * (C::TP / 2),
					   *t8 = tg + 8 * (C::TP / 2);
			const uint8_t *pg = ws + rl * C::WP,
					   *p8 = ws + (rl + 8) * C::WP;

			if constexpr (C::RES)
			{
				/* rows rl, rl + 8 are in box rl / 16, whose rows start this
				 * many bytes before the tile */
				const int	d = (int) (((size_t) (rl >> 4) * a.row_bytes + (size_t) c * QT::TILE_B) & 15);

				pg += d;
				p8 += d;
			}
			else if constexpr (!WT)
			{
				pg += ds_tile_offset(a.row_bytes, row0 + rl, c, QT::TILE_B);
				p8 += ds_tile_offset(a.row_bytes, row0 + rl + 8, c, QT::TILE_B);
			}
			mbar_wait(rfull0 + 8 * (i % R), (uint32_t) ((i / R) & 1));
			mark(4);
			if constexpr (QT::SG > 0)
			{
				/* the scale table of this warp's rows: lane t does half t % 2
				 * of row rl + 8 (t / 2), per group the bf16x2 pairs (s, s)
				 * and (c', c'), c' = c + OFF s, so that w = s (A - OFF) + c' */
				float		sv[C::NSGT / 2],
							cv[C::NSGT / 2];
				uint2	   *trow = (t & 2 ? t8 : tg) + (t & 1) * (C::NSGT / 2);

				QT::scales_half(t & 2 ? p8 : pg, t & 1, sv, cv);
#pragma unroll
				for (int k = 0; k < C::NSGT / 2; k++)
					trow[k] = make_uint2(dsq::pack_bf16x2(sv[k], sv[k]),
										 dsq::pack_bf16x2(cv[k] + WgOff<T>::OFF * sv[k], cv[k] + WgOff<T>::OFF * sv[k]));
				__syncwarp();
			}
			/* stage q of the unit into Ab: decode both groups, then their
			 * four products; Ao (the stage before) is then complete */
			auto		stage = [&] (uint32_t (&Ab)[16], uint32_t (&Ao)[16], int q) {
				const int	slot = sg % NS;
				const uint32_t sx = smem_u32(stages + slot * C::STAGE);

#pragma unroll
				for (int gi = 0; gi < 2; gi++)
				{
					const int	grp = 2 * q + gi;
					uint32_t   *d = Ab + 8 * gi;

					if (grp < ng)
					{
						uint32_t	fg[QT::NPL][4],
									f8[QT::NPL][4];

						QT::frag(pg, grp, t, fg);
						QT::frag(p8, grp, t, f8);
						if constexpr (QT::SG > 0)
						{
							const uint2 sg0 = tg[QT::SG == 16 ? 2 * grp : grp],
										sg1 = tg[QT::SG == 16 ? 2 * grp + 1 : grp],
										s80 = t8[QT::SG == 16 ? 2 * grp : grp],
										s81 = t8[QT::SG == 16 ? 2 * grp + 1 : grp];

							d[0] = wg_scale<T>(fg[0][0], sg0);
							d[1] = wg_scale<T>(f8[0][0], s80);
							d[2] = wg_scale<T>(fg[0][1], sg0);
							d[3] = wg_scale<T>(f8[0][1], s80);
							d[4] = wg_scale<T>(fg[0][2], sg1);
							d[5] = wg_scale<T>(f8[0][2], s81);
							d[6] = wg_scale<T>(fg[0][3], sg1);
							d[7] = wg_scale<T>(f8[0][3], s81);
						}
						else
						{
							const float2 one = make_float2(1.0f, 0.0f);

#pragma unroll
							for (int m = 0; m < 2; m++)
							{
								d[4 * m + 0] = ds_scaled_bf16<T>(fg, 2 * m, one);
								d[4 * m + 1] = ds_scaled_bf16<T>(f8, 2 * m, one);
								d[4 * m + 2] = ds_scaled_bf16<T>(fg, 2 * m + 1, one);
								d[4 * m + 3] = ds_scaled_bf16<T>(f8, 2 * m + 1, one);
							}
						}
					}
					else
					{
#pragma unroll
						for (int k = 0; k < 8; k++)
							d[k] = 0;	/* past K (x there is not zero) */
					}
				}
				mbar_wait(xfull0 + 8 * slot, (uint32_t) ((sg / NS) & 1));
				wg_fence();
#pragma unroll
				for (int kk = 0; kk < 4; kk++)
					wg_mma<BN>(acc, Ab + 4 * kk, wg_desc(sx + 32 * kk), !(first && kk == 0));
				first = 0;
				wg_commit();
				wg_wait<1>();
				wg_fence_a(Ao);
				if (pending >= 0 && lt == 0)
					mbar_arrive(sempty0 + 8 * (pending % NS));
				pending = sg;
			};

			for (int q = 0; q < (ng + 1) / 2; q++, sg++)
			{
				if (sg & 1)
					stage(A1, A0, q);
				else
					stage(A0, A1, q);
				if (q == (ng + 1) / 2 - 1)
				{
					/* the unit's raw slot is no longer read by this warpgroup */
					named_sync(2 + cw, 128);
					if (lt == 0)
						mbar_arrive(rempty0 + 8 * (i % R));
				}
			}
		}
		wg_wait<0>();
		mark(6);
		wg_fence_acc(acc);
		wg_fence_a(A0);
		wg_fence_a(A1);
		if (pending >= 0 && lt == 0)
			mbar_arrive(sempty0 + 8 * (pending % NS));
		pending = -1;
		u += c1 - c0;

		const int	row_b = row0 + rl,
					col_b = (int) (jj / a.nrb) * BN + 2 * t;

		/* the partial sums, counters and y were the kernels' before (long
		 * finished by now: x came after them); the scale tables and the
		 * first fragments did not wait for them */
		if (!waited)
			grid_dependency_wait();
		waited = true;

		if (c0 != 0 || c1 != a.nt)
		{
			/* a row tile shared with other blocks: its sums are added in
			 * block order, the adding block's own from its registers, the
			 * others' from their slots; two counters per tile and
			 * warpgroup, at the index of its first sharer cf (a block is
			 * the first sharer of at most one shared tile, at the end of
			 * its range, and a later sharer of at most one, at its start:
			 * split.cuh), arrivals and slots written.  Where a tile has at
			 * most 2 sharers on average (owner) cf adds them, once another
			 * lane of each later sharer has counted its slot, so the later
			 * sharers' warpgroups never wait for their writes (a later
			 * sharer counts its slot at the start of its range without
			 * waiting for anything, and the grid fits on the GPU at once,
			 * so it runs, or will as other kernels' blocks end).
			 * Otherwise the last to
			 * arrive adds them: a sharer that is not last writes its slot,
			 * then counts it; the last waits for those counts (every
			 * sharer counted has arrived, so it runs: no wait on a block
			 * that may not be resident) and writes no slot of its own. */
			const long	fs = jj * a.nt;
			const int	cf = ds_split_owner(sp, fs),
						cl = ds_split_owner(sp, fs + a.nt - 1);
			unsigned   *arrived = a.counters + ((size_t) cf * 2 + cw) * 2,
					   *stored = arrived + 1;
			auto		pslot = [&] (int cb) {
				return a.part + ((size_t) (2 * cb + ds_split_slot(sp, cb, jj)) * 2 + cw) * NR * 128 + 4 * lt;
			};
			/* until the other sharers' slots are counted, then the counters
			 * back to 0 */
			auto		wait_slots = [&] (bool arrivals) {
				if (lt == 0)
				{
					while (*(volatile unsigned *) stored != (unsigned) (cl - cf))
						__nanosleep(64);
					if (arrivals)
						*arrived = 0;
					*stored = 0;
				}
				named_sync(2 + cw, 128);
				__threadfence();
				mark(9);
			};

			if (a.owner)
			{
				if ((int) blockIdx.x != cf)
				{
					float	   *pp = pslot(blockIdx.x);

					ds_slot_store<NR, 128>(pp, acc);
					named_sync(2 + cw, 128);
					if (lt == 0)
						mbar_arrive(slotbar0 + 8 * cw);
					mark(8);
					continue;
				}
				wait_slots(false);
#pragma unroll
				for (int k = 0; k < NR; k++)
					acc[k] = 0.0f + acc[k];
				for (int cb = cf + 1; cb <= cl; cb++)
				{
					const float *p = pslot(cb);

					ds_slot_add<NR, 128>(acc, p);
				}
			}
			else
			{
				named_sync(2 + cw, 128);
				if (lt == 0)
					s_last[cw] = atomicAdd(arrived, 1u) == (unsigned) (cl - cf);
				named_sync(2 + cw, 128);
				if (!s_last[cw])
				{
					float	   *pp = pslot(blockIdx.x);

					ds_slot_store<NR, 128>(pp, acc);
					__threadfence();
					named_sync(2 + cw, 128);
					if (lt == 0)
						atomicAdd(stored, 1u);
					mark(8);
					continue;
				}
				wait_slots(true);

				/* ((0 + s_cf) + s_cf+1) + ...: in place where this block is the
				 * first sharer (the usual last: its part of the tile is at the
				 * end of its range); otherwise through its own slot too, so
				 * that each round of loads covers all NR sums */
				const int	me = (int) blockIdx.x;

				if (me == cf)
				{
#pragma unroll
					for (int k = 0; k < NR; k++)
						acc[k] = 0.0f + acc[k];
				}
				else
				{
					float	   *pp = pslot(me);

					ds_slot_store<NR, 128>(pp, acc);
#pragma unroll
					for (int k = 0; k < NR; k++)
						acc[k] = 0.0f;
				}
				for (int cb = me == cf ? cf + 1 : cf; cb <= cl; cb++)
				{
					const float *p = pslot(cb);

					ds_slot_add<NR, 128>(acc, p);
				}
			}
		}
#pragma unroll
		for (int k = 0; k < NR; k++)
		{
			/* residue boxes: fragment row R is row ds_res_row(R) of the tile */
			const int	row = C::RES ? row0 + ds_res_row(rl + 8 * ((k >> 1) & 1)) : row_b + 8 * ((k >> 1) & 1),
						col = col_b + 8 * (k >> 2) + (k & 1);

			if (row < a.M && col < a.n)
				ds_store_act(a.y, (size_t) col * a.ldy + row, acc[k], a.y_bf16);
		}
		mark(10);
	}
	mark(11);
#endif							/* __CUDA_ARCH_FEAT_SM90_ALL */
}

#ifdef DS_TRACE
/* the timeline of the calls since the last take (bench_kernels, DS_BENCH_TRACE) */
extern "C" int
ds_trace_wgmma_take(unsigned long long *out)
{
	return (int) ds_trace_take(out);
}
#endif

/* wgmma runs on compute capability 9.0 only (sm_90a code) */
static bool
device_is_sm90(const ds_cuda_context *ctx)
{
	static int	cc[64];			/* per device: 0 unknown, else 10 major + minor */

	if (ctx->device < 0 || ctx->device >= 64)
		return false;
	if (cc[ctx->device] == 0)
	{
		int			major = 0,
					minor = 0;

		if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, ctx->device) != cudaSuccess ||
			cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, ctx->device) != cudaSuccess)
			return false;
		cc[ctx->device] = 10 * major + minor;
	}
	return cc[ctx->device] == 90;
}

/* workspace for n vectors of K: x in bf16, and the partial sums of one
 * block per multiprocessor at the widest block */
static size_t
wgmma_workspace(const ds_cuda_context *ctx, int n, int K)
{
	return ds_ws_round((size_t) n * K * 2) + (size_t) ctx->sm_count * 2 * WG_ROWS * 256 * 4;
}

/*
 * The default grid: on short products (at most as many tiles, row tiles x
 * column tiles, as multiprocessors, and at most 4 units per
 * multiprocessor) tiles x s blocks, each tile whole to one block (s = 1)
 * or cut into s aligned parts of its nt K tiles, s as large as the
 * multiprocessors allow but at most 8; else one block per multiprocessor
 * (whole tiles or stream-K).  H200, 2026-11-29, at 16, 64 and 256 vectors
 * (Q4_0, Q4_K, Q8_0; Q6_K too on the last two shapes) against one block
 * per multiprocessor: 8960x1536 (70 blocks, whole tiles) 10-13% faster,
 * e.g. Q4_0 n = 16 16.1 against 18.1 us, n = 256 25.1 against 28.3;
 * 1536x8960 (96 blocks against 132, both aligned) 0-7%; 3584x3584 (112
 * blocks against stream-K) 6-9% at 16, even at 64, 1-8% slower at 256;
 * but 3584x18944 (2072 units: 112 blocks against stream-K) 6-10% slower,
 * which keeps one block per multiprocessor.  1536x1536 has 72 either way
 * (12 tiles x 6; at 256 vectors 24 blocks were 17% faster, at 16 and 64
 * 7-40% slower).  The rule is ds_split_wgmma_grid (split.cuh), which the
 * CPU tests check; launch() takes it.
 */

template <int T, int BN, bool WT>
int
launch(ds_cuda_context *ctx, cudaStream_t stream, WgArgs a, const void *x, int ldx, int x_bf16, int grid)
{
	using QT = dsq::Q<T>;
	using C = Wg<T, BN, WT>;
	static int	smem_set = 0;
	const int	ncb = (a.n + BN - 1) / BN;
	const size_t xp_bytes = ds_ws_round((size_t) a.n * a.K * 2);
	const size_t nthreads = (size_t) a.n * (a.K / 32) * 4;

	a.nt = (a.K + QT::TILE_K - 1) / QT::TILE_K;
	a.nrb = (a.M + WG_ROWS - 1) / WG_ROWS;
	a.units = (long) ncb * a.nrb * a.nt;

	const int	G = (int) min(a.units, (long) (grid > 0 ? grid :
												   ds_split_wgmma_grid((long) ncb * a.nrb, a.nt, ctx->sm_count)));
	const size_t part_bytes = (size_t) G * 2 * WG_ROWS * BN * 4;

	DS_REQUIRE(xp_bytes + part_bytes <= ctx->ws_bytes, DS_CUDA_ERR_WORKSPACE,
			   "workspace too small for x and the partial sums");
	DS_REQUIRE((long) G * 4 <= DS_COUNTERS, DS_CUDA_ERR_UNSUPPORTED, "too many blocks for the split counters");
	a.whole = ds_split_whole_ok((long) ncb * a.nrb, G);
	/* (split.cuh); only where every block can be resident at once (a
	 * first sharer waits for later blocks) */
	a.owner = ds_split_first_adds((long) ncb * a.nrb, G, a.whole) && G <= ctx->sm_count;
	a.part = (float *) (ctx->ws + xp_bytes);
	a.counters = ctx->counters;

	CUtensorMap tm,
				tmw;

	DS_REQUIRE(ds_bf16_tensor_map_sw128(&tm, ctx->ws, (uint64_t) a.n, (uint64_t) a.K, BN) == CUDA_SUCCESS,
			   DS_CUDA_ERR_CUDA, "cuTensorMapEncodeTiled failed (or the driver has none)");
	memset(&tmw, 0, sizeof(tmw));
	if (C::RES)
		DS_REQUIRE(a.M % 8 == 0 && ds_residue_tensor_map(&tmw, a.w, a.row_bytes, (uint64_t) a.M, C::WP,
														  WG_ROWS / 8) == CUDA_SUCCESS,
				   DS_CUDA_ERR_CUDA, "cuTensorMapEncodeTiled failed (or the driver has none)");
	else if (WT)
		DS_REQUIRE(ds_weight_tensor_map(&tmw, a.w, a.row_bytes, (uint64_t) a.M, QT::TILE_B, WG_ROWS) == CUDA_SUCCESS,
				   DS_CUDA_ERR_CUDA, "cuTensorMapEncodeTiled failed (or the driver has none)");
	/* x in bf16, as the programmatic dependent of the kernel before (it
	 * waits for that kernel); the GEMM is its dependent, so W streams while
	 * x is written */
	DS_CUDA_CHECK(ds_launch_pdl(k_xperm<T, true>, (int) ((nthreads + 255) / 256), 256, 0, stream, x, ldx, x_bf16,
								a.n, a.K, (uint16_t *) ctx->ws));
	DS_CUDA_CHECK(ds_set_smem(k_gemm_wgmma<T, BN, WT>, C::SMEM, &smem_set));
	DS_CUDA_CHECK(ds_launch_pdl(k_gemm_wgmma<T, BN, WT>, G, WG_THREADS, C::SMEM, stream, tm, tmw, a));
	return DS_CUDA_OK;
}

/* W by the copy engine where its tiles and rows are whole 16-byte units
 * (not a K with a partial tile of 32-element blocks), except F16/BF16,
 * whose 256-byte rows would put a warp's rows on the same banks; Q6_K's
 * 210-byte blocks by residue boxes where M % 8 == 0, up to 128 vectors a
 * block */
template <int T, int BN>
int
launch_w(ds_cuda_context *ctx, cudaStream_t stream, WgArgs a, const void *x, int ldx, int x_bf16, int grid,
		 int cp16)
{
	using QT = dsq::Q<T>;

	if (cp16)
		return launch<T, BN, false>(ctx, stream, a, x, ldx, x_bf16, grid);
	if constexpr (QT::TILE_B % 16 == 0 && QT::TILE_B % 128 != 0)
	{
		if (a.row_bytes % 16 == 0)
			return launch<T, BN, true>(ctx, stream, a, x, ldx, x_bf16, grid);
	}
	else if constexpr (T == DS_TYPE_Q6_K && BN <= 128)
	{
		/* at 256 vectors the 16-byte copies were as fast or faster
		 * (H200, 2026-11-29, vs cuBLAS bf16: 152064x1536 0.60 against
		 * 0.52, 18944x3584 0.46 against 0.40, 152064x3584 0.55 against
		 * 0.59); at 16 and 64 the boxes were 10-35% faster */
		if (a.M % 8 == 0)
			return launch<T, BN, true>(ctx, stream, a, x, ldx, x_bf16, grid);
	}
	return launch<T, BN, false>(ctx, stream, a, x, ldx, x_bf16, grid);
}

}								/* namespace */

bool
ds_gemm_wgmma_usable(const ds_cuda_context *ctx, int n, int K)
{
	return device_is_sm90(ctx) && wgmma_workspace(ctx, n, K) <= ctx->ws_bytes;
}

int
ds_gemm_wgmma_launch(ds_cuda_context *ctx, cudaStream_t stream, const void *w, int wtype,
					 int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
					 void *y, ds_cuda_dtype ytype, int ldy, int bn, int grid, int cp16, int hints)
{
	WgArgs		a;
	const int	xb = xtype == DS_CUDA_BF16;

	DS_TRY(ds_matmul_check(ctx, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, 1 << 20));
	DS_REQUIRE(device_is_sm90(ctx), DS_CUDA_ERR_UNSUPPORTED,
			   "the wgmma GEMM needs a compute capability 9.0 GPU (H100, H200)");
	if (bn <= 0)
		bn = n <= 64 ? 64 : n <= 128 ? 128 : 256;
	DS_REQUIRE(bn == 64 || bn == 128 || bn == 256, DS_CUDA_ERR_ARG, "block width must be 64, 128 or 256");
	a.w = (const uint8_t *) w;
	a.row_bytes = ds_row_size(wtype, K);
	a.M = M;
	a.K = K;
	a.n = n;
	a.y = y;
	a.ldy = ldy;
	a.y_bf16 = ytype == DS_CUDA_BF16;
	a.hints = hints;
	switch (wtype)
	{
#define WG_CASE(T) \
		case T: \
			return bn == 64 ? launch_w<T, 64>(ctx, stream, a, x, ldx, xb, grid, cp16) : \
				bn == 128 ? launch_w<T, 128>(ctx, stream, a, x, ldx, xb, grid, cp16) : \
				launch_w<T, 256>(ctx, stream, a, x, ldx, xb, grid, cp16);
		DSQ_FOR_EACH_TYPE(WG_CASE)
#undef WG_CASE
	}
	return ds_cuda_fail(DS_CUDA_ERR_UNSUPPORTED, __FILE__, __LINE__, "weight type",
						ds_type_name(wtype));
}

extern "C" int
ds_cuda_gemm_wgmma(ds_cuda_context *ctx, ds_cuda_stream stream, const void *w, int wtype,
				   int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
				   void *y, ds_cuda_dtype ytype, int ldy)
{
	return ds_gemm_wgmma_launch(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, 0, 0);
}
