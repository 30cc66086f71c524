/*
 * qblock.cuh -- decoders of the GGUF weight blocks for the CUDA kernels.
 *
 * The block layouts are those of src/engine/quant.h, and quant.c's scalar
 * dequantizer is the specification every function here is tested against
 * (test/gpu/test_kernels_cpu.cpp runs them on the CPU: this header compiles
 * both under nvcc, for the device, and as plain C++).
 *
 * Vocabulary.  A row of K weights is cut into tiles of TILE_K elements (one
 * 256-element super-block for the K-quants, eight 32-element blocks for
 * Q4_0/Q4_1/Q5_0/Q8_0, 128 elements for F16/BF16); a tile is cut into
 * groups of 32 elements.  Within a group the weight is
 *     w = s * A + c
 * where A is a small integer (128 + q for the unsigned quants, q for Q8_0)
 * held exactly in bf16, and (s, c) is the f32 scale pair of the group's
 * scale group (SG elements: 32, or 16 for Q6_K).  F16 and BF16 have no
 * scale (SG = 0): A is the weight itself, F16 as two exact bf16 parts.
 *
 * frag() gives one lane's share of a group in the register layout of the
 * tensor-core instruction mma.m16n8k16: four 32-bit registers, each a pair
 * of bf16.  Register r of lane t (t = lane % 4) holds the elements
 * kmap(t, r, 0) (low half) and kmap(t, r, 1) (high half) of the group;
 * registers 0 and 1 feed the first k16 step and 2 and 3 the second.  The
 * order of k inside a product does not matter as long as x is laid out with
 * the same map, so each type uses the order that is cheapest to unpack.
 * With SG = 16 each k16 step lies inside one scale group.
 *
 * dequant8() gives 8 consecutive weights in natural order with the
 * reference's arithmetic (no contraction into FMA), for the dequantize
 * and embedding kernels.
 *
 * Tile data may sit at any 2-byte alignment (18-, 22-, 34- and 210-byte
 * blocks), so loads here are as wide as the layout allows and no wider.
 */
#ifndef DS_KERNELS_QBLOCK_CUH
#define DS_KERNELS_QBLOCK_CUH

#include <stdint.h>
#include <string.h>

#include "quant.h"

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#define DS_HD __host__ __device__ __forceinline__
#else
#define DS_HD inline
#endif

namespace dsq
{

/* ---- loads and bit tools that run the same on host and device --------- */

DS_HD uint32_t
ld_u16(const uint8_t *p)
{
#if defined(__CUDA_ARCH__)
	return *(const uint16_t *) p;
#else
	uint16_t	v;

	memcpy(&v, p, 2);
	return v;
#endif
}

/* p must be 4-byte aligned */
DS_HD uint32_t
ld_u32(const uint8_t *p)
{
#if defined(__CUDA_ARCH__)
	return *(const uint32_t *) p;
#else
	uint32_t	v;

	memcpy(&v, p, 4);
	return v;
#endif
}

/* p 2-byte aligned */
DS_HD uint32_t
ld_u32_a2(const uint8_t *p)
{
	return ld_u16(p) | (ld_u16(p + 2) << 16);
}

/* p 8-byte aligned */
DS_HD void
ld_u32x2(const uint8_t *p, uint32_t w[2])
{
#if defined(__CUDA_ARCH__)
	uint2		v = *(const uint2 *) p;

	w[0] = v.x;
	w[1] = v.y;
#else
	memcpy(w, p, 8);
#endif
}

/* p 16-byte aligned */
DS_HD void
ld_u32x4(const uint8_t *p, uint32_t w[4])
{
#if defined(__CUDA_ARCH__)
	uint4		v = *(const uint4 *) p;

	w[0] = v.x;
	w[1] = v.y;
	w[2] = v.z;
	w[3] = v.w;
#else
	memcpy(w, p, 16);
#endif
}

/* Byte permute: byte i of the result is byte (s >> 4i) & 7 of {b:a}. */
DS_HD uint32_t
prmt(uint32_t a, uint32_t b, uint32_t s)
{
#if defined(__CUDA_ARCH__)
	return __byte_perm(a, b, s);
#else
	uint64_t	v = ((uint64_t) b << 32) | a;
	uint32_t	r = 0;

	for (int i = 0; i < 4; i++)
		r |= (uint32_t) ((v >> (8 * ((s >> (4 * i)) & 7))) & 0xff) << (8 * i);
	return r;
#endif
}

DS_HD float
bits_f32(uint32_t u)
{
#if defined(__CUDA_ARCH__)
	return __uint_as_float(u);
#else
	float		f;

	memcpy(&f, &u, 4);
	return f;
#endif
}

DS_HD uint32_t
f32_bits(float f)
{
#if defined(__CUDA_ARCH__)
	return __float_as_uint(f);
#else
	uint32_t	u;

	memcpy(&u, &f, 4);
	return u;
#endif
}

DS_HD float
f16_f32(uint32_t h)
{
#if defined(__CUDA_ARCH__)
	return __half2float(__ushort_as_half((unsigned short) h));
#else
	return ds_f16_to_f32((ds_f16) h);
#endif
}

/* Two floats to a bf16 pair (lo in the low half), round to nearest even. */
DS_HD uint32_t
pack_bf16x2(float lo, float hi)
{
#if defined(__CUDA_ARCH__)
	__nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);

	return *(uint32_t *) &v;
#else
	return (uint32_t) ds_f32_to_bf16(lo) | ((uint32_t) ds_f32_to_bf16(hi) << 16);
#endif
}

/* The bf16 halves of a pair as floats. */
DS_HD float
bf16_lo(uint32_t v)
{
	return bits_f32(v << 16);
}

DS_HD float
bf16_hi(uint32_t v)
{
	return bits_f32(v & 0xffff0000u);
}

/* IEEE products and sums that the compiler must not fuse (reference order). */
DS_HD float
fmul(float a, float b)
{
#if defined(__CUDA_ARCH__)
	return __fmul_rn(a, b);
#else
	return a * b;
#endif
}

DS_HD float
fsub(float a, float b)
{
#if defined(__CUDA_ARCH__)
	return __fsub_rn(a, b);
#else
	return a - b;
#endif
}

DS_HD float
fadd(float a, float b)
{
#if defined(__CUDA_ARCH__)
	return __fadd_rn(a, b);
#else
	return a + b;
#endif
}

/* bf16 pair (128 + lo, 128 + hi) from two values 0..127 already in place */
constexpr uint32_t MAGIC2 = 0x43004300u;
/* bytes 0x43 to pair with bytes 0..127 through prmt */
constexpr uint32_t MAGIC4 = 0x43434343u;
/* prmt selectors: (byte 0, byte 1) and (byte 2, byte 3) of a, each under 0x43 */
constexpr uint32_t SEL01 = 0x4140u;
constexpr uint32_t SEL23 = 0x4342u;

/* The 6-bit scales and mins of sub-blocks 4h .. 4h+3 of a Q4_K/Q5_K block,
 * one per byte (quant.c ds_get_scale_min_k4, four at a time). */
DS_HD void
k4_scales(const uint8_t *sc12, int h, uint32_t *sc4, uint32_t *m4)
{
	uint32_t	w0 = ld_u32(sc12),
				w1 = ld_u32(sc12 + 4),
				w2 = ld_u32(sc12 + 8);

	if (h == 0)
	{
		*sc4 = w0 & 0x3f3f3f3fu;
		*m4 = w1 & 0x3f3f3f3fu;
	}
	else
	{
		*sc4 = (w2 & 0x0f0f0f0fu) | ((w0 >> 2) & 0x30303030u);
		*m4 = ((w2 >> 4) & 0x0f0f0f0fu) | ((w1 >> 2) & 0x30303030u);
	}
}

/* Traits and decoders of weight type T (a ds_type id). */
template <int T>
struct Q;

/* ---- Q4_0: 18-byte blocks {f16 d; u8 qs[16]}, w = d * (q - 8) ---------- */
template <>
struct Q<DS_TYPE_Q4_0>
{
	static constexpr int TILE_K = 256;	/* 8 blocks */
	static constexpr int TILE_B = 144;
	static constexpr int GROUP_B = 18;	/* bytes per 32-element group */
	static constexpr int SG = 32;
	static constexpr int NPL = 1;
	static constexpr int PITCH = 176;	/* shared-memory row pitch, see matvec.cu */
	static constexpr int ALIGN = 2;	/* alignment of every tile in a row */

	/* byte j of qs holds elements j (low nibble) and j + 16 (high) */
	DS_HD static constexpr int kmap(int t, int r, int h)
	{
		return 4 * t + (r & 1) * 16 + (r >> 1) + 2 * h;
	}

	DS_HD static void frag(const uint8_t *tile, int grp, int t, uint32_t a[1][4])
	{
		uint32_t	w = ld_u32_a2(tile + grp * 18 + 2 + 4 * t);

		a[0][0] = (w & 0x000f000fu) | MAGIC2;	/* 4t, 4t+2 */
		a[0][1] = ((w >> 4) & 0x000f000fu) | MAGIC2;	/* 4t+16, 4t+18 */
		a[0][2] = ((w >> 8) & 0x000f000fu) | MAGIC2;	/* 4t+1, 4t+3 */
		a[0][3] = ((w >> 12) & 0x000f000fu) | MAGIC2;	/* 4t+17, 4t+19 */
	}

	/* scale pairs of the 4 blocks 4h .. 4h+3 of a tile */
	DS_HD static void scales_half(const uint8_t *tile, int h, float s[4], float c[4])
	{
		for (int i = 0; i < 4; i++)
		{
			float		d = f16_f32(ld_u16(tile + (4 * h + i) * 18));

			s[i] = d;
			c[i] = -136.0f * d;
		}
	}

	DS_HD static void dequant8(const uint8_t *tile, int j, float v[8])
	{
		const uint8_t *b = tile + (j >> 2) * 18;
		int			e0 = (j & 3) * 8;
		float		d = f16_f32(ld_u16(b));

		for (int i = 0; i < 8; i++)
		{
			int			e = e0 + i;
			int			q = e < 16 ? (b[2 + e] & 0x0f) : (b[2 + e - 16] >> 4);

			v[i] = fmul((float) (q - 8), d);
		}
	}
};

/* ---- Q4_1: 20-byte blocks {f16 d, m; u8 qs[16]}, w = d * q + m ---------- */
template <>
struct Q<DS_TYPE_Q4_1>
{
	static constexpr int TILE_K = 256;
	static constexpr int TILE_B = 160;
	static constexpr int GROUP_B = 20;
	static constexpr int SG = 32;
	static constexpr int NPL = 1;
	static constexpr int PITCH = 176;
	static constexpr int ALIGN = 4;	/* alignment of every tile in a row */

	DS_HD static constexpr int kmap(int t, int r, int h)
	{
		return 4 * t + (r & 1) * 16 + (r >> 1) + 2 * h;
	}

	/* 20-byte blocks keep the 4-byte alignment of the row */
	DS_HD static void frag(const uint8_t *tile, int grp, int t, uint32_t a[1][4])
	{
		uint32_t	w = ld_u32(tile + grp * 20 + 4 + 4 * t);

		a[0][0] = (w & 0x000f000fu) | MAGIC2;
		a[0][1] = ((w >> 4) & 0x000f000fu) | MAGIC2;
		a[0][2] = ((w >> 8) & 0x000f000fu) | MAGIC2;
		a[0][3] = ((w >> 12) & 0x000f000fu) | MAGIC2;
	}

	DS_HD static void scales_half(const uint8_t *tile, int h, float s[4], float c[4])
	{
		for (int i = 0; i < 4; i++)
		{
			uint32_t	dm = ld_u32(tile + (4 * h + i) * 20);
			float		d = f16_f32(dm & 0xffff);
			float		m = f16_f32(dm >> 16);

			s[i] = d;
			c[i] = m - 128.0f * d;
		}
	}

	DS_HD static void dequant8(const uint8_t *tile, int j, float v[8])
	{
		const uint8_t *b = tile + (j >> 2) * 20;
		int			e0 = (j & 3) * 8;
		float		d = f16_f32(ld_u16(b));
		float		m = f16_f32(ld_u16(b + 2));

		for (int i = 0; i < 8; i++)
		{
			int			e = e0 + i;
			int			q = e < 16 ? (b[4 + e] & 0x0f) : (b[4 + e - 16] >> 4);

			v[i] = fadd(fmul((float) q, d), m);
		}
	}
};

/* ---- Q5_0: 22-byte blocks {f16 d; u8 qh[4]; u8 qs[16]}, w = d * (q - 16) */
template <>
struct Q<DS_TYPE_Q5_0>
{
	static constexpr int TILE_K = 256;
	static constexpr int TILE_B = 176;
	static constexpr int GROUP_B = 22;
	static constexpr int SG = 32;
	static constexpr int NPL = 1;
	static constexpr int PITCH = 208;
	static constexpr int ALIGN = 2;	/* alignment of every tile in a row */

	/* register r pairs the two nibbles of byte 4t + r: elements j, j + 16 */
	DS_HD static constexpr int kmap(int t, int r, int h)
	{
		return 4 * t + r + 16 * h;
	}

	DS_HD static void frag(const uint8_t *tile, int grp, int t, uint32_t a[1][4])
	{
		const uint8_t *b = tile + grp * 22;
		uint32_t	w = ld_u32_a2(b + 6 + 4 * t);
		uint32_t	w4 = w >> 4;
		uint32_t	hs = ld_u32_a2(b + 2) >> (4 * t);	/* bit i: element 4t+i */

#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
		for (int r = 0; r < 4; r++)
		{
			/* low nibble of byte r at bits 0..3, high nibble at 16..19 */
			uint32_t	v = prmt(w, w4, (uint32_t) (r | (r << 4) | ((4 + r) << 8) | ((4 + r) << 12)));
			/* fifth bits of elements 4t+r and 4t+r+16 to bits 4 and 20 */
			uint32_t	hb = (hs << (4 - r)) & 0x00100010u;

			a[0][r] = (v & 0x000f000fu) | hb | MAGIC2;
		}
	}

	DS_HD static void scales_half(const uint8_t *tile, int h, float s[4], float c[4])
	{
		for (int i = 0; i < 4; i++)
		{
			float		d = f16_f32(ld_u16(tile + (4 * h + i) * 22));

			s[i] = d;
			c[i] = -144.0f * d;
		}
	}

	DS_HD static void dequant8(const uint8_t *tile, int j, float v[8])
	{
		const uint8_t *b = tile + (j >> 2) * 22;
		int			e0 = (j & 3) * 8;
		float		d = f16_f32(ld_u16(b));
		uint32_t	qh = ld_u32_a2(b + 2);

		for (int i = 0; i < 8; i++)
		{
			int			e = e0 + i;
			int			q;

			if (e < 16)
				q = (b[6 + e] & 0x0f) | (((qh >> e) << 4) & 0x10);
			else
				q = (b[6 + e - 16] >> 4) | ((qh >> (e - 16 + 12)) & 0x10);
			v[i] = fmul((float) (q - 16), d);
		}
	}
};

/* ---- Q8_0: 34-byte blocks {f16 d; i8 qs[32]}, w = d * q ---------------- */
template <>
struct Q<DS_TYPE_Q8_0>
{
	static constexpr int TILE_K = 256;
	static constexpr int TILE_B = 272;
	static constexpr int GROUP_B = 34;
	static constexpr int SG = 32;
	static constexpr int NPL = 1;
	static constexpr int PITCH = 288;
	static constexpr int ALIGN = 2;	/* alignment of every tile in a row */

	DS_HD static constexpr int kmap(int t, int r, int h)
	{
		return 8 * t + 2 * r + h;
	}

	/* signed byte i of w as an exact float: 2^23 + (q ^ 0x80) - (2^23 + 128) */
	DS_HD static float s8(uint32_t wb, int i)
	{
		return bits_f32(prmt(wb, 0x4b000000u, (uint32_t) (i | 0x7540))) - 8388736.0f;
	}

	DS_HD static void frag(const uint8_t *tile, int grp, int t, uint32_t a[1][4])
	{
		const uint8_t *q = tile + grp * 34 + 2 + 8 * t;
		uint32_t	w0 = ld_u32_a2(q) ^ 0x80808080u;
		uint32_t	w1 = ld_u32_a2(q + 4) ^ 0x80808080u;

		a[0][0] = pack_bf16x2(s8(w0, 0), s8(w0, 1));
		a[0][1] = pack_bf16x2(s8(w0, 2), s8(w0, 3));
		a[0][2] = pack_bf16x2(s8(w1, 0), s8(w1, 1));
		a[0][3] = pack_bf16x2(s8(w1, 2), s8(w1, 3));
	}

	DS_HD static void scales_half(const uint8_t *tile, int h, float s[4], float c[4])
	{
		for (int i = 0; i < 4; i++)
		{
			s[i] = f16_f32(ld_u16(tile + (4 * h + i) * 34));
			c[i] = 0.0f;
		}
	}

	DS_HD static void dequant8(const uint8_t *tile, int j, float v[8])
	{
		const uint8_t *b = tile + (j >> 2) * 34;
		int			e0 = (j & 3) * 8;
		float		d = f16_f32(ld_u16(b));

		for (int i = 0; i < 8; i++)
			v[i] = fmul((float) (int8_t) b[2 + e0 + i], d);
	}
};

/*
 * ---- Q4_K: 144-byte super-blocks {f16 d, dmin; u8 scales[12]; u8 qs[128]}
 * Sub-block j (32 elements): w = d * sc_j * q - dmin * m_j, q the low
 * (j even) or high (j odd) nibbles of qs[32 * (j / 2) .. + 31].
 */
template <>
struct Q<DS_TYPE_Q4_K>
{
	static constexpr int TILE_K = 256;
	static constexpr int TILE_B = 144;
	static constexpr int GROUP_B = 0;	/* groups are not separate blocks */
	static constexpr int SG = 32;
	static constexpr int NPL = 1;
	static constexpr int PITCH = 160;
	static constexpr int ALIGN = 16;	/* alignment of every tile in a row */

	DS_HD static constexpr int kmap(int t, int r, int h)
	{
		return 8 * t + 2 * r + h;
	}

	DS_HD static void frag(const uint8_t *tile, int grp, int t, uint32_t a[1][4])
	{
		uint32_t	w[2];
		int			sh = 4 * (grp & 1);

		ld_u32x2(tile + 16 + 32 * (grp >> 1) + 8 * t, w);

		uint32_t	v0 = (w[0] >> sh) & 0x0f0f0f0fu;
		uint32_t	v1 = (w[1] >> sh) & 0x0f0f0f0fu;

		a[0][0] = prmt(v0, MAGIC4, SEL01);
		a[0][1] = prmt(v0, MAGIC4, SEL23);
		a[0][2] = prmt(v1, MAGIC4, SEL01);
		a[0][3] = prmt(v1, MAGIC4, SEL23);
	}

	DS_HD static void scales_half(const uint8_t *tile, int h, float s[4], float c[4])
	{
		uint32_t	dd = ld_u32(tile);
		float		d = f16_f32(dd & 0xffff);
		float		dmin = f16_f32(dd >> 16);
		uint32_t	sc4,
					m4;

		k4_scales(tile + 4, h, &sc4, &m4);
		for (int i = 0; i < 4; i++)
		{
			float		d1 = fmul(d, (float) ((sc4 >> (8 * i)) & 0xff));
			float		m1 = fmul(dmin, (float) ((m4 >> (8 * i)) & 0xff));

			s[i] = d1;
			c[i] = -(128.0f * d1 + m1);
		}
	}

	DS_HD static void dequant8(const uint8_t *tile, int j, float v[8])
	{
		int			sub = j >> 2;	/* sub-block 0..7 */
		int			l0 = (j & 3) * 8;
		uint32_t	sc4,
					m4;
		float		d = f16_f32(ld_u16(tile));
		float		dmin = f16_f32(ld_u16(tile + 2));

		k4_scales(tile + 4, sub >> 2, &sc4, &m4);
		float		d1 = fmul(d, (float) ((sc4 >> (8 * (sub & 3))) & 0xff));
		float		m1 = fmul(dmin, (float) ((m4 >> (8 * (sub & 3))) & 0xff));
		const uint8_t *q = tile + 16 + 32 * (sub >> 1) + l0;

		for (int i = 0; i < 8; i++)
			v[i] = fsub(fmul(d1, (float) ((q[i] >> (4 * (sub & 1))) & 0x0f)), m1);
	}
};

/*
 * ---- Q5_K: 176-byte super-blocks {f16 d, dmin; u8 scales[12]; u8 qh[32];
 * u8 qs[128]}: Q4_K plus a fifth bit, bit j of qh[l] for element l of
 * sub-block j.
 */
template <>
struct Q<DS_TYPE_Q5_K>
{
	static constexpr int TILE_K = 256;
	static constexpr int TILE_B = 176;
	static constexpr int GROUP_B = 0;
	static constexpr int SG = 32;
	static constexpr int NPL = 1;
	static constexpr int PITCH = 224;
	static constexpr int ALIGN = 16;	/* alignment of every tile in a row */

	DS_HD static constexpr int kmap(int t, int r, int h)
	{
		return 8 * t + 2 * r + h;
	}

	/* four 5-bit values, one per byte, from nibble word w and qh word h */
	DS_HD static uint32_t q5(uint32_t w, uint32_t h, int grp)
	{
		return ((w >> (4 * (grp & 1))) & 0x0f0f0f0fu) | (((h >> grp) & 0x01010101u) << 4);
	}

	DS_HD static void frag(const uint8_t *tile, int grp, int t, uint32_t a[1][4])
	{
		uint32_t	q[2],
					qh[2];

		ld_u32x2(tile + 48 + 32 * (grp >> 1) + 8 * t, q);
		ld_u32x2(tile + 16 + 8 * t, qh);

		uint32_t	v0 = q5(q[0], qh[0], grp);
		uint32_t	v1 = q5(q[1], qh[1], grp);

		a[0][0] = prmt(v0, MAGIC4, SEL01);
		a[0][1] = prmt(v0, MAGIC4, SEL23);
		a[0][2] = prmt(v1, MAGIC4, SEL01);
		a[0][3] = prmt(v1, MAGIC4, SEL23);
	}

	DS_HD static void scales_half(const uint8_t *tile, int h, float s[4], float c[4])
	{
		Q<DS_TYPE_Q4_K>::scales_half(tile, h, s, c);
	}

	DS_HD static void dequant8(const uint8_t *tile, int j, float v[8])
	{
		int			sub = j >> 2;
		int			l0 = (j & 3) * 8;
		uint32_t	sc4,
					m4;
		float		d = f16_f32(ld_u16(tile));
		float		dmin = f16_f32(ld_u16(tile + 2));

		k4_scales(tile + 4, sub >> 2, &sc4, &m4);
		float		d1 = fmul(d, (float) ((sc4 >> (8 * (sub & 3))) & 0xff));
		float		m1 = fmul(dmin, (float) ((m4 >> (8 * (sub & 3))) & 0xff));
		const uint8_t *q = tile + 48 + 32 * (sub >> 1) + l0;
		const uint8_t *qh = tile + 16 + l0;

		for (int i = 0; i < 8; i++)
		{
			int			qv = ((q[i] >> (4 * (sub & 1))) & 0x0f) + (((qh[i] >> sub) & 1) ? 16 : 0);

			v[i] = fsub(fmul(d1, (float) qv), m1);
		}
	}
};

/*
 * ---- Q6_K: 210-byte super-blocks {u8 ql[128]; u8 qh[64]; i8 scales[16];
 * f16 d}: two halves of 128; in half n, element 32qq + l (qq 0..3, l 0..31)
 * is q = ql[64n + 32(qq&1) + l] nibble (qq>>1) | ((qh[32n + l] >> 2qq) & 3) << 4,
 * w = d * scales[8n + (32qq + l) / 16] * (q - 32).  Group g = 4n + qq.
 */
template <>
struct Q<DS_TYPE_Q6_K>
{
	static constexpr int TILE_K = 256;
	static constexpr int TILE_B = 210;
	static constexpr int GROUP_B = 0;
	static constexpr int SG = 16;
	static constexpr int NPL = 1;
	static constexpr int PITCH = 240;
	static constexpr int ALIGN = 2;	/* alignment of every tile in a row */

	/* registers 0,1: l = 4t..4t+3; registers 2,3: l = 16+4t..16+4t+3 */
	DS_HD static constexpr int kmap(int t, int r, int h)
	{
		return (r >> 1) * 16 + 4 * t + 2 * (r & 1) + h;
	}

	DS_HD static void frag(const uint8_t *tile, int grp, int t, uint32_t a[1][4])
	{
		int			n = grp >> 2,
					qq = grp & 3;
		const uint8_t *ql = tile + 64 * n + 32 * (qq & 1) + 4 * t;
		const uint8_t *qh = tile + 128 + 32 * n + 4 * t;

#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
		for (int m = 0; m < 2; m++)
		{
			uint32_t	wl = ld_u32_a2(ql + 16 * m);
			uint32_t	wh = ld_u32_a2(qh + 16 * m);
			uint32_t	v = ((wl >> (4 * (qq >> 1))) & 0x0f0f0f0fu) |
				(((wh >> (2 * qq)) & 0x03030303u) << 4);

			a[0][2 * m] = prmt(v, MAGIC4, SEL01);
			a[0][2 * m + 1] = prmt(v, MAGIC4, SEL23);
		}
	}

	/* scale pairs of the 8 sixteen-element scale groups 8h .. 8h+7 */
	DS_HD static void scales_half(const uint8_t *tile, int h, float s[8], float c[8])
	{
		float		d = f16_f32(ld_u16(tile + 208));
		uint32_t	w0 = ld_u32_a2(tile + 192 + 8 * h);
		uint32_t	w1 = ld_u32_a2(tile + 196 + 8 * h);

		for (int i = 0; i < 8; i++)
		{
			int			sc = (int8_t) (((i < 4 ? w0 : w1) >> (8 * (i & 3))) & 0xff);

			s[i] = fmul(d, (float) sc);
			c[i] = -160.0f * s[i];
		}
	}

	DS_HD static void dequant8(const uint8_t *tile, int j, float v[8])
	{
		int			e = 8 * j;
		int			n = e >> 7,
					e1 = e & 127;
		int			qq = e1 >> 5,
					l0 = e1 & 31;
		float		d = f16_f32(ld_u16(tile + 208));
		float		ds = fmul(d, (float) (int8_t) tile[192 + 8 * n + e1 / 16]);
		const uint8_t *ql = tile + 64 * n + 32 * (qq & 1) + l0;
		const uint8_t *qh = tile + 128 + 32 * n + l0;

		for (int i = 0; i < 8; i++)
		{
			int			q = (((ql[i] >> (4 * (qq >> 1))) & 0x0f) |
							 (((qh[i] >> (2 * qq)) & 3) << 4)) - 32;

			v[i] = fmul(ds, (float) q);
		}
	}
};

/* ---- F16: A is the weight as two exact bf16 parts (11 = 8 + 3 bits) ---- */
template <>
struct Q<DS_TYPE_F16>
{
	static constexpr int TILE_K = 128;
	static constexpr int TILE_B = 256;
	static constexpr int GROUP_B = 64;
	static constexpr int SG = 0;
	static constexpr int NPL = 2;
	static constexpr int PITCH = 320;
	static constexpr int ALIGN = 16;	/* alignment of every tile in a row */

	DS_HD static constexpr int kmap(int t, int r, int h)
	{
		return 8 * t + 2 * r + h;
	}

	/* p must be 16-byte aligned (rows are: K is a multiple of 32) */
	DS_HD static void frag(const uint8_t *tile, int grp, int t, uint32_t a[2][4])
	{
		uint32_t	w[4];

		ld_u32x4(tile + 64 * grp + 16 * t, w);
		for (int r = 0; r < 4; r++)
		{
			float		f0 = f16_f32(w[r] & 0xffff);
			float		f1 = f16_f32(w[r] >> 16);
			float		h0 = bits_f32(f32_bits(f0) & 0xffff0000u);
			float		h1 = bits_f32(f32_bits(f1) & 0xffff0000u);

			a[0][r] = prmt(f32_bits(f0), f32_bits(f1), 0x7632u);
			a[1][r] = pack_bf16x2(f0 - h0, f1 - h1);
		}
	}

	DS_HD static void dequant8(const uint8_t *tile, int j, float v[8])
	{
		for (int i = 0; i < 8; i++)
			v[i] = f16_f32(ld_u16(tile + 16 * j + 2 * i));
	}
};

/* ---- BF16: A is the weight ------------------------------------------- */
template <>
struct Q<DS_TYPE_BF16>
{
	static constexpr int TILE_K = 128;
	static constexpr int TILE_B = 256;
	static constexpr int GROUP_B = 64;
	static constexpr int SG = 0;
	static constexpr int NPL = 1;
	static constexpr int PITCH = 320;
	static constexpr int ALIGN = 16;	/* alignment of every tile in a row */

	DS_HD static constexpr int kmap(int t, int r, int h)
	{
		return 8 * t + 2 * r + h;
	}

	DS_HD static void frag(const uint8_t *tile, int grp, int t, uint32_t a[1][4])
	{
		ld_u32x4(tile + 64 * grp + 16 * t, a[0]);
	}

	DS_HD static void dequant8(const uint8_t *tile, int j, float v[8])
	{
		for (int i = 0; i < 8; i++)
			v[i] = bits_f32(ld_u16(tile + 16 * j + 2 * i) << 16);
	}
};

/* ---- F32: only natural-order decoding (dequantize, embed, x to bf16) ---- */
template <>
struct Q<DS_TYPE_F32>
{
	static constexpr int TILE_K = 128;
	static constexpr int TILE_B = 512;
	static constexpr int GROUP_B = 128;

	DS_HD static void dequant8(const uint8_t *tile, int j, float v[8])
	{
		for (int i = 0; i < 8; i++)
			v[i] = bits_f32(ld_u32(tile + 32 * j + 4 * i));
	}
};

/* Bytes of a tile of ng groups (a K-quant tile is always whole). */
template <int T>
DS_HD constexpr int
tile_bytes(int ng)
{
	return Q<T>::GROUP_B ? ng * Q<T>::GROUP_B : Q<T>::TILE_B;
}

/* X(type) for every weight type with a decoder, to build switch statements. */
#define DSQ_FOR_EACH_TYPE(X) \
	X(DS_TYPE_Q4_0) X(DS_TYPE_Q4_1) X(DS_TYPE_Q5_0) X(DS_TYPE_Q8_0) \
	X(DS_TYPE_Q4_K) X(DS_TYPE_Q5_K) X(DS_TYPE_Q6_K) X(DS_TYPE_F16) X(DS_TYPE_BF16)

}								/* namespace dsq */

#endif							/* DS_KERNELS_QBLOCK_CUH */
