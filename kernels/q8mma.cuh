/*
 * q8mma.cuh -- what the two int8 tensor-core small-batch kernels share
 * (matvec_q8mma.cu: per-warp cp.async rings; matvec_q8tma.cu: one
 * bulk-copy ring per block fed by a producer warp): the x preparation into
 * B fragments and records, the mma wrappers, and the product of one
 * 256-element tile of 16 MT rows that sits in shared memory.
 */
#ifndef DS_KERNELS_Q8MMA_CUH
#define DS_KERNELS_Q8MMA_CUH

#include <type_traits>

#include "common.cuh"
#include "q8dot.cuh"
#include "trace.cuh"

/* per translation unit: each .cu registers its own kernels */
namespace
{
namespace dsq8mma
{

template <int I, int N, typename F>
__device__ __forceinline__ void
static_for(F &&f)
{
	if constexpr (I < N)
	{
		f(std::integral_constant<int, I>{});
		static_for<I + 1, N>(f);
	}
}

/* 16-byte cp.async to a shared-memory address */
__device__ __forceinline__ void
cp16(uint32_t dst, const void *src)
{
	asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" :: "r"(dst), "l"(src));
}

/* D = A B + C, m16n8k32, int8 in, int32 accumulate */
__device__ __forceinline__ void
mma_k32(uint32_t (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
		uint32_t b0, uint32_t b1, const uint4 &c)
{
	asm("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 "
		"{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};\n"
		: "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
		: "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1), "r"(c.x), "r"(c.y), "r"(c.z), "r"(c.w));
}

/* D = A B + C, m16n8k16, int8 in, int32 accumulate */
__device__ __forceinline__ void
mma_k16(uint32_t (&d)[4], uint32_t a0, uint32_t a1, uint32_t b0, const uint4 &c)
{
	asm("mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 "
		"{%0,%1,%2,%3}, {%4,%5}, {%6}, {%7,%8,%9,%10};\n"
		: "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
		: "r"(a0), "r"(a1), "r"(b0), "r"(c.x), "r"(c.y), "r"(c.z), "r"(c.w));
}

/*
 * x in the B-fragment order, and the x-side records.  Block kb, warp =
 * vector (all 8; vectors >= nb are zero), lane = element: the quantization
 * of k_prep_x (matvec_dp4a.cu) and q8dot.cuh's quantize_block.  It lets
 * its product launch at once, and (launched as the programmatic dependent
 * of the kernel before it, matvec_q8tma.cu) waits for that kernel before
 * it reads x or overwrites the workspace.
 */
template <int T>
__global__ void __launch_bounds__(256)
k_prep_mma(const void *x, int x_bf16, int ldx, int nb, uint8_t *xb, uint32_t *xr)
{
	const int	lane = threadIdx.x & 31,
				vec = threadIdx.x >> 5,
				kb = blockIdx.x;

	grid_dependents_launch();
#ifdef DS_TRACE
	DsTrace		tr = {nullptr, 0};

	if (threadIdx.x == 0)
	{
		tr = ds_trace_at(ds_trace_seq_next(1), 3);
		tr.ev(20);
	}
#endif
	grid_dependency_wait();
#ifdef DS_TRACE
	if (threadIdx.x == 0)
		tr.ev(21);
#endif

	const float v = vec < nb ? ds_load_act(x, (size_t) vec * ldx + 32 * kb + lane, x_bf16) : 0.0f;

	if constexpr (dsq8::Tile<T>::FLOAT)
	{
		/* bf16 hi and lo of x: uint4 [k16 group][lane 4 vec + e / 4] =
		 * {hi of e 4t, 4t+1; hi of 4t+2, 4t+3; lo ...; lo ...} */
		const uint32_t hb = ds_f32_to_bf16_bits(v);
		const uint32_t lb = ds_f32_to_bf16_bits(v - ds_bf16_bits_to_f32(hb));
		const size_t i = dsq8::mma_xf_index(2 * kb + (lane >> 4), vec, lane & 15);

		((uint16_t *) xb)[i] = (uint16_t) hb;
		((uint16_t *) xb)[i + 4] = (uint16_t) lb;
	}
	else
	{
		int			q,
					s,
					s1;
		float		d;

		dsq8::warp_quantize_block(v, &q, &d, &s, &s1);
		xb[dsq8::mma_xb_index(kb, vec, lane)] = (uint8_t) (int8_t) q;
		if (lane == 0)
		{
			const dsq8::XMeta m = {d, s, s1, s + s1};
			const int	odd = vec & 1;
			uint32_t	r[12];
			uint32_t   *dst = xr + ((size_t) kb * 4 + (vec >> 1)) * dsq8::MREC<T>;

			dsq8::mrec_put<T>(r, odd, m);
			for (int i = odd; i < dsq8::MREC<T>; i += 2)
				dst[i] = r[i];
		}
	}
#ifdef DS_TRACE
	if (threadIdx.x == 0)
		tr.ev(22);
#endif
}

/*
 * One tile (256 elements) of 16 MT rows, int8 weights unpacked from shared
 * memory, on mma.m16n8k32 (Q6_K: two k16 products): stage points at row 0
 * of the rows, PITCH bytes apart; row r's tile starts at stage + r * PITCH
 * except for Q6_K, whose rows are only 2-byte aligned and were copied as
 * the covering 16-byte span: there the start is (row_off(r) + tile * TB) &
 * 15 bytes further in, row_off(r) = row_off0 + min(r, rv - 1) * rb (32-bit
 * wrap is fine: only the low 4 bits count).  Q6_K in residue boxes
 * (matvec_q8tma.cu, coff >= 0): the rows of each m16 tile m share one
 * start, (row_off0 + m rb) & 15 bytes into the box row, plus coff (the
 * tile's offset in the step).  xb, xr: the B fragments and records of
 * k_prep_mma, in global memory, or (XS) copies of them in shared memory
 * indexed by xtile instead of tile.  acc, macc: this lane's output values
 * (mcomb).
 */
/* a load of x data: read-only global (XS false) or shared memory (XS true) */
template <bool XS, typename V>
__device__ __forceinline__ V
xld(const V *p)
{
	if constexpr (XS)
		return *p;
	else
		return __ldg(p);
}

/*
 * Where this lane's rows g and g + 8 of each m16 tile start in the stage
 * (ra, and fs for Q6_K's 2-byte aligned rows) and what their tile's
 * k-blocks share (mrow): see q8_tile.
 */
template <int T, int MT, int PITCH>
__device__ __forceinline__ void
tile_rows(const uint8_t *stage, uint32_t row_off0, uint32_t rb, int rv, int tile, int lane, int coff,
		  const uint8_t *(&ra)[MT][2], uint32_t (&fs)[MT][2], dsq8::MRow (&rw)[MT][2])
{
	constexpr int TB = dsq8::Tile<T>::B;
	const int	g = lane >> 2,
				t = lane & 3;

#pragma unroll
	for (int m = 0; m < MT; m++)
#pragma unroll
		for (int h = 0; h < 2; h++)
		{
			const int	r = 16 * m + 8 * h + g;

			if constexpr (T == DS_TYPE_Q6_K)
			{
				const uint32_t sh = coff >= 0 ? ((row_off0 + (uint32_t) m * rb) & 15) + (uint32_t) coff :
					(row_off0 + (uint32_t) min(r, rv - 1) * rb + (uint32_t) tile * TB) & 15;

				ra[m][h] = stage + r * PITCH + (sh & ~3u);
				fs[m][h] = 8 * (sh & 3);
			}
			else
			{
				ra[m][h] = stage + r * PITCH;
				fs[m][h] = 0;
			}
			dsq8::mrow<T>(ra[m][h], t, fs[m][h], rw[m][h]);
		}
	(void) row_off0;
	(void) rb;
	(void) rv;
	(void) tile;
	(void) coff;
}

template <int T, int MT, int PITCH, bool XS = false>
__device__ __forceinline__ void
q8_tile(const uint4 *xb, const uint4 *xr, int nb, const uint8_t *stage, uint32_t row_off0,
		uint32_t rb, int rv, int tile, int lane, float (&acc)[MT][4], float (&macc)[MT][4],
		int xtile = -1, int coff = -1)
{
	constexpr int REC4 = dsq8::MREC<T> / 4;
	const int	g = lane >> 2,
				t = lane & 3;
	const uint4 zero4 = make_uint4(0, 0, 0, 0);
	const uint8_t *ra[MT][2];
	uint32_t	fs[MT][2];
	dsq8::MRow	rw[MT][2];

	tile_rows<T, MT, PITCH>(stage, row_off0, rb, rv, tile, lane, coff, ra, fs, rw);

	const int	xt = xtile >= 0 ? xtile : tile;
	const uint4 *xbp = xb + (size_t) xt * 128 + lane;
	const uint4 *xrp = xr + ((size_t) xt * 32 + t) * REC4;

	static_for<0, 4>([&] (auto pc) {
		constexpr int PR = decltype(pc)::value;
		const uint4 B = g < nb ? xld<XS>(xbp + 32 * PR) : zero4;

		static_for<0, 2>([&] (auto hc) {
			constexpr int KB = 2 * PR + decltype(hc)::value;
			const uint32_t b0 = KB & 1 ? B.z : B.x,
						b1 = KB & 1 ? B.w : B.y;
			const uint4 *rp = xrp + KB * 4 * REC4;
			const bool	tv = 2 * t < nb;	/* lanes whose vectors exist */
			const uint4 cq = tv ? xld<XS>(rp) : zero4;
			const float4 rd = tv ? xld<XS>((const float4 *) rp + 1) : make_float4(0, 0, 0, 0);
			const float dx[2] = {rd.x, rd.y},
						ndxm[2] = {rd.z, rd.w};
			uint4		r2 = zero4;

			if constexpr (REC4 == 3)
				r2 = tv ? xld<XS>(rp + 2) : zero4;
#pragma unroll
			for (int m = 0; m < MT; m++)
			{
				uint32_t	lo[2],
							hi[2];
				float		s0[2],
							s1[2];
				uint32_t	c[4],
							c2[4] = {0, 0, 0, 0};

#pragma unroll
				for (int h = 0; h < 2; h++)
					dsq8::mfrag<T, KB>(ra[m][h], t, fs[m][h], rw[m][h], lo[h], hi[h], s0[h], s1[h]);
				if constexpr (T == DS_TYPE_Q6_K)
				{
					mma_k16(c, lo[0], lo[1], b0, cq);
					mma_k16(c2, hi[0], hi[1], b1, r2);
				}
				else
					mma_k32(c, lo[0], lo[1], hi[0], hi[1], b0, b1, cq);
#pragma unroll
				for (int i = 0; i < 4; i++)
					dsq8::mcomb<T>(acc[m][i], macc[m][i], c[i], c2[i], s0[i >> 1], s1[i >> 1],
								   dx[i & 1], ndxm[i & 1], __uint_as_float(i & 1 ? r2.y : r2.x));
			}
		});
	});
}

/*
 * The same tile for one vector (ONE), with the instruction's 8 columns
 * carrying the tile's 8 k-blocks instead of 8 vectors: the mma of k-block
 * kb gets x's words only in column kb (lanes with g = kb; the others pass
 * zeros), so the 8 mma of a tile add into C (two chains, below) whose column
 * c holds k-block c's integer product, started at that block's C start.
 * Each lane then scales its two columns (k-blocks 2t, 2t + 1) once per
 * tile, where q8_tile scales two values after every mma; the x records
 * are read once per tile and the B fragments as one 8-byte load.  acc,
 * macc gather each lane's columns across tiles; q8_fold1 adds the columns
 * of each row before the sums leave the warp.  NCH: the mma of the 8
 * k-blocks in 2 chains of 4 (k-block parity) or 8 independent ones (more
 * accumulator registers; measured faster for Q4_K and Q5_K with 16 rows
 * per warp in matvec_q8tma.cu).
 */
template <int T, int MT, int PITCH, bool XS = false, int NCH = 2>
__device__ __forceinline__ void
q8_tile1(const uint4 *xb, const uint4 *xr, const uint8_t *stage, uint32_t row_off0, uint32_t rb,
		 int rv, int tile, int lane, float (&acc)[MT][4], float (&macc)[MT][4], int xtile = -1,
		 int coff = -1)
{
	constexpr int REC = dsq8::MREC<T>;
	const int	g = lane >> 2,
				t = lane & 3;
	const uint8_t *ra[MT][2];
	uint32_t	fs[MT][2];
	dsq8::MRow	rw[MT][2];

	tile_rows<T, MT, PITCH>(stage, row_off0, rb, rv, tile, lane, coff, ra, fs, rw);

	const int	xt = xtile >= 0 ? xtile : tile;
	/* vector 0's words t and t + 4 of k-block g (lanes 0-3 of q8_tile) */
	const uint2 xw = xld<XS>((const uint2 *) (xb + (size_t) xt * 128 + 32 * (g >> 1) + t) + (g & 1));
	/* vector 0's records of k-blocks 2t and 2t + 1 */
	const uint32_t *rc = (const uint32_t *) xr + ((size_t) xt * 32 + 8 * t) * REC;
	uint32_t	cs[2],
				u[2];
	float		dx[2],
				ndxm[2];

#pragma unroll
	for (int j = 0; j < 2; j++)
	{
		cs[j] = xld<XS>(rc + 4 * j * REC);
		dx[j] = __uint_as_float(xld<XS>(rc + 4 * j * REC + 4));
		ndxm[j] = __uint_as_float(xld<XS>(rc + 4 * j * REC + 6));
		u[j] = REC == 12 ? xld<XS>(rc + 4 * j * REC + 8) : 0u;
	}

	/* [m][KB % NCH]: k-block KB's mma touches only column KB, so NCH
	 * independent chains of 8 / NCH mma each, and the lane's column 2t
	 * comes from chain 2t % NCH, 2t + 1 from the next */
	uint4		cc[MT][NCH],
				cc2[MT][NCH];

	static_assert(NCH == 2 || NCH == 8, "chains");
#pragma unroll
	for (int m = 0; m < MT; m++)
#pragma unroll
		for (int e = 0; e < NCH; e++)
		{
			cc[m][e] = make_uint4(cs[0], cs[1], cs[0], cs[1]);
			cc2[m][e] = make_uint4(u[0], u[1], u[0], u[1]);	/* Q6_K: the second halves' C start */
		}
	static_for<0, 8>([&] (auto kc) {
		constexpr int KB = decltype(kc)::value;
		constexpr int E = KB % NCH;
		const bool	on = g == KB;
		const uint32_t b0 = on ? xw.x : 0u,
					b1 = on ? xw.y : 0u;

#pragma unroll
		for (int m = 0; m < MT; m++)
		{
			uint32_t	lo[2],
						hi[2],
						d[4];
			float		s0,
						s1;

#pragma unroll
			for (int h = 0; h < 2; h++)
				dsq8::mfrag<T, KB>(ra[m][h], t, fs[m][h], rw[m][h], lo[h], hi[h], s0, s1);
			if constexpr (T == DS_TYPE_Q6_K)
			{
				mma_k16(d, lo[0], lo[1], b0, cc[m][E]);
				cc[m][E] = make_uint4(d[0], d[1], d[2], d[3]);
				mma_k16(d, hi[0], hi[1], b1, cc2[m][E]);
				cc2[m][E] = make_uint4(d[0], d[1], d[2], d[3]);
			}
			else
			{
				mma_k32(d, lo[0], lo[1], hi[0], hi[1], b0, b1, cc[m][E]);
				cc[m][E] = make_uint4(d[0], d[1], d[2], d[3]);
			}
		}
	});
#pragma unroll
	for (int m = 0; m < MT; m++)
	{
		/* the chains of columns 2t and 2t + 1 */
		uint4		ce = cc[m][0],
					co = cc[m][1],
					ce2 = cc2[m][0],
					co2 = cc2[m][1];

#pragma unroll
		for (int e = 2; e < NCH; e += 2)
			if ((2 * t) % NCH == e)
			{
				ce = cc[m][e];
				co = cc[m][e + 1];
				ce2 = cc2[m][e];
				co2 = cc2[m][e + 1];
			}

		const uint32_t c[4] = {ce.x, co.y, ce.z, co.w},
					c2[4] = {ce2.x, co2.y, ce2.z, co2.w};

#pragma unroll
		for (int i = 0; i < 4; i++)
		{
			const int	j = i & 1;
			float		s0,
						s1;

			dsq8::mscale<T>(ra[m][i >> 1], rw[m][i >> 1], 2 * t + j, s0, s1);
			dsq8::mcomb<T>(acc[m][i], macc[m][i], c[i], c2[i], s0, s1, dx[j], ndxm[j],
						   __uint_as_float(u[j]));
		}
	}
}

/* a lane's output values of q8_tile / q8_tile1 (acc, macc), zeroed */
template <int MT>
__device__ __forceinline__ void
acc_zero(float (&acc)[MT][4], float (&macc)[MT][4])
{
#pragma unroll
	for (int m = 0; m < MT; m++)
#pragma unroll
		for (int i = 0; i < 4; i++)
			acc[m][i] = macc[m][i] = 0.0f;
}

/*
 * q8_tile1's sums to q8_tile's layout: each row's columns added, ((c0 +
 * c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) the same bits in every lane
 * of the quad; vector 0 is column 0 (values 0 and 2), the rest zero.
 */
template <int MT>
__device__ __forceinline__ void
q8_fold1(float (&acc)[MT][4], float (&macc)[MT][4])
{
#pragma unroll
	for (int m = 0; m < MT; m++)
#pragma unroll
		for (int h = 0; h < 2; h++)
		{
			float		a = acc[m][2 * h] + acc[m][2 * h + 1],
						b = macc[m][2 * h] + macc[m][2 * h + 1];

			a += __shfl_xor_sync(0xffffffffu, a, 1);
			b += __shfl_xor_sync(0xffffffffu, b, 1);
			a += __shfl_xor_sync(0xffffffffu, a, 2);
			b += __shfl_xor_sync(0xffffffffu, b, 2);
			acc[m][2 * h] = a;
			macc[m][2 * h] = b;
			acc[m][2 * h + 1] = macc[m][2 * h + 1] = 0.0f;
		}
}

}								/* namespace dsq8mma */
}								/* namespace */

#endif							/* DS_KERNELS_Q8MMA_CUH */
