/*
 * q8dot.cuh -- the per-lane arithmetic of the dp4a small-batch product
 * (matvec_dp4a.cu): x quantized to int8 per 32 elements, weight blocks
 * unpacked to int8 and multiplied with __dp4a, one f32 scale step per
 * 32-element group.  Host and device, like qblock.cuh: the CPU test
 * (test/gpu/test_kernels_cpu.cpp) runs these same functions against the
 * reference ds_ref_matmul_q8() of kernels/ref/matmul_q8_ref.c.
 *
 * Vocabulary.  Rows are cut into tiles of 256 elements (K % 256 == 0): one
 * K-quant super-block, or 8 blocks of Q4_0/Q4_1/Q5_0/Q8_0.  F16 and BF16
 * tiles are 128 elements.  Eight lanes share a tile; lane j of the eight
 * owns its "piece":
 *   - quantized types: the 32 elements 32j .. 32j+31 of the tile, which are
 *     exactly one 32-element group of the quantized x (x-block 8 t + j).
 *     piece() unpacks them to 32 int8 values in element order (8 words) and
 *     the weight-side scales; dot() multiplies with the x-block and applies
 *     the scales.
 *   - F16/BF16: the 16-byte chunks j and j + 8 of the tile (elements 8j ..
 *     8j+7 and 64+8j .. 64+8j+7), multiplied in f32 with f32 x.
 *
 * x quantization (q8_quantize_block, the same rule on host and device):
 * d = amax / 127, q = round-to-nearest-even(x / d) (0 when amax = 0), and
 * the integer sums of q over each half (for the -8/-16/-32 offsets and the
 * Q4_1/K-quant minimums), so the result equals sum_k w_k * (q_k * d) of the
 * exactly dequantized w up to f32 rounding.
 */
#ifndef DS_KERNELS_Q8DOT_CUH
#define DS_KERNELS_Q8DOT_CUH

#include <math.h>

#include "qblock.cuh"

#if defined(__CUDA_ARCH__)
#define DSQ8_UNROLL _Pragma("unroll")
#else
#define DSQ8_UNROLL
#endif

namespace dsq8
{

using dsq::f16_f32;
using dsq::ld_u16;
using dsq::ld_u32;
using dsq::ld_u32x4;

/* Elements per tile, bytes per tile. */
template <int T>
struct Tile
{
	static constexpr int K = (T == DS_TYPE_F16 || T == DS_TYPE_BF16) ? 128 : 256;
	static constexpr int B =
		T == DS_TYPE_Q4_0 ? 144 : T == DS_TYPE_Q4_1 ? 160 : T == DS_TYPE_Q5_0 ? 176 :
		T == DS_TYPE_Q8_0 ? 272 : T == DS_TYPE_Q4_K ? 144 : T == DS_TYPE_Q5_K ? 176 :
		T == DS_TYPE_Q6_K ? 210 : 256;
	static constexpr bool FLOAT = T == DS_TYPE_F16 || T == DS_TYPE_BF16;
};

/* The quantized x-block's scale and integer sums (16 bytes, one load). */
struct XMeta
{
	float		d;
	int			s0,				/* sum of q[0..15] */
				s1,				/* sum of q[16..31] */
				s;				/* s0 + s1 */
};

/* Signed 8-bit dot product of 4 lanes, plus c. */
DS_HD int
dp4a(uint32_t a, uint32_t b, int c)
{
#if defined(__CUDA_ARCH__)
	return __dp4a((int) a, (int) b, c);
#else
	for (int i = 0; i < 4; i++)
		c += (int) (int8_t) (a >> (8 * i)) * (int) (int8_t) (b >> (8 * i));
	return c;
#endif
}

/* Bits s .. s+31 of hi:lo, s in 0..31. */
DS_HD uint32_t
fshr(uint32_t lo, uint32_t hi, uint32_t s)
{
#if defined(__CUDA_ARCH__)
	return __funnelshift_r(lo, hi, s);
#else
	return (uint32_t) ((((uint64_t) hi << 32) | lo) >> (s & 31));
#endif
}

/*
 * N little-endian words from p, any alignment: N + 1 aligned 32-bit loads
 * and a funnel shift each.  Reads up to 4 bytes past p + 4N.
 */
template <int N>
DS_HD void
ld_span(const uint8_t *p, uint32_t out[N])
{
	const uint32_t s = (uint32_t) ((uintptr_t) p & 3);
	const uint8_t *a = p - s;
	uint32_t	w[N + 1];

DSQ8_UNROLL
	for (int i = 0; i <= N; i++)
		w[i] = ld_u32(a + 4 * i);
DSQ8_UNROLL
	for (int i = 0; i < N; i++)
		out[i] = fshr(w[i], w[i + 1], 8 * s);
}

/* One lane's unpacked piece: 32 int8 weights and the weight-side scales. */
struct Piece
{
	uint32_t	q[8];			/* elements 4i .. 4i+3 in word i */
	float		f0,
				f1;
	int			i0,
				i1;
};

/* Four bits of v (bits 0..3) to bit 4 of bytes 0..3. */
DS_HD uint32_t
spread4(uint32_t v)
{
	return (((v & 0xfu) * 0x00204081u) & 0x01010101u) << 4;
}

/* The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (quant.c). */
DS_HD void
k4_scale_min(const uint8_t *tile, int j, int *sc, int *m)
{
	const uint32_t k8 = 8 * (j & 3);
	const uint32_t A = (ld_u32(tile + 4) >> k8) & 0xff,
				B = (ld_u32(tile + 8) >> k8) & 0xff,
				C = (ld_u32(tile + 12) >> k8) & 0xff;

	if (j < 4)
	{
		*sc = (int) (A & 63);
		*m = (int) (B & 63);
	}
	else
	{
		*sc = (int) ((C & 0xf) | ((A >> 6) << 4));
		*m = (int) ((C >> 4) | ((B >> 6) << 4));
	}
}

/*
 * Unpack piece j (0..7) of the tile at `tile` (any 2-byte alignment for
 * Q4_0, Q5_0, Q8_0, Q6_K; 4-byte for Q4_1; 16-byte for Q4_K, Q5_K).
 */
template <int T>
DS_HD void
piece(const uint8_t *tile, int j, Piece &p)
{
	if constexpr (T == DS_TYPE_Q4_0)
	{
		const uint8_t *b = tile + 18 * j;
		uint32_t	qs[4];

		p.f0 = f16_f32(ld_u16(b));
		ld_span<4>(b + 2, qs);
DSQ8_UNROLL
		for (int i = 0; i < 4; i++)
		{
			p.q[i] = qs[i] & 0x0f0f0f0fu;
			p.q[4 + i] = (qs[i] >> 4) & 0x0f0f0f0fu;
		}
	}
	else if constexpr (T == DS_TYPE_Q4_1)
	{
		const uint8_t *b = tile + 20 * j;
		const uint32_t dm = ld_u32(b);

		p.f0 = f16_f32(dm & 0xffff);
		p.f1 = f16_f32(dm >> 16);
DSQ8_UNROLL
		for (int i = 0; i < 4; i++)
		{
			uint32_t	w = ld_u32(b + 4 + 4 * i);

			p.q[i] = w & 0x0f0f0f0fu;
			p.q[4 + i] = (w >> 4) & 0x0f0f0f0fu;
		}
	}
	else if constexpr (T == DS_TYPE_Q5_0)
	{
		const uint8_t *b = tile + 22 * j;
		uint32_t	o[5];

		p.f0 = f16_f32(ld_u16(b));
		ld_span<5>(b + 2, o);	/* qh, then qs */
DSQ8_UNROLL
		for (int i = 0; i < 4; i++)
		{
			p.q[i] = (o[1 + i] & 0x0f0f0f0fu) | spread4(o[0] >> (4 * i));
			p.q[4 + i] = ((o[1 + i] >> 4) & 0x0f0f0f0fu) | spread4(o[0] >> (16 + 4 * i));
		}
	}
	else if constexpr (T == DS_TYPE_Q8_0)
	{
		const uint8_t *b = tile + 34 * j;

		p.f0 = f16_f32(ld_u16(b));
		ld_span<8>(b + 2, p.q);
	}
	else if constexpr (T == DS_TYPE_Q4_K || T == DS_TYPE_Q5_K)
	{
		constexpr int QS = T == DS_TYPE_Q4_K ? 16 : 48;
		const uint32_t dd = ld_u32(tile);
		const uint32_t sh = 4 * (j & 1);
		uint32_t	w[8];
		int			sc,
					m;

		k4_scale_min(tile, j, &sc, &m);
		p.f0 = f16_f32(dd & 0xffff) * (float) sc;
		p.f1 = f16_f32(dd >> 16) * (float) m;
		ld_u32x4(tile + QS + 32 * (j >> 1), w);
		ld_u32x4(tile + QS + 32 * (j >> 1) + 16, w + 4);
DSQ8_UNROLL
		for (int i = 0; i < 8; i++)
			p.q[i] = (w[i] >> sh) & 0x0f0f0f0fu;
		if constexpr (T == DS_TYPE_Q5_K)
		{
			uint32_t	h[8];

			ld_u32x4(tile + 16, h);
			ld_u32x4(tile + 32, h + 4);
DSQ8_UNROLL
			for (int i = 0; i < 8; i++)
				p.q[i] |= ((h[i] >> j) & 0x01010101u) << 4;
		}
	}
	else if constexpr (T == DS_TYPE_Q6_K)
	{
		const int	hh = j >> 2,
					Q = j & 3;
		uint32_t	ql[8],
					qh[8];
		const uint32_t sc = ld_u16(tile + 192 + 8 * hh + 2 * Q);

		ld_span<8>(tile + 64 * hh + 32 * (Q & 1), ql);
		ld_span<8>(tile + 128 + 32 * hh, qh);
DSQ8_UNROLL
		for (int i = 0; i < 8; i++)
			p.q[i] = ((ql[i] >> (4 * (Q >> 1))) & 0x0f0f0f0fu) |
				(((qh[i] >> (2 * Q)) & 0x03030303u) << 4);
		p.f0 = f16_f32(ld_u16(tile + 208));
		p.i0 = (int) (int8_t) (sc & 0xff);
		p.i1 = (int) (int8_t) (sc >> 8);
	}
}

/* The piece's contribution with x-block xq (8 words) and its meta. */
template <int T>
DS_HD float
dot(const Piece &p, const uint32_t xq[8], const XMeta &xm)
{
	if constexpr (T == DS_TYPE_Q6_K)
	{
		int			sa = 0,
					sb = 0;

DSQ8_UNROLL
		for (int i = 0; i < 4; i++)
		{
			sa = dp4a(p.q[i], xq[i], sa);
			sb = dp4a(p.q[4 + i], xq[4 + i], sb);
		}
		return p.f0 * (xm.d * (float) (p.i0 * (sa - 32 * xm.s0) + p.i1 * (sb - 32 * xm.s1)));
	}
	else
	{
		int			sa = 0,
					sb = 0;

DSQ8_UNROLL
		for (int i = 0; i < 4; i++)
		{
			sa = dp4a(p.q[i], xq[i], sa);
			sb = dp4a(p.q[4 + i], xq[4 + i], sb);
		}

		const int	s = sa + sb;

		if constexpr (T == DS_TYPE_Q4_0)
			return p.f0 * (xm.d * (float) (s - 8 * xm.s));
		else if constexpr (T == DS_TYPE_Q5_0)
			return p.f0 * (xm.d * (float) (s - 16 * xm.s));
		else if constexpr (T == DS_TYPE_Q8_0)
			return p.f0 * (xm.d * (float) s);
		else if constexpr (T == DS_TYPE_Q4_1)
			return xm.d * (p.f0 * (float) s + p.f1 * (float) xm.s);
		else					/* Q4_K, Q5_K: d sc q - dmin m */
			return xm.d * (p.f0 * (float) s - p.f1 * (float) xm.s);
	}
}

/*
 * F16/BF16: the 16 weights of piece j (chunks j and j + 8 of a 128-element
 * tile, 16-byte aligned) as f32: elements 8j + i and 64 + 8j + i.
 */
template <int T>
DS_HD void
piece_f(const uint8_t *tile, int j, float v[16])
{
DSQ8_UNROLL
	for (int c = 0; c < 2; c++)
	{
		uint32_t	w[4];

		ld_u32x4(tile + 16 * (j + 8 * c), w);
DSQ8_UNROLL
		for (int i = 0; i < 4; i++)
		{
			if constexpr (T == DS_TYPE_BF16)
			{
				v[8 * c + 2 * i] = dsq::bits_f32(w[i] << 16);
				v[8 * c + 2 * i + 1] = dsq::bits_f32(w[i] & 0xffff0000u);
			}
			else
			{
				v[8 * c + 2 * i] = f16_f32(w[i] & 0xffff);
				v[8 * c + 2 * i + 1] = f16_f32(w[i] >> 16);
			}
		}
	}
}

/* Quantize one 32-element block of x (host form; the GPU kernel computes
 * the same with a warp per block). */
DS_HD void
quantize_block(const float *x, int8_t q[32], XMeta *m)
{
	float		amax = 0.0f;

	for (int i = 0; i < 32; i++)
		amax = fmaxf(amax, fabsf(x[i]));
	m->d = amax / 127.0f;
	m->s0 = m->s1 = 0;
	for (int i = 0; i < 32; i++)
	{
		int			v = amax > 0.0f ? (int) nearbyintf(x[i] / m->d) : 0;

		q[i] = (int8_t) v;
		if (i < 16)
			m->s0 += v;
		else
			m->s1 += v;
	}
	m->s = m->s0 + m->s1;
}

#ifdef __CUDACC__
/*
 * The same rule across a warp, lane = element v of one 32-element block:
 * *q is this lane's int8, *d the block scale, *s0 and *s1 the sums of
 * elements 0..15 and 16..31 (the same in every lane).
 */
__device__ __forceinline__ void
warp_quantize_block(float v, int *q, float *d, int *s0, int *s1)
{
	float		am = fabsf(v);
	int			s;

#pragma unroll
	for (int o = 16; o >= 1; o >>= 1)
		am = fmaxf(am, __shfl_xor_sync(0xffffffffu, am, o));
	*d = am / 127.0f;
	*q = am > 0.0f ? __float2int_rn(v / *d) : 0;
	s = *q;
#pragma unroll
	for (int o = 8; o >= 1; o >>= 1)
		s += __shfl_xor_sync(0xffffffffu, s, o);
	*s0 = __shfl_sync(0xffffffffu, s, 0);
	*s1 = __shfl_sync(0xffffffffu, s, 16);
}
#endif

/* ------------------------------------------------------------------------
 * The int8 tensor-core form (matvec_q8mma.cu): mma.m16n8k32 with int8
 * weights (A, 16 rows x 32 k, one k-block of 32 elements) and the int8 x
 * of up to 8 vectors (B, 32 k x 8 columns).  Lane l = 4g + t holds
 *   A: a0 = row g, k 4t..4t+3; a1 = row g+8, same k; a2 = row g, k 16+4t..;
 *      a3 = row g+8, k 16+4t..          (mfrag(): lo = k 4t.., hi = k 16+4t..)
 *   B: b0 = k 4t..4t+3 of vector g; b1 = k 16+4t.. of vector g
 *   C: c0, c1 = row g, vectors 2t, 2t+1; c2, c3 = row g+8, same vectors.
 * Q6_K (a scale per 16 elements) uses two m16n8k16 products per k-block:
 * lo (a0, a1 with b0) and hi (a2, a3 with b1).
 *
 * Scales without int->float conversions: C starts at MAGIC (+ the block's
 * integer offset -8 s, -16 s, -32 s), so its bits read as a float are
 * 1.5 * 2^23 + c exactly (|c| < 2^22); with dx rounded to 22 significant
 * bits (mma_dx()), dx * MAGIC_F is exact and fma(dx, F, -dx * MAGIC_F) is
 * dx * c rounded once.  Then one fma with the row's scale per value.
 * ------------------------------------------------------------------------ */

constexpr uint32_t MAGIC = 0x4B400000u;
constexpr float MAGIC_F = 12582912.0f;	/* 1.5 * 2^23 */

/* x's block scale as the tensor-core form uses it: 22 significant bits */
DS_HD float
mma_dx(float d)
{
	return dsq::bits_f32(dsq::f32_bits(d) & ~3u);
}

/*
 * Byte index of element e of vector v's block kb in the B fragments: uint4
 * [kb / 2][lane 4v + t] = {b0, b1 of kb even, b0, b1 of kb odd}, with b0 =
 * elements 4t..4t+3 and b1 = elements 16+4t..16+4t+3.
 */
DS_HD size_t
mma_xb_index(int kb, int v, int e)
{
	const int	wd = e >> 2;

	return ((((size_t) (kb >> 1) * 32 + 4 * v + (wd & 3)) * 4 + (kb & 1) * 2 + (wd >> 2)) * 4) +
		(e & 3);
}

/*
 * The x-side record of k-block kb for the lanes with t = lane & 3, i.e.
 * vectors 2t and 2t + 1 (uint4 units, so each part is one 16-byte load):
 *   R0: the C start quad {c(2t), c(2t+1), c(2t), c(2t+1)}: MAGIC plus the
 *       block's integer offset (-8 s Q4_0, -16 s Q5_0, -32 s0 Q6_K's first
 *       half), MAGIC alone for Q8_0, Q4_1 and the K-quants;
 *   R1: {dx(2t), dx(2t+1), -dx(2t) MAGIC_F, -dx(2t+1) MAGIC_F};
 *   R2: Q4_1/K-quants {dx s (2t), dx s (2t+1), 0, 0} (the min terms);
 *       Q6_K the C start quad of the second half (-32 s1).
 */
template <int T>
constexpr int MREC = (T == DS_TYPE_Q4_0 || T == DS_TYPE_Q5_0 || T == DS_TYPE_Q8_0) ? 8 : 12;

/* Write the words of a record that belong to vector 2t + odd. */
template <int T>
DS_HD void
mrec_put(uint32_t *w, int odd, const XMeta &m)
{
	const float dx = mma_dx(m.d);
	uint32_t	c = MAGIC;

	if constexpr (T == DS_TYPE_Q4_0)
		c = MAGIC - 8u * (uint32_t) m.s;
	else if constexpr (T == DS_TYPE_Q5_0)
		c = MAGIC - 16u * (uint32_t) m.s;
	else if constexpr (T == DS_TYPE_Q6_K)
		c = MAGIC - 32u * (uint32_t) m.s0;
	w[odd] = w[2 + odd] = c;
	w[4 + odd] = dsq::f32_bits(dx);
	w[6 + odd] = dsq::f32_bits(-dx * MAGIC_F);
	if constexpr (T == DS_TYPE_Q6_K)
		w[8 + odd] = w[10 + odd] = MAGIC - 32u * (uint32_t) m.s1;
	else if constexpr (MREC<T> == 12)
	{
		w[8 + odd] = dsq::f32_bits(dx * (float) m.s);
		w[10 + odd] = 0;
	}
}

/* A word at byte offset O (even) of a 4-byte aligned p: one or two loads */
template <int O>
DS_HD uint32_t
ldw(const uint8_t *p)
{
	if constexpr ((O & 3) == 0)
		return ld_u32(p + O);
	else
		return dsq::prmt(ld_u32(p + O - 2), ld_u32(p + O + 2), 0x5432);
}

/* Q6_K rows are 2-byte aligned: a = the row's data rounded down to 4 bytes,
 * fs = 8 * the rest (0 or 16); the word at logical offset o */
DS_HD uint32_t
ldv(const uint8_t *a, int o, uint32_t fs)
{
	return fshr(ld_u32(a + o), ld_u32(a + o + 4), fs);
}

/*
 * Per row and tile (one K-quant super-block), what every k-block of it
 * shares: Q4_K/Q5_K d and dmin (and -d 2^23, dmin 2^23 for exact scale
 * products), the packed 6-bit scales and mins, Q5_K's high-bit words t and
 * t + 4; Q6_K d, -1.5 2^23 d, the 16 int8 scales, the qh words of both
 * halves.
 */
struct MRow
{
	float		d,
				m;
	uint32_t	w[8];
};

template <int T>
DS_HD void
mrow(const uint8_t *a, int t, uint32_t fs, MRow &r)
{
	if constexpr (T == DS_TYPE_Q4_K || T == DS_TYPE_Q5_K)
	{
		const uint32_t dd = ld_u32(a),
					A = ld_u32(a + 4),
					B = ld_u32(a + 8),
					C = ld_u32(a + 12);
		const float d = f16_f32(dd & 0xffff),
					dm = f16_f32(dd >> 16);

		r.d = -d * 8388608.0f;	/* exact: a power of two */
		r.m = dm * 8388608.0f;
		r.w[0] = A & 0x3f3f3f3fu;	/* scales 0..3 */
		r.w[1] = (C & 0x0f0f0f0fu) | ((A >> 2) & 0x30303030u);	/* 4..7 */
		r.w[2] = B & 0x3f3f3f3fu;	/* mins 0..3 */
		r.w[3] = ((C >> 4) & 0x0f0f0f0fu) | ((B >> 2) & 0x30303030u);
		r.w[6] = dsq::f32_bits(d);
		r.w[7] = dsq::f32_bits(dm);
		if constexpr (T == DS_TYPE_Q5_K)
		{
			r.w[4] = ld_u32(a + 16 + 4 * t);
			r.w[5] = ld_u32(a + 32 + 4 * t);
		}
	}
	else if constexpr (T == DS_TYPE_Q6_K)
	{
		r.d = f16_f32(ld_u16(a + (fs >> 3) + 208));
		r.m = -1.5f * 8388608.0f * r.d;	/* exact: d has 11 significant bits */
DSQ8_UNROLL
		for (int i = 0; i < 4; i++)
			r.w[i] = ldv(a, 192 + 4 * i, fs);
DSQ8_UNROLL
		for (int h = 0; h < 2; h++)
		{
			r.w[4 + 2 * h] = ldv(a + 4 * t, 128 + 32 * h, fs);
			r.w[5 + 2 * h] = ldv(a + 4 * t, 144 + 32 * h, fs);
		}
	}
}

/* 2^23 + byte b of v, as a float (the byte placed in a mantissa) */
DS_HD float
byte_f(uint32_t v, int b)
{
	return dsq::bits_f32(dsq::prmt(v, 0x4B000000u, 0x7540u | (uint32_t) b));
}

/*
 * Row side of k-block KB of the tile at `a` (this lane's row; t = lane & 3):
 * the int8 A words lo (k 4t..4t+3) and hi (k 16+4t..), and the row's scale
 * factors s0, s1 (see mcomb).  Offsets are compile-time, so the device code
 * has immediate shared-memory offsets and no alignment tests.
 */
template <int T, int KB>
DS_HD void
mfrag(const uint8_t *a, int t, uint32_t fs, const MRow &r, uint32_t &lo, uint32_t &hi,
	  float &s0, float &s1)
{
	const uint8_t *a4 = a + 4 * t;

	if constexpr (T == DS_TYPE_Q4_0)
	{
		constexpr int O = 18 * KB;
		const uint32_t q = ldw<O + 2>(a4);

		s0 = f16_f32(ld_u16(a + O));
		s1 = 0.0f;
		lo = q & 0x0f0f0f0fu;
		hi = (q >> 4) & 0x0f0f0f0fu;
	}
	else if constexpr (T == DS_TYPE_Q4_1)
	{
		constexpr int O = 20 * KB;
		const uint32_t dm = ld_u32(a + O),
					q = ld_u32(a4 + O + 4);

		s0 = f16_f32(dm & 0xffff);
		s1 = f16_f32(dm >> 16);
		lo = q & 0x0f0f0f0fu;
		hi = (q >> 4) & 0x0f0f0f0fu;
	}
	else if constexpr (T == DS_TYPE_Q5_0)
	{
		constexpr int O = 22 * KB;
		const uint32_t qh = ldw<O + 2>(a),
					q = ldw<O + 6>(a4);

		s0 = f16_f32(ld_u16(a + O));
		s1 = 0.0f;
		lo = (q & 0x0f0f0f0fu) | spread4(qh >> (4 * t));
		hi = ((q >> 4) & 0x0f0f0f0fu) | spread4(qh >> (16 + 4 * t));
	}
	else if constexpr (T == DS_TYPE_Q8_0)
	{
		constexpr int O = 34 * KB;

		s0 = f16_f32(ld_u16(a + O));
		s1 = 0.0f;
		lo = ldw<O + 2>(a4);
		hi = ldw<O + 18>(a4);
	}
	else if constexpr (T == DS_TYPE_Q4_K || T == DS_TYPE_Q5_K)
	{
		constexpr int QS = (T == DS_TYPE_Q4_K ? 16 : 48) + 32 * (KB >> 1);
		constexpr int SH = 4 * (KB & 1);
		const uint32_t w0 = ld_u32(a4 + QS),
					w1 = ld_u32(a4 + QS + 16);

		lo = (w0 >> SH) & 0x0f0f0f0fu;
		hi = (w1 >> SH) & 0x0f0f0f0fu;
		if constexpr (T == DS_TYPE_Q5_K)
		{
			lo |= ((r.w[4] >> KB) & 0x01010101u) << 4;
			hi |= ((r.w[5] >> KB) & 0x01010101u) << 4;
		}
		/* d sc and -dmin m exactly: d (2^23 + sc) - d 2^23 */
		s0 = fmaf(dsq::bits_f32(r.w[6]), byte_f(r.w[KB >> 2], KB & 3), r.d);
		s1 = fmaf(-dsq::bits_f32(r.w[7]), byte_f(r.w[2 + (KB >> 2)], KB & 3), r.m);
	}
	else if constexpr (T == DS_TYPE_Q6_K)
	{
		constexpr int H = KB >> 2,
					Q = KB & 3;
		constexpr int QL = 64 * H + 32 * (Q & 1);
		const uint32_t l0 = ldv(a4, QL, fs),
					l1 = ldv(a4, QL + 16, fs);
		const uint32_t h0 = r.w[4 + 2 * H],
					h1 = r.w[5 + 2 * H];
		const uint32_t scw = r.w[KB >> 1];	/* bytes 2 KB, 2 KB + 1 */
		constexpr uint32_t B0 = (2 * KB) & 3;

		lo = ((l0 >> (4 * (Q >> 1))) & 0x0f0f0f0fu) | (((h0 >> (2 * Q)) & 0x03030303u) << 4);
		hi = ((l1 >> (4 * (Q >> 1))) & 0x0f0f0f0fu) | (((h1 >> (2 * Q)) & 0x03030303u) << 4);
		/* d * int8 scale, exact: (1.5 2^23 + sc) * d - 1.5 2^23 d */
		s0 = fmaf(r.d, dsq::bits_f32(MAGIC + (uint32_t) (int32_t) (int8_t) (scw >> (8 * B0))), r.m);
		s1 = fmaf(r.d, dsq::bits_f32(MAGIC + (uint32_t) (int32_t) (int8_t) (scw >> (8 * B0 + 8))), r.m);
	}
}

/* w[i], i in 0..3 a runtime index, without local memory */
DS_HD uint32_t
pick4(uint32_t w0, uint32_t w1, uint32_t w2, uint32_t w3, int i)
{
	const uint32_t a = i & 1 ? w1 : w0,
				b = i & 1 ? w3 : w2;

	return i & 2 ? b : a;
}

/*
 * The row's scale factors s0, s1 of k-block kb (0..7, a runtime value) of
 * the tile at `a`: those of mfrag<T, kb>, bit for bit (the one-vector form
 * of q8mma.cuh needs them for the k-blocks of its lane's columns only).
 */
template <int T>
DS_HD void
mscale(const uint8_t *a, const MRow &r, int kb, float &s0, float &s1)
{
	if constexpr (T == DS_TYPE_Q4_0 || T == DS_TYPE_Q5_0 || T == DS_TYPE_Q8_0)
	{
		constexpr int BS = T == DS_TYPE_Q4_0 ? 18 : T == DS_TYPE_Q5_0 ? 22 : 34;

		s0 = f16_f32(ld_u16(a + BS * kb));
		s1 = 0.0f;
	}
	else if constexpr (T == DS_TYPE_Q4_1)
	{
		const uint32_t dm = ld_u32(a + 20 * kb);

		s0 = f16_f32(dm & 0xffff);
		s1 = f16_f32(dm >> 16);
	}
	else if constexpr (T == DS_TYPE_Q4_K || T == DS_TYPE_Q5_K)
	{
		const int	hi = kb >> 2,
					b = kb & 3;

		s0 = fmaf(dsq::bits_f32(r.w[6]), byte_f(hi ? r.w[1] : r.w[0], b), r.d);
		s1 = fmaf(-dsq::bits_f32(r.w[7]), byte_f(hi ? r.w[3] : r.w[2], b), r.m);
	}
	else if constexpr (T == DS_TYPE_Q6_K)
	{
		const uint32_t scw = pick4(r.w[0], r.w[1], r.w[2], r.w[3], kb >> 1);
		const int	b0 = (2 * kb) & 3;

		s0 = fmaf(r.d, dsq::bits_f32(MAGIC + (uint32_t) (int32_t) (int8_t) (scw >> (8 * b0))), r.m);
		s1 = fmaf(r.d, dsq::bits_f32(MAGIC + (uint32_t) (int32_t) (int8_t) (scw >> (8 * b0 + 8))), r.m);
	}
	(void) a;
	(void) r;
}

/*
 * One output value (row, vector) of one k-block: C (and C2, Q6_K's second
 * half) from the tensor cores, started at the record's offset; dx, ndxm =
 * -dx * MAGIC_F and u (dx * s for Q4_1 and the K-quants) of the vector;
 * s0, s1 of the row.  acc gathers the scaled integer products, macc the
 * min terms (added at the end).
 */
template <int T>
DS_HD void
mcomb(float &acc, float &macc, uint32_t C, uint32_t C2, float s0, float s1, float dx,
	  float ndxm, float u)
{
	acc = fmaf(s0, fmaf(dx, dsq::bits_f32(C), ndxm), acc);
	if constexpr (T == DS_TYPE_Q6_K)
		acc = fmaf(s1, fmaf(dx, dsq::bits_f32(C2), ndxm), acc);
	else if constexpr (T == DS_TYPE_Q4_1 || T == DS_TYPE_Q4_K || T == DS_TYPE_Q5_K)
		macc = fmaf(s1, u, macc);
	(void) C2;
	(void) u;
	(void) macc;
}

/* ---- F16/BF16 on the bf16 tensor cores (matvec_q8mma.cu) ------------- */

/*
 * Index (in 16-bit units) of the bf16 hi part of element e (0..15) of k16
 * group kk of vector v in x's B fragments: uint4 [kk][lane 4v + e / 4] =
 * {hi of e 4t, 4t+1; hi of 4t+2, 4t+3; lo ...; lo ...}; the lo part is 4
 * further.  Lane t takes elements 4t..4t+3 of each group (one 8-byte load
 * per weight row), so b0 / a0, a1 carry elements 4t, 4t+1 and b1 / a2, a3
 * elements 4t+2, 4t+3.
 */
DS_HD size_t
mma_xf_index(int kk, int v, int e)
{
	return ((size_t) kk * 32 + 4 * v + (e >> 2)) * 8 + (e & 3);
}

/*
 * F16 weights on the f16 tensor cores (k_prep_f16): the power of two 2^s
 * that brings a tile's max |x| m into [2^14, 2^15), so that x 2^s is exact
 * and its f16 hi + lo neither overflow nor lose the large elements' bits;
 * 0 for m = 0, NaN or infinite; s within [-126, 126].
 */
DS_HD int
f16_x_shift(float m)
{
	int			e;

	if (!(m > 0.0f) || !isfinite(m))
		return 0;
	(void) frexpf(m, &e);		/* 2^(e-1) <= m < 2^e */
	return 15 - e < -126 ? -126 : 15 - e > 126 ? 126 : 15 - e;
}

/* an f16 pair (low half first) as its two exact bf16 parts, as bf16 pairs */
DS_HD void
f16x2_split(uint32_t w, uint32_t &hi, uint32_t &lo)
{
	const float f0 = f16_f32(w & 0xffff),
				f1 = f16_f32(w >> 16);

	hi = dsq::pack_bf16x2(f0, f1);
	lo = dsq::pack_bf16x2(f0 - dsq::bf16_lo(hi), f1 - dsq::bf16_hi(hi));
}

}								/* namespace dsq8 */

#endif							/* DS_KERNELS_Q8DOT_CUH */
