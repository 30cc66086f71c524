/*
 * cpu_simd.h -- vector dot-product kernels, included by cpu_ops.c once per
 * instruction set (no include guard).  The includer defines:
 *   SIMD_TARGET  the target attribute string ("avx2,fma,f16c", ...)
 *   SIMD_NAME(x) how to name this instance's functions
 *   SIMD_VNNI    1 to use AVX-512 VNNI dot products on 256-bit vectors
 *
 * Each kernel takes one weight row and 1..4 activation rows: a weight block
 * is loaded and unpacked once, then multiplied with the same block of every
 * activation row.  Each output's arithmetic does not depend on how many rows
 * share the call, so batching never changes a result.
 */

#define SIMD_FN __attribute__((target(SIMD_TARGET)))
#define SIMD_AI static inline __attribute__((always_inline, target(SIMD_TARGET)))

/* Horizontal sum of 8 floats. */
SIMD_AI float
SIMD_NAME(hsum) (__m256 v)
{
	__m128		s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* Unsigned x signed bytes, summed in groups of 4 into 8 int32 lanes. */
SIMD_AI __m256i
SIMD_NAME(dot_us) (__m256i u, __m256i s)
{
#if SIMD_VNNI
	return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
	return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

/* Signed x signed bytes, summed in groups of 4 (|x| <= 128, |y| <= 127). */
SIMD_AI __m256i
SIMD_NAME(dot_ss) (__m256i x, __m256i y)
{
	return SIMD_NAME(dot_us) (_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/*
 * Unsigned x signed bytes in groups of 4, lanes 0-3 times sc_lo and lanes
 * 4-7 times sc_hi (int32 lanes).
 */
SIMD_AI __m256i
SIMD_NAME(dot_us_scaled) (__m256i u, __m256i s, int sc_lo, int sc_hi)
{
#if SIMD_VNNI
	__m256i		p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);

	return _mm256_mullo_epi32(p, _mm256_setr_epi32(sc_lo, sc_lo, sc_lo, sc_lo,
												   sc_hi, sc_hi, sc_hi, sc_hi));
#else
	__m256i		scale = _mm256_setr_epi16(sc_lo, sc_lo, sc_lo, sc_lo, sc_lo, sc_lo, sc_lo, sc_lo,
										  sc_hi, sc_hi, sc_hi, sc_hi, sc_hi, sc_hi, sc_hi, sc_hi);

	return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scale);
#endif
}

/* 32 nibbles of a Q4 block as bytes: low nibbles first, then high nibbles. */
SIMD_AI __m256i
SIMD_NAME(unpack_nibbles) (const uint8_t *qs)
{
	__m128i		raw = _mm_loadu_si128((const __m128i *) qs);

	return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw),
							_mm256_set1_epi8(0x0F));
}

/* The 32 bits at qh4 as 32 bytes: 0x10 where the bit is set, else 0. */
SIMD_AI __m256i
SIMD_NAME(bits_to_0x10) (const uint8_t *qh4)
{
	uint32_t	x;
	const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
										  2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
	const __m256i bit = _mm256_set1_epi64x((long long) 0x8040201008040201ULL);
	__m256i		v;

	memcpy(&x, qh4, 4);
	v = _mm256_shuffle_epi8(_mm256_set1_epi32((int) x), shuf);
	v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
	return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

/* Activation block b of row r. */
#define Q8A(va, as, r, b) ((const ds_block_q8a *) ((const char *) (va) + (size_t) (r) * (as)) + (b))
#define Q8K(va, as, r, b) ((const ds_block_q8k *) ((const char *) (va) + (size_t) (r) * (as)) + (b))

/* Call body(..., R) with R fixed at compile time for R = n_act. */
#define ROWS_SWITCH(body, n_act, ...) \
	switch (n_act) \
	{ \
		case 1: body(__VA_ARGS__, 1); break; \
		case 2: body(__VA_ARGS__, 2); break; \
		case 3: body(__VA_ARGS__, 3); break; \
		default: body(__VA_ARGS__, 4); break; \
	}

/* Unpack signed block b (Q4_0, Q5_0, Q8_0) and its scale. */
SIMD_AI __m256i
SIMD_NAME(signed_block) (int type, const void *vw, int64_t b, float *dw)
{
	if (type == DS_TYPE_Q4_0)
	{
		const ds_block_q4_0 *w = (const ds_block_q4_0 *) vw + b;

		*dw = _cvtsh_ss(w->d);
		return _mm256_sub_epi8(SIMD_NAME(unpack_nibbles) (w->qs), _mm256_set1_epi8(8));
	}
	if (type == DS_TYPE_Q5_0)
	{
		const ds_block_q5_0 *w = (const ds_block_q5_0 *) vw + b;
		__m256i		q = _mm256_or_si256(SIMD_NAME(unpack_nibbles) (w->qs),
										SIMD_NAME(bits_to_0x10) (w->qh));

		*dw = _cvtsh_ss(w->d);
		return _mm256_sub_epi8(q, _mm256_set1_epi8(16));
	}
	{
		const ds_block_q8_0 *w = (const ds_block_q8_0 *) vw + b;

		*dw = _cvtsh_ss(w->d);
		return _mm256_loadu_si256((const __m256i *) w->qs);
	}
}

/* acc[r] += block b of the weights times block b of activation row r (signed). */
SIMD_AI void
SIMD_NAME(signed_step) (int type, int64_t b, const void *vw, const void *va, size_t as,
						__m256 *acc, const int R)
{
	float		dw;
	__m256i		q = SIMD_NAME(signed_block) (type, vw, b, &dw);

	_Pragma("GCC unroll 4")
	for (int r = 0; r < R; r++)
	{
		const ds_block_q8a *a = Q8A(va, as, r, b);
		__m256i		p = SIMD_NAME(dot_ss) (q, _mm256_loadu_si256((const __m256i *) a->qs));

		acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * a->d), acc[r]);
	}
}

/*
 * Signed 32-value blocks (Q4_0, Q5_0, Q8_0) against q8a rows.  Even and odd
 * blocks go to two accumulators (two dependency chains), for every R alike.
 */
SIMD_AI void
SIMD_NAME(signed_blocks) (int type, int64_t nb, const void *vw, const void *va, size_t as,
						  float *out, size_t os, const int R)
{
	__m256		acc0[DS_DOT_MAX_ROWS],
				acc1[DS_DOT_MAX_ROWS];
	int64_t		b = 0;

	_Pragma("GCC unroll 4")
	for (int r = 0; r < R; r++)
		acc0[r] = acc1[r] = _mm256_setzero_ps();
	for (; b + 1 < nb; b += 2)
	{
		SIMD_NAME(signed_step) (type, b, vw, va, as, acc0, R);
		SIMD_NAME(signed_step) (type, b + 1, vw, va, as, acc1, R);
	}
	if (b < nb)
		SIMD_NAME(signed_step) (type, b, vw, va, as, acc0, R);
	_Pragma("GCC unroll 4")
	for (int r = 0; r < R; r++)
		out[r * os] = SIMD_NAME(hsum) (_mm256_add_ps(acc0[r], acc1[r]));
}

/* acc[r] += block b times activation row r, summ[r] += min * row sum (Q4_1, Q5_1). */
SIMD_AI void
SIMD_NAME(min_step) (int type, int64_t b, const void *vw, const void *va, size_t as,
					 __m256 *acc, float *summ, const int R)
{
	__m256i		q;
	float		dw,
				mw;

	if (type == DS_TYPE_Q4_1)
	{
		const ds_block_q4_1 *w = (const ds_block_q4_1 *) vw + b;

		q = SIMD_NAME(unpack_nibbles) (w->qs);
		dw = _cvtsh_ss(w->d);
		mw = _cvtsh_ss(w->m);
	}
	else
	{
		const ds_block_q5_1 *w = (const ds_block_q5_1 *) vw + b;

		q = _mm256_or_si256(SIMD_NAME(unpack_nibbles) (w->qs), SIMD_NAME(bits_to_0x10) (w->qh));
		dw = _cvtsh_ss(w->d);
		mw = _cvtsh_ss(w->m);
	}
	_Pragma("GCC unroll 4")
	for (int r = 0; r < R; r++)
	{
		const ds_block_q8a *a = Q8A(va, as, r, b);
		__m256i		p = SIMD_NAME(dot_us) (q, _mm256_loadu_si256((const __m256i *) a->qs));

		acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * a->d), acc[r]);
		summ[r] += mw * a->s;
	}
}

/* Unsigned 32-value blocks with a minimum (Q4_1, Q5_1) against q8a rows. */
SIMD_AI void
SIMD_NAME(min_blocks) (int type, int64_t nb, const void *vw, const void *va, size_t as,
					   float *out, size_t os, const int R)
{
	__m256		acc0[DS_DOT_MAX_ROWS],
				acc1[DS_DOT_MAX_ROWS];
	float		summ[DS_DOT_MAX_ROWS];
	int64_t		b = 0;

	_Pragma("GCC unroll 4")
	for (int r = 0; r < R; r++)
	{
		acc0[r] = acc1[r] = _mm256_setzero_ps();
		summ[r] = 0.0f;
	}
	for (; b + 1 < nb; b += 2)
	{
		SIMD_NAME(min_step) (type, b, vw, va, as, acc0, summ, R);
		SIMD_NAME(min_step) (type, b + 1, vw, va, as, acc1, summ, R);
	}
	if (b < nb)
		SIMD_NAME(min_step) (type, b, vw, va, as, acc0, summ, R);
	_Pragma("GCC unroll 4")
	for (int r = 0; r < R; r++)
		out[r * os] = SIMD_NAME(hsum) (_mm256_add_ps(acc0[r], acc1[r])) + summ[r];
}

/* Q4_0 weights against q8a rows. */
static SIMD_FN void
SIMD_NAME(dot_q4_0) (int64_t n, const void *w, const void *va, size_t as, int n_act,
					 float *out, size_t os)
{
	ROWS_SWITCH(SIMD_NAME(signed_blocks), n_act, DS_TYPE_Q4_0, n / 32, w, va, as, out, os);
}

/* Q5_0 weights against q8a rows. */
static SIMD_FN void
SIMD_NAME(dot_q5_0) (int64_t n, const void *w, const void *va, size_t as, int n_act,
					 float *out, size_t os)
{
	ROWS_SWITCH(SIMD_NAME(signed_blocks), n_act, DS_TYPE_Q5_0, n / 32, w, va, as, out, os);
}

/* Q8_0 weights against q8a rows. */
static SIMD_FN void
SIMD_NAME(dot_q8_0) (int64_t n, const void *w, const void *va, size_t as, int n_act,
					 float *out, size_t os)
{
	ROWS_SWITCH(SIMD_NAME(signed_blocks), n_act, DS_TYPE_Q8_0, n / 32, w, va, as, out, os);
}

/* Q4_1 weights against q8a rows. */
static SIMD_FN void
SIMD_NAME(dot_q4_1) (int64_t n, const void *w, const void *va, size_t as, int n_act,
					 float *out, size_t os)
{
	ROWS_SWITCH(SIMD_NAME(min_blocks), n_act, DS_TYPE_Q4_1, n / 32, w, va, as, out, os);
}

/* Q5_1 weights against q8a rows. */
static SIMD_FN void
SIMD_NAME(dot_q5_1) (int64_t n, const void *w, const void *va, size_t as, int n_act,
					 float *out, size_t os)
{
	ROWS_SWITCH(SIMD_NAME(min_blocks), n_act, DS_TYPE_Q5_1, n / 32, w, va, as, out, os);
}

/* The 8 6-bit scales and mins of a Q4_K/Q5_K block. */
SIMD_AI void
SIMD_NAME(k4_scales) (const uint8_t *q, uint8_t *sc, uint8_t *m)
{
	for (int j = 0; j < 4; j++)
	{
		sc[j] = q[j] & 63;
		m[j] = q[j + 4] & 63;
		sc[j + 4] = (q[j + 8] & 0xF) | ((q[j] >> 6) << 4);
		m[j + 4] = (q[j + 8] >> 4) | ((q[j + 4] >> 6) << 4);
	}
}

/* Q4_K and Q5_K blocks against q8k rows. */
SIMD_AI void
SIMD_NAME(k4_blocks) (int type, int64_t nb, const void *vw, const void *va, size_t as,
					  float *out, size_t os, const int R)
{
	__m256		acc[DS_DOT_MAX_ROWS];
	float		summ[DS_DOT_MAX_ROWS];
	const __m256i m4 = _mm256_set1_epi8(0x0F);

	_Pragma("GCC unroll 4")
	for (int r = 0; r < R; r++)
	{
		acc[r] = _mm256_setzero_ps();
		summ[r] = 0.0f;
	}
	for (int64_t b = 0; b < nb; b++)
	{
		const ds_block_q4_k *w4 = (const ds_block_q4_k *) vw + b;
		const ds_block_q5_k *w5 = (const ds_block_q5_k *) vw + b;
		const uint8_t *qs = type == DS_TYPE_Q4_K ? w4->qs : w5->qs;
		const uint8_t *scales = type == DS_TYPE_Q4_K ? w4->scales : w5->scales;
		float		d = _cvtsh_ss(type == DS_TYPE_Q4_K ? w4->d : w5->d);
		float		dmin = _cvtsh_ss(type == DS_TYPE_Q4_K ? w4->dmin : w5->dmin);
		__m256i		isum[DS_DOT_MAX_ROWS];
		__m256i		qh = _mm256_setzero_si256();
		uint8_t		sc[8],
					m[8];

		SIMD_NAME(k4_scales) (scales, sc, m);
		if (type == DS_TYPE_Q5_K)
			qh = _mm256_loadu_si256((const __m256i *) w5->qh);
		_Pragma("GCC unroll 4")
		for (int r = 0; r < R; r++)
		{
			const ds_block_q8k *a = Q8K(va, as, r, b);
			int			mins = 0;

			for (int j = 0; j < 8; j++)
				mins += m[j] * (a->bsums[2 * j] + a->bsums[2 * j + 1]);
			summ[r] += dmin * a->d * (float) mins;
			isum[r] = _mm256_setzero_si256();
		}
		_Pragma("GCC unroll 4")
		for (int g = 0; g < 4; g++)
		{
			__m256i		qv = _mm256_loadu_si256((const __m256i *) (qs + 32 * g));
			__m256i		lo = _mm256_and_si256(qv, m4);
			__m256i		hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);

			if (type == DS_TYPE_Q5_K)
			{
				__m256i		bl = _mm256_set1_epi8((char) (1 << (2 * g)));
				__m256i		bh = _mm256_set1_epi8((char) (1 << (2 * g + 1)));
				__m256i		x10 = _mm256_set1_epi8(0x10);

				lo = _mm256_or_si256(lo, _mm256_and_si256(
						_mm256_cmpeq_epi8(_mm256_and_si256(qh, bl), bl), x10));
				hi = _mm256_or_si256(hi, _mm256_and_si256(
						_mm256_cmpeq_epi8(_mm256_and_si256(qh, bh), bh), x10));
			}
			_Pragma("GCC unroll 4")
			for (int r = 0; r < R; r++)
			{
				const ds_block_q8k *a = Q8K(va, as, r, b);
				__m256i		plo = SIMD_NAME(dot_us_scaled) (lo,
						_mm256_loadu_si256((const __m256i *) (a->qs + 64 * g)), sc[2 * g], sc[2 * g]);
				__m256i		phi = SIMD_NAME(dot_us_scaled) (hi,
						_mm256_loadu_si256((const __m256i *) (a->qs + 64 * g + 32)),
						sc[2 * g + 1], sc[2 * g + 1]);

				isum[r] = _mm256_add_epi32(isum[r], _mm256_add_epi32(plo, phi));
			}
		}
		_Pragma("GCC unroll 4")
		for (int r = 0; r < R; r++)
			acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r]),
									 _mm256_set1_ps(d * Q8K(va, as, r, b)->d), acc[r]);
	}
	_Pragma("GCC unroll 4")
	for (int r = 0; r < R; r++)
		out[r * os] = SIMD_NAME(hsum) (acc[r]) - summ[r];
}

/* Q4_K weights against q8k rows. */
static SIMD_FN void
SIMD_NAME(dot_q4_k) (int64_t n, const void *w, const void *va, size_t as, int n_act,
					 float *out, size_t os)
{
	ROWS_SWITCH(SIMD_NAME(k4_blocks), n_act, DS_TYPE_Q4_K, n / 256, w, va, as, out, os);
}

/* Q5_K weights against q8k rows. */
static SIMD_FN void
SIMD_NAME(dot_q5_k) (int64_t n, const void *w, const void *va, size_t as, int n_act,
					 float *out, size_t os)
{
	ROWS_SWITCH(SIMD_NAME(k4_blocks), n_act, DS_TYPE_Q5_K, n / 256, w, va, as, out, os);
}

/* Q6_K blocks against q8k rows: unsigned 6-bit values, the -32 offset via bsums. */
SIMD_AI void
SIMD_NAME(q6_k_blocks) (int64_t nb, const ds_block_q6_k *w, const void *va, size_t as,
						float *out, size_t os, const int R)
{
	__m256		acc[DS_DOT_MAX_ROWS];
	const __m256i m4 = _mm256_set1_epi8(0x0F);
	const __m256i m3 = _mm256_set1_epi8(3);

	_Pragma("GCC unroll 4")
	for (int r = 0; r < R; r++)
		acc[r] = _mm256_setzero_ps();
	for (int64_t b = 0; b < nb; b++)
	{
		const int8_t *sc = w[b].scales;
		float		d = _cvtsh_ss(w[b].d);
		__m256i		isum[DS_DOT_MAX_ROWS];

		_Pragma("GCC unroll 4")
		for (int r = 0; r < R; r++)
		{
			const ds_block_q8k *a = Q8K(va, as, r, b);
			int			off = 0;

			for (int j = 0; j < 16; j++)
				off += sc[j] * a->bsums[j];
			/* the -32 of every value, put in lane 0 */
			isum[r] = _mm256_setr_epi32(-32 * off, 0, 0, 0, 0, 0, 0, 0);
		}
		_Pragma("GCC unroll 2")
		for (int half = 0; half < 2; half++)
		{
			const uint8_t *ql = w[b].ql + 64 * half;
			__m256i		l0 = _mm256_loadu_si256((const __m256i *) ql);
			__m256i		l1 = _mm256_loadu_si256((const __m256i *) (ql + 32));
			__m256i		h = _mm256_loadu_si256((const __m256i *) (w[b].qh + 32 * half));
			__m256i		v[4];
			const int8_t *s8 = sc + 8 * half;

			v[0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
								   _mm256_slli_epi16(_mm256_and_si256(h, m3), 4));
			v[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
								   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m3), 4));
			v[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
								   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m3), 4));
			v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
								   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m3), 4));
			_Pragma("GCC unroll 4")
			for (int r = 0; r < R; r++)
			{
				const int8_t *aq = Q8K(va, as, r, b)->qs + 128 * half;

				_Pragma("GCC unroll 4")
				for (int k = 0; k < 4; k++)
					isum[r] = _mm256_add_epi32(isum[r], SIMD_NAME(dot_us_scaled) (v[k],
							_mm256_loadu_si256((const __m256i *) (aq + 32 * k)),
							s8[2 * k], s8[2 * k + 1]));
			}
		}
		_Pragma("GCC unroll 4")
		for (int r = 0; r < R; r++)
			acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r]),
									 _mm256_set1_ps(d * Q8K(va, as, r, b)->d), acc[r]);
	}
	_Pragma("GCC unroll 4")
	for (int r = 0; r < R; r++)
		out[r * os] = SIMD_NAME(hsum) (acc[r]);
}

/* Q6_K weights against q8k rows. */
static SIMD_FN void
SIMD_NAME(dot_q6_k) (int64_t n, const void *w, const void *va, size_t as, int n_act,
					 float *out, size_t os)
{
	ROWS_SWITCH(SIMD_NAME(q6_k_blocks), n_act, n / 256, w, va, as, out, os);
}

/* 8 weights from an F32, F16 or BF16 row as floats. */
SIMD_AI __m256
SIMD_NAME(load8) (int type, const void *w, int64_t i)
{
	if (type == DS_TYPE_F16)
		return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) ((const ds_f16 *) w + i)));
	if (type == DS_TYPE_BF16)
		return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(
				_mm_loadu_si128((const __m128i *) ((const ds_bf16 *) w + i))), 16));
	return _mm256_loadu_ps((const float *) w + i);
}

/* One weight at i from an F32, F16 or BF16 row. */
SIMD_AI float
SIMD_NAME(load1) (int type, const void *w, int64_t i)
{
	if (type == DS_TYPE_F16)
		return _cvtsh_ss(((const ds_f16 *) w)[i]);
	if (type == DS_TYPE_BF16)
		return ds_bf16_to_f32(((const ds_bf16 *) w)[i]);
	return ((const float *) w)[i];
}

/* Float weights against float activation rows, two accumulators per row. */
SIMD_AI void
SIMD_NAME(float_rows) (int type, int64_t n, const void *w, const void *va, size_t as,
					   float *out, size_t os, const int R)
{
	__m256		a0[DS_DOT_MAX_ROWS],
				a1[DS_DOT_MAX_ROWS];
	int64_t		i = 0;

	_Pragma("GCC unroll 4")
	for (int r = 0; r < R; r++)
		a0[r] = a1[r] = _mm256_setzero_ps();
	for (; i + 16 <= n; i += 16)
	{
		__m256		w0 = SIMD_NAME(load8) (type, w, i);
		__m256		w1 = SIMD_NAME(load8) (type, w, i + 8);

		_Pragma("GCC unroll 4")
		for (int r = 0; r < R; r++)
		{
			const float *x = (const float *) ((const char *) va + (size_t) r * as);

			a0[r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), a0[r]);
			a1[r] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), a1[r]);
		}
	}
	_Pragma("GCC unroll 4")
	for (int r = 0; r < R; r++)
	{
		const float *x = (const float *) ((const char *) va + (size_t) r * as);
		float		s = SIMD_NAME(hsum) (_mm256_add_ps(a0[r], a1[r]));

		for (int64_t k = i; k < n; k++)
			s += SIMD_NAME(load1) (type, w, k) * x[k];
		out[r * os] = s;
	}
}

/* F32 weights against float rows. */
static SIMD_FN void
SIMD_NAME(dot_f32) (int64_t n, const void *w, const void *va, size_t as, int n_act,
					float *out, size_t os)
{
	ROWS_SWITCH(SIMD_NAME(float_rows), n_act, DS_TYPE_F32, n, w, va, as, out, os);
}

/* F16 weights against float rows. */
static SIMD_FN void
SIMD_NAME(dot_f16) (int64_t n, const void *w, const void *va, size_t as, int n_act,
					float *out, size_t os)
{
	ROWS_SWITCH(SIMD_NAME(float_rows), n_act, DS_TYPE_F16, n, w, va, as, out, os);
}

/* BF16 weights against float rows. */
static SIMD_FN void
SIMD_NAME(dot_bf16) (int64_t n, const void *w, const void *va, size_t as, int n_act,
					 float *out, size_t os)
{
	ROWS_SWITCH(SIMD_NAME(float_rows), n_act, DS_TYPE_BF16, n, w, va, as, out, os);
}

/* Float dot product, four accumulators. */
static SIMD_FN float
SIMD_NAME(dot_f32_vec) (const float *a, const float *b, int64_t n)
{
	__m256		s0 = _mm256_setzero_ps(),
				s1 = _mm256_setzero_ps(),
				s2 = _mm256_setzero_ps(),
				s3 = _mm256_setzero_ps();
	int64_t		i = 0;
	float		s;

	for (; i + 32 <= n; i += 32)
	{
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
		s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
		s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
	}
	for (; i + 8 <= n; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
	s = SIMD_NAME(hsum) (_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
	for (; i < n; i++)
		s += a[i] * b[i];
	return s;
}

/* y += a * x. */
static SIMD_FN void
SIMD_NAME(axpy_f32_vec) (float a, const float *x, float *y, int64_t n)
{
	__m256		va = _mm256_set1_ps(a);
	int64_t		i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i),
												_mm256_loadu_ps(y + i)));
	for (; i < n; i++)
		y[i] += a * x[i];
}

/* Dot product of a half-precision row with a float row. */
static SIMD_FN float
SIMD_NAME(dot_f16_vec) (const ds_f16 *a, const float *b, int64_t n)
{
	__m256		s0 = _mm256_setzero_ps(),
				s1 = _mm256_setzero_ps();
	int64_t		i = 0;
	float		s;

	for (; i + 16 <= n; i += 16)
	{
		s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (a + i))),
							 _mm256_loadu_ps(b + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (a + i + 8))),
							 _mm256_loadu_ps(b + i + 8), s1);
	}
	s = SIMD_NAME(hsum) (_mm256_add_ps(s0, s1));
	for (; i < n; i++)
		s += _cvtsh_ss(a[i]) * b[i];
	return s;
}

/* y += a * x with x in half precision. */
static SIMD_FN void
SIMD_NAME(axpy_f16_vec) (float a, const ds_f16 *x, float *y, int64_t n)
{
	__m256		va = _mm256_set1_ps(a);
	int64_t		i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_fmadd_ps(va,
			_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (x + i))), _mm256_loadu_ps(y + i)));
	for (; i < n; i++)
		y[i] += a * _cvtsh_ss(x[i]);
}

/* Floats to half precision, round to nearest even. */
static SIMD_FN void
SIMD_NAME(to_f16_vec) (const float *x, ds_f16 *y, int64_t n)
{
	int64_t		i = 0;

	for (; i + 8 <= n; i += 8)
		_mm_storeu_si128((__m128i *) (y + i),
						 _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
	for (; i < n; i++)
		y[i] = ds_f32_to_f16(x[i]);
}

/* Half precision to floats. */
static SIMD_FN void
SIMD_NAME(from_f16_vec) (const ds_f16 *x, float *y, int64_t n)
{
	int64_t		i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (x + i))));
	for (; i < n; i++)
		y[i] = _cvtsh_ss(x[i]);
}

/* Largest |x| of n floats (n a multiple of 8). */
SIMD_AI float
SIMD_NAME(absmax) (const float *x, int n)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	__m256		m = _mm256_setzero_ps();
	__m128		h;

	for (int i = 0; i < n; i += 8)
		m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
	h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
	h = _mm_max_ps(h, _mm_movehl_ps(h, h));
	h = _mm_max_ss(h, _mm_movehdup_ps(h));
	return _mm_cvtss_f32(h);
}

/* 32 floats times id, rounded to nearest even, as bytes in order; *sum gets their sum. */
SIMD_AI __m256i
SIMD_NAME(round32) (const float *x, float id, int *sum)
{
	const __m256 v = _mm256_set1_ps(id);
	__m256i		q[4];
	__m256i		s16,
				t16,
				b;
	__m128i		s;

	for (int k = 0; k < 4; k++)
		q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), v),
												  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
	s = _mm_add_epi32(_mm256_castsi256_si128(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]),
															  _mm256_add_epi32(q[2], q[3]))),
					  _mm256_extracti128_si256(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]),
																_mm256_add_epi32(q[2], q[3])), 1));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
	*sum = _mm_cvtsi128_si32(s);
	s16 = _mm256_packs_epi32(q[0], q[1]);
	t16 = _mm256_packs_epi32(q[2], q[3]);
	b = _mm256_packs_epi16(s16, t16);
	return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* A row of activations into q8a blocks (same results as the scalar code). */
static SIMD_FN void
SIMD_NAME(quantize_q8a) (const float *x, void *out, int64_t n)
{
	for (int64_t b = 0; b < n / 32; b++)
	{
		ds_block_q8a *y = (ds_block_q8a *) out + b;
		float		amax = SIMD_NAME(absmax) (x + 32 * b, 32);
		float		id = amax != 0.0f ? 127.0f / amax : 0.0f;
		int			sum;

		_mm256_storeu_si256((__m256i *) y->qs, SIMD_NAME(round32) (x + 32 * b, id, &sum));
		y->d = _cvtsh_ss(_cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT));
		y->s = y->d * (float) sum;
	}
}

/* A row of activations into q8k blocks (same results as the scalar code). */
static SIMD_FN void
SIMD_NAME(quantize_q8k) (const float *x, void *out, int64_t n)
{
	for (int64_t b = 0; b < n / 256; b++)
	{
		ds_block_q8k *y = (ds_block_q8k *) out + b;
		const float *xb = x + 256 * b;
		float		amax = SIMD_NAME(absmax) (xb, 256);
		float		iscale = amax != 0.0f ? 127.0f / amax : 0.0f;

		for (int k = 0; k < 8; k++)
		{
			int			sum;
			__m256i		q = SIMD_NAME(round32) (xb + 32 * k, iscale, &sum);
			__m256i		w = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q),
											  _mm256_set1_epi16(1));

			_mm256_storeu_si256((__m256i *) (y->qs + 32 * k), q);
			/* lanes 0-3 sum values 0-15, lanes 4-7 values 16-31 */
			w = _mm256_hadd_epi32(w, w);
			w = _mm256_hadd_epi32(w, w);
			y->bsums[2 * k] = (int16_t) _mm256_extract_epi32(w, 0);
			y->bsums[2 * k + 1] = (int16_t) _mm256_extract_epi32(w, 4);
		}
		y->d = amax != 0.0f ? 1.0f / iscale : 0.0f;
	}
}

/* Install this instance's kernels. */
static void
SIMD_NAME(set_kernels) (kernel_set *k)
{
	k->dot[DS_TYPE_F32] = SIMD_NAME(dot_f32);
	k->dot[DS_TYPE_F16] = SIMD_NAME(dot_f16);
	k->dot[DS_TYPE_BF16] = SIMD_NAME(dot_bf16);
	k->dot[DS_TYPE_Q4_0] = SIMD_NAME(dot_q4_0);
	k->dot[DS_TYPE_Q4_1] = SIMD_NAME(dot_q4_1);
	k->dot[DS_TYPE_Q5_0] = SIMD_NAME(dot_q5_0);
	k->dot[DS_TYPE_Q5_1] = SIMD_NAME(dot_q5_1);
	k->dot[DS_TYPE_Q8_0] = SIMD_NAME(dot_q8_0);
	k->dot[DS_TYPE_Q4_K] = SIMD_NAME(dot_q4_k);
	k->dot[DS_TYPE_Q5_K] = SIMD_NAME(dot_q5_k);
	k->dot[DS_TYPE_Q6_K] = SIMD_NAME(dot_q6_k);
	k->dot_f32 = SIMD_NAME(dot_f32_vec);
	k->axpy_f32 = SIMD_NAME(axpy_f32_vec);
	k->dot_f16 = SIMD_NAME(dot_f16_vec);
	k->axpy_f16 = SIMD_NAME(axpy_f16_vec);
	k->quant_q8a = SIMD_NAME(quantize_q8a);
	k->quant_q8k = SIMD_NAME(quantize_q8k);
	k->to_f16 = SIMD_NAME(to_f16_vec);
	k->from_f16 = SIMD_NAME(from_f16_vec);
}

#undef SIMD_FN
#undef SIMD_AI
#undef Q8A
#undef Q8K
#undef ROWS_SWITCH
