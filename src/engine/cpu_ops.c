/*
 * cpu_ops.c -- activation quantization, the scalar dot-product kernels (the
 * specification of the fast ones), run-time kernel selection and the matmul
 * tile loop.  The AVX2 and VNNI kernels are generated from cpu_simd.h.
 */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "cpu_ops.h"

/* A half-precision scale as float. */
static inline float
h2f(ds_f16 h)
{
	return ds_f16_to_f32(h);
}

/* Round to nearest, ties to even (what the vector quantizers do). */
static inline int
round_even(float x)
{
	return (int) nearbyintf(x);
}

/* ---------------------------------------------------------------------------
 * Activation quantization
 */

/* Quantize 32 floats into one q8a block; the scale is rounded to half precision. */
static void
quantize_q8a_block(const float *x, ds_block_q8a *y)
{
	float		amax = 0.0f;
	float		d,
				id;
	int			sum = 0;

	for (int j = 0; j < 32; j++)
		amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
	d = amax / 127.0f;
	id = amax != 0.0f ? 127.0f / amax : 0.0f;
	for (int j = 0; j < 32; j++)
	{
		int			q = round_even(x[j] * id);

		q = q > 127 ? 127 : (q < -127 ? -127 : q);
		y->qs[j] = (int8_t) q;
		sum += q;
	}
	y->d = h2f(ds_f32_to_f16(d));
	y->s = y->d * (float) sum;
}

/* Quantize 256 floats into one q8k block (float scale, 16 partial sums). */
static void
quantize_q8k_block(const float *x, ds_block_q8k *y)
{
	float		amax = 0.0f;
	float		iscale;

	for (int j = 0; j < 256; j++)
		amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
	iscale = amax != 0.0f ? 127.0f / amax : 0.0f;
	for (int j = 0; j < 256; j++)
	{
		int			q = round_even(x[j] * iscale);

		y->qs[j] = (int8_t) (q > 127 ? 127 : (q < -127 ? -127 : q));
	}
	for (int g = 0; g < 16; g++)
	{
		int			s = 0;

		for (int j = 0; j < 16; j++)
			s += y->qs[g * 16 + j];
		y->bsums[g] = (int16_t) s;
	}
	y->d = amax != 0.0f ? 1.0f / iscale : 0.0f;
}

/* Activation form that goes with a weight type. */
ds_act_kind
ds_act_kind_for(int wtype)
{
	switch (wtype)
	{
		case DS_TYPE_Q4_0:
		case DS_TYPE_Q4_1:
		case DS_TYPE_Q5_0:
		case DS_TYPE_Q5_1:
		case DS_TYPE_Q8_0:
			return DS_ACT_Q8;
		case DS_TYPE_Q4_K:
		case DS_TYPE_Q5_K:
		case DS_TYPE_Q6_K:
			return DS_ACT_Q8K;
	}
	return DS_ACT_F32;
}

/* Bytes of one activation row of n values in a given form. */
size_t
ds_act_row_bytes(ds_act_kind kind, int64_t n)
{
	switch (kind)
	{
		case DS_ACT_Q8:
			return (size_t) (n / 32) * sizeof(ds_block_q8a);
		case DS_ACT_Q8K:
			return (size_t) (n / 256) * sizeof(ds_block_q8k);
		case DS_ACT_F32:
			break;
	}
	return (size_t) n * sizeof(float);
}

/* Plain quantization of a row into q8a blocks. */
static void
quantize_q8a_plain(const float *x, void *out, int64_t n)
{
	for (int64_t b = 0; b < n / 32; b++)
		quantize_q8a_block(x + b * 32, (ds_block_q8a *) out + b);
}

/* Plain quantization of a row into q8k blocks. */
static void
quantize_q8k_plain(const float *x, void *out, int64_t n)
{
	for (int64_t b = 0; b < n / 256; b++)
		quantize_q8k_block(x + b * 256, (ds_block_q8k *) out + b);
}

/* The values a quantized activation row represents. */
void
ds_dequantize_act_row(ds_act_kind kind, const void *in, float *x, int64_t n)
{
	if (kind == DS_ACT_Q8)
		for (int64_t i = 0; i < n; i++)
		{
			const ds_block_q8a *b = (const ds_block_q8a *) in + i / 32;

			x[i] = b->d * b->qs[i % 32];
		}
	else if (kind == DS_ACT_Q8K)
		for (int64_t i = 0; i < n; i++)
		{
			const ds_block_q8k *b = (const ds_block_q8k *) in + i / 256;

			x[i] = b->d * b->qs[i % 256];
		}
	else
		memcpy(x, in, (size_t) n * sizeof(float));
}

/* ---------------------------------------------------------------------------
 * Scalar kernels: one activation row at a time, integer sums per block.
 */

#define ACT_ROW(va, r, as) ((const void *) ((const char *) (va) + (size_t) (r) * (as)))

/* Q4_0 x q8a: sum over blocks of dw * da * sum((q - 8) * a). */
static void
dot_q4_0_scalar(int64_t n, const void *vw, const void *va, size_t as, int n_act,
				float *out, size_t os)
{
	const ds_block_q4_0 *w = vw;

	for (int r = 0; r < n_act; r++)
	{
		const ds_block_q8a *a = ACT_ROW(va, r, as);
		float		acc = 0.0f;

		for (int64_t b = 0; b < n / 32; b++)
		{
			int			isum = 0;

			for (int j = 0; j < 16; j++)
				isum += ((w[b].qs[j] & 0xF) - 8) * a[b].qs[j] +
					((w[b].qs[j] >> 4) - 8) * a[b].qs[j + 16];
			acc += h2f(w[b].d) * a[b].d * (float) isum;
		}
		out[r * os] = acc;
	}
}

/* Q4_1 x q8a: dw * da * sum(q * a) + m * (da * sum(a)). */
static void
dot_q4_1_scalar(int64_t n, const void *vw, const void *va, size_t as, int n_act,
				float *out, size_t os)
{
	const ds_block_q4_1 *w = vw;

	for (int r = 0; r < n_act; r++)
	{
		const ds_block_q8a *a = ACT_ROW(va, r, as);
		float		acc = 0.0f;

		for (int64_t b = 0; b < n / 32; b++)
		{
			int			isum = 0;

			for (int j = 0; j < 16; j++)
				isum += (w[b].qs[j] & 0xF) * a[b].qs[j] + (w[b].qs[j] >> 4) * a[b].qs[j + 16];
			acc += h2f(w[b].d) * a[b].d * (float) isum + h2f(w[b].m) * a[b].s;
		}
		out[r * os] = acc;
	}
}

/* The 5-bit values of a Q5_0/Q5_1 block (0..31). */
static void
unpack_q5(const uint8_t *qs, const uint8_t *qh4, int *q)
{
	uint32_t	qh;

	memcpy(&qh, qh4, 4);
	for (int j = 0; j < 16; j++)
	{
		q[j] = (qs[j] & 0xF) | (((qh >> j) & 1) << 4);
		q[j + 16] = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
	}
}

/* Q5_0 x q8a: dw * da * sum((q - 16) * a). */
static void
dot_q5_0_scalar(int64_t n, const void *vw, const void *va, size_t as, int n_act,
				float *out, size_t os)
{
	const ds_block_q5_0 *w = vw;

	for (int r = 0; r < n_act; r++)
	{
		const ds_block_q8a *a = ACT_ROW(va, r, as);
		float		acc = 0.0f;

		for (int64_t b = 0; b < n / 32; b++)
		{
			int			q[32],
						isum = 0;

			unpack_q5(w[b].qs, w[b].qh, q);
			for (int j = 0; j < 32; j++)
				isum += (q[j] - 16) * a[b].qs[j];
			acc += h2f(w[b].d) * a[b].d * (float) isum;
		}
		out[r * os] = acc;
	}
}

/* Q5_1 x q8a: dw * da * sum(q * a) + m * (da * sum(a)). */
static void
dot_q5_1_scalar(int64_t n, const void *vw, const void *va, size_t as, int n_act,
				float *out, size_t os)
{
	const ds_block_q5_1 *w = vw;

	for (int r = 0; r < n_act; r++)
	{
		const ds_block_q8a *a = ACT_ROW(va, r, as);
		float		acc = 0.0f;

		for (int64_t b = 0; b < n / 32; b++)
		{
			int			q[32],
						isum = 0;

			unpack_q5(w[b].qs, w[b].qh, q);
			for (int j = 0; j < 32; j++)
				isum += q[j] * a[b].qs[j];
			acc += h2f(w[b].d) * a[b].d * (float) isum + h2f(w[b].m) * a[b].s;
		}
		out[r * os] = acc;
	}
}

/* Q8_0 x q8a: dw * da * sum(q * a). */
static void
dot_q8_0_scalar(int64_t n, const void *vw, const void *va, size_t as, int n_act,
				float *out, size_t os)
{
	const ds_block_q8_0 *w = vw;

	for (int r = 0; r < n_act; r++)
	{
		const ds_block_q8a *a = ACT_ROW(va, r, as);
		float		acc = 0.0f;

		for (int64_t b = 0; b < n / 32; b++)
		{
			int			isum = 0;

			for (int j = 0; j < 32; j++)
				isum += w[b].qs[j] * a[b].qs[j];
			acc += h2f(w[b].d) * a[b].d * (float) isum;
		}
		out[r * os] = acc;
	}
}

/* Q4_K/Q5_K x q8k given the 256 unsigned values of each block. */
static float
dot_k4_block(float d, float dmin, const uint8_t *scales, const uint8_t *q,
			 const ds_block_q8k *a)
{
	int			sumi = 0,
				summ = 0;

	for (int j = 0; j < 8; j++)
	{
		uint8_t		sc,
					m;
		int			s = 0;

		ds_get_scale_min_k4(j, scales, &sc, &m);
		for (int l = 0; l < 32; l++)
			s += q[j * 32 + l] * a->qs[j * 32 + l];
		sumi += sc * s;
		summ += m * (a->bsums[2 * j] + a->bsums[2 * j + 1]);
	}
	return a->d * (d * (float) sumi - dmin * (float) summ);
}

/* Q4_K x q8k. */
static void
dot_q4_k_scalar(int64_t n, const void *vw, const void *va, size_t as, int n_act,
				float *out, size_t os)
{
	const ds_block_q4_k *w = vw;

	for (int r = 0; r < n_act; r++)
	{
		const ds_block_q8k *a = ACT_ROW(va, r, as);
		float		acc = 0.0f;

		for (int64_t b = 0; b < n / 256; b++)
		{
			uint8_t		q[256];

			for (int g = 0; g < 4; g++)
				for (int l = 0; l < 32; l++)
				{
					q[g * 64 + l] = w[b].qs[g * 32 + l] & 0xF;
					q[g * 64 + 32 + l] = w[b].qs[g * 32 + l] >> 4;
				}
			acc += dot_k4_block(h2f(w[b].d), h2f(w[b].dmin), w[b].scales, q, &a[b]);
		}
		out[r * os] = acc;
	}
}

/* Q5_K x q8k. */
static void
dot_q5_k_scalar(int64_t n, const void *vw, const void *va, size_t as, int n_act,
				float *out, size_t os)
{
	const ds_block_q5_k *w = vw;

	for (int r = 0; r < n_act; r++)
	{
		const ds_block_q8k *a = ACT_ROW(va, r, as);
		float		acc = 0.0f;

		for (int64_t b = 0; b < n / 256; b++)
		{
			uint8_t		q[256];

			for (int g = 0; g < 4; g++)
				for (int l = 0; l < 32; l++)
				{
					int			hl = (w[b].qh[l] >> (2 * g)) & 1;
					int			hh = (w[b].qh[l] >> (2 * g + 1)) & 1;

					q[g * 64 + l] = (uint8_t) ((w[b].qs[g * 32 + l] & 0xF) | (hl << 4));
					q[g * 64 + 32 + l] = (uint8_t) ((w[b].qs[g * 32 + l] >> 4) | (hh << 4));
				}
			acc += dot_k4_block(h2f(w[b].d), h2f(w[b].dmin), w[b].scales, q, &a[b]);
		}
		out[r * os] = acc;
	}
}

/* Q6_K x q8k: d * da * sum over 16 sub-blocks of sc * sum((q - 32) * a). */
static void
dot_q6_k_scalar(int64_t n, const void *vw, const void *va, size_t as, int n_act,
				float *out, size_t os)
{
	const ds_block_q6_k *w = vw;

	for (int r = 0; r < n_act; r++)
	{
		const ds_block_q8k *a = ACT_ROW(va, r, as);
		float		acc = 0.0f;

		for (int64_t b = 0; b < n / 256; b++)
		{
			int			sumi = 0;

			for (int half = 0; half < 2; half++)
			{
				const uint8_t *ql = w[b].ql + 64 * half;
				const uint8_t *qh = w[b].qh + 32 * half;
				const int8_t *sc = w[b].scales + 8 * half;
				const int8_t *aq = a[b].qs + 128 * half;
				int			s[8] = {0};

				for (int l = 0; l < 32; l++)
				{
					int			is = l / 16;

					s[is + 0] += (((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32) * aq[l];
					s[is + 2] += (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32) * aq[l + 32];
					s[is + 4] += (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * aq[l + 64];
					s[is + 6] += (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * aq[l + 96];
				}
				for (int k = 0; k < 8; k++)
					sumi += sc[k] * s[k];
			}
			acc += h2f(w[b].d) * a[b].d * (float) sumi;
		}
		out[r * os] = acc;
	}
}

/* Float weights (F32, F16, BF16) x float activations. */
static void
dot_float_scalar(int type, int64_t n, const void *vw, const void *va, size_t as, int n_act,
				 float *out, size_t os)
{
	for (int r = 0; r < n_act; r++)
	{
		const float *a = ACT_ROW(va, r, as);
		float		acc = 0.0f;

		for (int64_t i = 0; i < n; i++)
		{
			float		w;

			if (type == DS_TYPE_F32)
				w = ((const float *) vw)[i];
			else if (type == DS_TYPE_F16)
				w = h2f(((const ds_f16 *) vw)[i]);
			else
				w = ds_bf16_to_f32(((const ds_bf16 *) vw)[i]);
			acc += w * a[i];
		}
		out[r * os] = acc;
	}
}

/* F32 weights, scalar. */
static void
dot_f32_scalar(int64_t n, const void *w, const void *a, size_t as, int n_act, float *o, size_t os)
{
	dot_float_scalar(DS_TYPE_F32, n, w, a, as, n_act, o, os);
}

/* F16 weights, scalar. */
static void
dot_f16_scalar(int64_t n, const void *w, const void *a, size_t as, int n_act, float *o, size_t os)
{
	dot_float_scalar(DS_TYPE_F16, n, w, a, as, n_act, o, os);
}

/* BF16 weights, scalar. */
static void
dot_bf16_scalar(int64_t n, const void *w, const void *a, size_t as, int n_act, float *o,
				size_t os)
{
	dot_float_scalar(DS_TYPE_BF16, n, w, a, as, n_act, o, os);
}

/* Plain float dot product. */
static float
dot_f32_plain(const float *a, const float *b, int64_t n)
{
	float		s = 0.0f;

	for (int64_t i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

/* Plain y += a * x. */
static void
axpy_f32_plain(float a, const float *x, float *y, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		y[i] += a * x[i];
}

/* The kernels in use. */
typedef struct kernel_set
{
	ds_dot_fn	dot[DS_TYPE_COUNT];
	float		(*dot_f32) (const float *, const float *, int64_t);
	void		(*axpy_f32) (float, const float *, float *, int64_t);
	float		(*dot_f16) (const ds_f16 *, const float *, int64_t);
	void		(*axpy_f16) (float, const ds_f16 *, float *, int64_t);
	void		(*to_f16) (const float *, ds_f16 *, int64_t);
	void		(*from_f16) (const ds_f16 *, float *, int64_t);
	void		(*quant_q8a) (const float *, void *, int64_t);
	void		(*quant_q8k) (const float *, void *, int64_t);
} kernel_set;

/* Plain dot product with a half-precision row. */
static float
dot_f16_plain(const ds_f16 *a, const float *b, int64_t n)
{
	float		s = 0.0f;

	for (int64_t i = 0; i < n; i++)
		s += h2f(a[i]) * b[i];
	return s;
}

/* Plain y += a * x with a half-precision x. */
static void
axpy_f16_plain(float a, const ds_f16 *x, float *y, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		y[i] += a * h2f(x[i]);
}

/* Plain float to half conversion of a row. */
static void
to_f16_plain(const float *x, ds_f16 *y, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		y[i] = ds_f32_to_f16(x[i]);
}

/* Plain half to float conversion of a row. */
static void
from_f16_plain(const ds_f16 *x, float *y, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		y[i] = h2f(x[i]);
}

/* ---------------------------------------------------------------------------
 * Vector kernels: cpu_simd.h instantiated for AVX2 and for AVX-512 VNNI.
 */
#if defined(__x86_64__)
#include <immintrin.h>

#define SIMD_TARGET "avx2,fma,f16c"
#define SIMD_NAME(x) x##_avx2
#define SIMD_VNNI 0
#include "cpu_simd.h"
#undef SIMD_TARGET
#undef SIMD_NAME
#undef SIMD_VNNI

#define SIMD_TARGET "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni"
#define SIMD_NAME(x) x##_vnni
#define SIMD_VNNI 1
#include "cpu_simd.h"
#undef SIMD_TARGET
#undef SIMD_NAME
#undef SIMD_VNNI
#endif

/* ---------------------------------------------------------------------------
 * Dispatch
 */

static kernel_set kernels;
static ds_isa current_isa = DS_ISA_SCALAR;
static bool kernels_ready = false;

/* The scalar kernels. */
static void
set_scalar(kernel_set *k)
{
	memset(k, 0, sizeof(*k));
	k->dot[DS_TYPE_F32] = dot_f32_scalar;
	k->dot[DS_TYPE_F16] = dot_f16_scalar;
	k->dot[DS_TYPE_BF16] = dot_bf16_scalar;
	k->dot[DS_TYPE_Q4_0] = dot_q4_0_scalar;
	k->dot[DS_TYPE_Q4_1] = dot_q4_1_scalar;
	k->dot[DS_TYPE_Q5_0] = dot_q5_0_scalar;
	k->dot[DS_TYPE_Q5_1] = dot_q5_1_scalar;
	k->dot[DS_TYPE_Q8_0] = dot_q8_0_scalar;
	k->dot[DS_TYPE_Q4_K] = dot_q4_k_scalar;
	k->dot[DS_TYPE_Q5_K] = dot_q5_k_scalar;
	k->dot[DS_TYPE_Q6_K] = dot_q6_k_scalar;
	k->dot_f32 = dot_f32_plain;
	k->axpy_f32 = axpy_f32_plain;
	k->dot_f16 = dot_f16_plain;
	k->axpy_f16 = axpy_f16_plain;
	k->to_f16 = to_f16_plain;
	k->from_f16 = from_f16_plain;
	k->quant_q8a = quantize_q8a_plain;
	k->quant_q8k = quantize_q8k_plain;
}

/* Does this CPU run the given level? */
static bool
cpu_has(ds_isa isa)
{
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (isa == DS_ISA_AVX2)
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
			__builtin_cpu_supports("f16c");
	if (isa == DS_ISA_VNNI)
		return cpu_has(DS_ISA_AVX2) && __builtin_cpu_supports("avx512f") &&
			__builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
			__builtin_cpu_supports("avx512vnni");
#endif
	return isa == DS_ISA_SCALAR;
}

/* Install the kernels of one level (falling back to lower levels). */
ds_isa
ds_cpu_set_isa(ds_isa isa)
{
	while (isa > DS_ISA_SCALAR && !cpu_has(isa))
		isa--;
	set_scalar(&kernels);
#if defined(__x86_64__)
	if (isa == DS_ISA_AVX2)
		set_kernels_avx2(&kernels);
	else if (isa == DS_ISA_VNNI)
		set_kernels_vnni(&kernels);
#endif
	current_isa = isa;
	kernels_ready = true;
	return isa;
}

/* Best level this CPU supports. */
ds_isa
ds_cpu_ops_init(void)
{
	if (!kernels_ready)
		ds_cpu_set_isa(DS_ISA_VNNI);
	return current_isa;
}

/* Name of a level. */
const char *
ds_isa_name(ds_isa isa)
{
	switch (isa)
	{
		case DS_ISA_AVX2:
			return "avx2";
		case DS_ISA_VNNI:
			return "avx512-vnni";
		case DS_ISA_SCALAR:
			break;
	}
	return "scalar";
}

/* Current kernel for a weight type. */
ds_dot_fn
ds_dot_kernel(int wtype)
{
	ds_cpu_ops_init();
	if (wtype < 0 || wtype >= DS_TYPE_COUNT)
		return NULL;
	return kernels.dot[wtype];
}

/* Float dot product with the current kernels. */
float
ds_dot_f32(const float *a, const float *b, int64_t n)
{
	return kernels.dot_f32(a, b, n);
}

/* y += a * x with the current kernels. */
void
ds_axpy_f32(float a, const float *x, float *y, int64_t n)
{
	kernels.axpy_f32(a, x, y, n);
}

/* Quantize a row of n activations with the current kernels. */
void
ds_quantize_act_row(ds_act_kind kind, const float *x, void *out, int64_t n)
{
	ds_cpu_ops_init();
	if (kind == DS_ACT_Q8)
		kernels.quant_q8a(x, out, n);
	else if (kind == DS_ACT_Q8K)
		kernels.quant_q8k(x, out, n);
	else
		memcpy(out, x, (size_t) n * sizeof(float));
}

/* Dot product of a half-precision row with a float row. */
float
ds_dot_f16_f32(const ds_f16 *a, const float *b, int64_t n)
{
	return kernels.dot_f16(a, b, n);
}

/* y += a * x, x in half precision. */
void
ds_axpy_f16(float a, const ds_f16 *x, float *y, int64_t n)
{
	kernels.axpy_f16(a, x, y, n);
}

/* Convert a row of floats to half precision (round to nearest even). */
void
ds_f32_to_f16_row(const float *x, ds_f16 *y, int64_t n)
{
	kernels.to_f16(x, y, n);
}

/* Convert a row of half-precision values to floats. */
void
ds_f16_to_f32_row(const ds_f16 *x, float *y, int64_t n)
{
	kernels.from_f16(x, y, n);
}

/* Weight rows per tile: the tile stays in L1 while activation rows pass over it. */
#define TILE_ROWS 16

/* Matmul tile over quantized activations. */
void
ds_cpu_matmul(const ds_weight *w, int64_t i0, int64_t i1, const void *act, size_t act_stride,
			  int n_act, float *out, size_t out_stride)
{
	ds_dot_fn	dot = kernels.dot[w->type];

	for (int64_t t0 = i0; t0 < i1; t0 += TILE_ROWS)
	{
		int64_t		t1 = t0 + TILE_ROWS < i1 ? t0 + TILE_ROWS : i1;

		for (int r = 0; r < n_act; r += DS_DOT_MAX_ROWS)
		{
			int			nr = n_act - r < DS_DOT_MAX_ROWS ? n_act - r : DS_DOT_MAX_ROWS;
			const char *a = (const char *) act + (size_t) r * act_stride;

			for (int64_t i = t0; i < t1; i++)
				dot(w->cols, (const char *) w->data + (size_t) i * w->row_bytes, a,
					act_stride, nr, out + (size_t) r * out_stride + i, out_stride);
		}
	}
}

/* Matmul tile on exactly dequantized weights and float activations. */
void
ds_cpu_matmul_exact(const ds_weight *w, int64_t i0, int64_t i1, const float *act, int n_act,
					float *out, size_t out_stride, float *scratch)
{
	for (int64_t i = i0; i < i1; i++)
	{
		ds_dequantize_row(w->type, (const char *) w->data + (size_t) i * w->row_bytes, scratch,
						  w->cols);
		for (int r = 0; r < n_act; r++)
			out[(size_t) r * out_stride + i] =
				kernels.dot_f32(scratch, act + (size_t) r * w->cols, w->cols);
	}
}
