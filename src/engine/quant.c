/*
 * quant.c -- type traits, half/bfloat16 conversion and the scalar reference
 * dequantizers for every supported GGUF weight type.
 *
 * The loops follow the block layouts in quant.h one element at a time; they
 * are the specification, not the fast path.
 */
#include <string.h>

#include "quant.h"

static const ds_type_traits type_traits[DS_TYPE_COUNT] = {
	[DS_TYPE_F32] = {"F32", 1, 4, true},
	[DS_TYPE_F16] = {"F16", 1, 2, true},
	[DS_TYPE_Q4_0] = {"Q4_0", DS_QK4_0, sizeof(ds_block_q4_0), true},
	[DS_TYPE_Q4_1] = {"Q4_1", DS_QK4_1, sizeof(ds_block_q4_1), true},
	[DS_TYPE_Q5_0] = {"Q5_0", DS_QK5_0, sizeof(ds_block_q5_0), true},
	[DS_TYPE_Q5_1] = {"Q5_1", DS_QK5_1, sizeof(ds_block_q5_1), true},
	[DS_TYPE_Q8_0] = {"Q8_0", DS_QK8_0, sizeof(ds_block_q8_0), true},
	[DS_TYPE_Q8_1] = {"Q8_1", 32, 36, false},
	[DS_TYPE_Q2_K] = {"Q2_K", DS_QK_K, 84, false},
	[DS_TYPE_Q3_K] = {"Q3_K", DS_QK_K, 110, false},
	[DS_TYPE_Q4_K] = {"Q4_K", DS_QK_K, sizeof(ds_block_q4_k), true},
	[DS_TYPE_Q5_K] = {"Q5_K", DS_QK_K, sizeof(ds_block_q5_k), true},
	[DS_TYPE_Q6_K] = {"Q6_K", DS_QK_K, sizeof(ds_block_q6_k), true},
	[DS_TYPE_Q8_K] = {"Q8_K", DS_QK_K, 292, false},
	[DS_TYPE_BF16] = {"BF16", 1, 2, true},
};

_Static_assert(sizeof(ds_block_q4_0) == 18, "Q4_0 block size");
_Static_assert(sizeof(ds_block_q4_1) == 20, "Q4_1 block size");
_Static_assert(sizeof(ds_block_q5_0) == 22, "Q5_0 block size");
_Static_assert(sizeof(ds_block_q5_1) == 24, "Q5_1 block size");
_Static_assert(sizeof(ds_block_q8_0) == 34, "Q8_0 block size");
_Static_assert(sizeof(ds_block_q4_k) == 144, "Q4_K block size");
_Static_assert(sizeof(ds_block_q5_k) == 176, "Q5_K block size");
_Static_assert(sizeof(ds_block_q6_k) == 210, "Q6_K block size");

/* Traits of a type id, or NULL when the id is not a known type. */
const ds_type_traits *
ds_type_info(int type)
{
	if (type < 0 || type >= DS_TYPE_COUNT || type_traits[type].name == NULL)
		return NULL;
	return &type_traits[type];
}

/* Printable name of a type id. */
const char *
ds_type_name(int type)
{
	const ds_type_traits *t = ds_type_info(type);

	return t ? t->name : "?";
}

/* Bytes in a row of n elements, 0 when n does not fill whole blocks. */
size_t
ds_row_size(int type, int64_t n)
{
	const ds_type_traits *t = ds_type_info(type);

	if (t == NULL || n < 0 || n % t->block_elems != 0)
		return 0;
	return (size_t) (n / t->block_elems) * (size_t) t->block_bytes;
}

static inline uint32_t
f32_bits(float f)
{
	uint32_t	u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static inline float
bits_f32(uint32_t u)
{
	float		f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

/* IEEE half to float, exact for normals, subnormals, infinities and NaN. */
float
ds_f16_to_f32(ds_f16 h)
{
	uint32_t	sign = (uint32_t) (h & 0x8000) << 16;
	uint32_t	exp = (h >> 10) & 0x1f;
	uint32_t	mant = h & 0x3ff;

	if (exp == 0)
	{
		/* zero or subnormal: mant * 2^-24 */
		float		v = (float) mant * (1.0f / 16777216.0f);

		return sign ? -v : v;
	}
	if (exp == 31)
		return bits_f32(sign | 0x7f800000u | (mant << 13));
	return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

/* Float to IEEE half with round-to-nearest-even; overflow gives infinity. */
ds_f16
ds_f32_to_f16(float f)
{
	uint32_t	x = f32_bits(f);
	uint32_t	sign = (x >> 16) & 0x8000;
	uint32_t	absx = x & 0x7fffffffu;

	if (absx > 0x7f800000u)
		return (ds_f16) (sign | 0x7e00);	/* NaN */
	if (absx >= 0x477ff000u)
		return (ds_f16) (sign | 0x7c00);	/* rounds to infinity */
	if (absx < 0x38800000u)
	{
		/* result is subnormal or zero: scale so that rounding is done by the FPU */
		float		v = bits_f32(absx) * 16777216.0f;	/* value in units of 2^-24 */
		uint32_t	q = (uint32_t) v;
		float		rem = v - (float) q;

		if (rem > 0.5f || (rem == 0.5f && (q & 1)))
			q++;
		return (ds_f16) (sign | q);
	}
	{
		uint32_t	mant = absx & 0x7fffff;
		uint32_t	exp = (absx >> 23) - 112;
		uint32_t	h = (exp << 10) | (mant >> 13);
		uint32_t	rest = mant & 0x1fff;

		if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
			h++;				/* may carry into the exponent: still correct */
		return (ds_f16) (sign | h);
	}
}

/* bfloat16 to float: the upper half of a float. */
float
ds_bf16_to_f32(ds_bf16 h)
{
	return bits_f32((uint32_t) h << 16);
}

/* Float to bfloat16 with round-to-nearest-even; NaN stays NaN. */
ds_bf16
ds_f32_to_bf16(float f)
{
	uint32_t	x = f32_bits(f);

	if ((x & 0x7fffffffu) > 0x7f800000u)
		return (ds_bf16) ((x >> 16) | 0x40);
	return (ds_bf16) ((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

static inline float
read_f16(const ds_f16 *p)
{
	ds_f16		h;

	memcpy(&h, p, sizeof(h));
	return ds_f16_to_f32(h);
}

/* Scale and min of sub-block j (0..7) from the packed 12-byte K-quant scales. */
void
ds_get_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
	if (j < 4)
	{
		*sc = q[j] & 63;
		*m = q[j + 4] & 63;
	}
	else
	{
		*sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
		*m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
	}
}

static void
dequant_q4_0(const ds_block_q4_0 *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++)
	{
		float		d = read_f16(&x[i].d);

		for (int j = 0; j < DS_QK4_0 / 2; j++)
		{
			y[i * 32 + j] = ((x[i].qs[j] & 0x0F) - 8) * d;
			y[i * 32 + j + 16] = ((x[i].qs[j] >> 4) - 8) * d;
		}
	}
}

static void
dequant_q4_1(const ds_block_q4_1 *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++)
	{
		float		d = read_f16(&x[i].d);
		float		m = read_f16(&x[i].m);

		for (int j = 0; j < DS_QK4_1 / 2; j++)
		{
			y[i * 32 + j] = (x[i].qs[j] & 0x0F) * d + m;
			y[i * 32 + j + 16] = (x[i].qs[j] >> 4) * d + m;
		}
	}
}

static void
dequant_q5_0(const ds_block_q5_0 *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++)
	{
		float		d = read_f16(&x[i].d);
		uint32_t	qh;

		memcpy(&qh, x[i].qh, sizeof(qh));
		for (int j = 0; j < DS_QK5_0 / 2; j++)
		{
			int			h0 = ((qh >> j) << 4) & 0x10;
			int			h1 = (qh >> (j + 12)) & 0x10;

			y[i * 32 + j] = (((x[i].qs[j] & 0x0F) | h0) - 16) * d;
			y[i * 32 + j + 16] = (((x[i].qs[j] >> 4) | h1) - 16) * d;
		}
	}
}

static void
dequant_q5_1(const ds_block_q5_1 *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++)
	{
		float		d = read_f16(&x[i].d);
		float		m = read_f16(&x[i].m);
		uint32_t	qh;

		memcpy(&qh, x[i].qh, sizeof(qh));
		for (int j = 0; j < DS_QK5_1 / 2; j++)
		{
			int			h0 = ((qh >> j) << 4) & 0x10;
			int			h1 = (qh >> (j + 12)) & 0x10;

			y[i * 32 + j] = ((x[i].qs[j] & 0x0F) | h0) * d + m;
			y[i * 32 + j + 16] = ((x[i].qs[j] >> 4) | h1) * d + m;
		}
	}
}

static void
dequant_q8_0(const ds_block_q8_0 *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++)
	{
		float		d = read_f16(&x[i].d);

		for (int j = 0; j < DS_QK8_0; j++)
			y[i * 32 + j] = x[i].qs[j] * d;
	}
}

static void
dequant_q4_k(const ds_block_q4_k *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++)
	{
		const uint8_t *q = x[i].qs;
		float		d = read_f16(&x[i].d);
		float		dmin = read_f16(&x[i].dmin);

		for (int j = 0, is = 0; j < DS_QK_K; j += 64, is += 2, q += 32)
		{
			uint8_t		sc,
						m;
			float		d1,
						m1,
						d2,
						m2;

			ds_get_scale_min_k4(is, x[i].scales, &sc, &m);
			d1 = d * sc;
			m1 = dmin * m;
			ds_get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
			d2 = d * sc;
			m2 = dmin * m;
			for (int l = 0; l < 32; l++)
				*y++ = d1 * (q[l] & 0xF) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * (q[l] >> 4) - m2;
		}
	}
}

static void
dequant_q5_k(const ds_block_q5_k *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++)
	{
		const uint8_t *ql = x[i].qs;
		const uint8_t *qh = x[i].qh;
		float		d = read_f16(&x[i].d);
		float		dmin = read_f16(&x[i].dmin);
		uint8_t		u1 = 1,
					u2 = 2;

		for (int j = 0, is = 0; j < DS_QK_K; j += 64, is += 2, ql += 32)
		{
			uint8_t		sc,
						m;
			float		d1,
						m1,
						d2,
						m2;

			ds_get_scale_min_k4(is, x[i].scales, &sc, &m);
			d1 = d * sc;
			m1 = dmin * m;
			ds_get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
			d2 = d * sc;
			m2 = dmin * m;
			for (int l = 0; l < 32; l++)
				*y++ = d1 * ((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * ((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
			u1 <<= 2;
			u2 <<= 2;
		}
	}
}

static void
dequant_q6_k(const ds_block_q6_k *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++)
	{
		const uint8_t *ql = x[i].ql;
		const uint8_t *qh = x[i].qh;
		const int8_t *sc = x[i].scales;
		float		d = read_f16(&x[i].d);

		for (int n = 0; n < DS_QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8)
		{
			for (int l = 0; l < 32; l++)
			{
				int			is = l / 16;
				int			q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
				int			q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
				int			q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
				int			q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;

				y[l + 0] = d * sc[is + 0] * q1;
				y[l + 32] = d * sc[is + 2] * q2;
				y[l + 64] = d * sc[is + 4] * q3;
				y[l + 96] = d * sc[is + 6] * q4;
			}
		}
	}
}

/* Dequantize n elements of one type into floats; false if unsupported. */
bool
ds_dequantize_row(int type, const void *src, float *dst, int64_t n)
{
	const ds_type_traits *t = ds_type_info(type);
	int64_t		nb;

	if (t == NULL || !t->supported || n % t->block_elems != 0)
		return false;
	nb = n / t->block_elems;
	switch (type)
	{
		case DS_TYPE_F32:
			memcpy(dst, src, (size_t) n * sizeof(float));
			return true;
		case DS_TYPE_F16:
			for (int64_t i = 0; i < n; i++)
				dst[i] = read_f16((const ds_f16 *) src + i);
			return true;
		case DS_TYPE_BF16:
			for (int64_t i = 0; i < n; i++)
			{
				ds_bf16		h;

				memcpy(&h, (const ds_bf16 *) src + i, sizeof(h));
				dst[i] = ds_bf16_to_f32(h);
			}
			return true;
		case DS_TYPE_Q4_0:
			dequant_q4_0(src, dst, nb);
			return true;
		case DS_TYPE_Q4_1:
			dequant_q4_1(src, dst, nb);
			return true;
		case DS_TYPE_Q5_0:
			dequant_q5_0(src, dst, nb);
			return true;
		case DS_TYPE_Q5_1:
			dequant_q5_1(src, dst, nb);
			return true;
		case DS_TYPE_Q8_0:
			dequant_q8_0(src, dst, nb);
			return true;
		case DS_TYPE_Q4_K:
			dequant_q4_k(src, dst, nb);
			return true;
		case DS_TYPE_Q5_K:
			dequant_q5_k(src, dst, nb);
			return true;
		case DS_TYPE_Q6_K:
			dequant_q6_k(src, dst, nb);
			return true;
	}
	return false;
}
