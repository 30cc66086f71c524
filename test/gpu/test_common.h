/*
 * test_common.h -- what the kernel tests and the benchmark share: a seeded
 * random generator, random GGUF weights with valid scales, error measures
 * and the pass/fail tally (C++, host code), and CK() for the CUDA programs.
 */
#ifndef DS_TEST_COMMON_H
#define DS_TEST_COMMON_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vector>

#include "quant.h"

#ifdef __CUDACC__
#include <cuda_runtime.h>

/* test and benchmark programs stop at the first failed CUDA call */
#define CK(x) \
	do { \
		cudaError_t e_ = (x); \
		if (e_ != cudaSuccess) { \
			printf("FATAL %s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
			exit(2); \
		} \
	} while (0)
#endif

/* xorshift64* generator; every run draws a fresh seed and prints it */
struct Rng
{
	uint64_t	s;

	explicit Rng(uint64_t seed) : s(seed ? seed : 0x9e3779b97f4a7c15ull) {}
	uint64_t	next()
	{
		s ^= s >> 12;
		s ^= s << 25;
		s ^= s >> 27;
		return s * 0x2545f4914f6cdd1dull;
	}
	uint32_t	u32() { return (uint32_t) (next() >> 32); }
	/* uniform in [0, 1) */
	double		uni() { return (next() >> 11) * (1.0 / 9007199254740992.0); }
	float		range(float lo, float hi) { return (float) (lo + (hi - lo) * uni()); }
	/* standard normal (Box-Muller) */
	float		normal()
	{
		double		u1 = uni() + 1e-300,
					u2 = uni();

		return (float) (sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
	}
};

/* A seed from the clock and pid, or DS_TEST_SEED when set. */
static inline uint64_t
test_seed(void)
{
	const char *e = getenv("DS_TEST_SEED");
	struct timespec ts;

	if (e != NULL && *e)
		return strtoull(e, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t) ts.tv_nsec << 20) ^ (uint64_t) ts.tv_sec ^ ((uint64_t) getpid() << 40);
}

static inline void
put_f16(uint8_t *p, float v)
{
	ds_f16		h = ds_f32_to_f16(v);

	memcpy(p, &h, 2);
}

/* random magnitude in [lo, hi) with a random sign */
static inline float
signed_range(Rng &r, float lo, float hi)
{
	float		v = r.range(lo, hi);

	return (r.u32() & 1) ? -v : v;
}

/*
 * M rows of K random weights of a GGUF type as stored in a file: random
 * quant bits, block scales of realistic size (never NaN or infinite).
 */
static inline std::vector<uint8_t>
random_weights(int type, int M, int K, Rng &r)
{
	size_t		rb = ds_row_size(type, K);
	std::vector<uint8_t> w(rb * M + 64);
	const ds_type_traits *tt = ds_type_info(type);
	size_t		nblk = rb * M / tt->block_bytes;

	for (size_t i = 0; i < w.size(); i++)
		w[i] = (uint8_t) r.u32();
	for (size_t b = 0; b < nblk; b++)
	{
		uint8_t    *p = w.data() + b * tt->block_bytes;

		switch (type)
		{
			case DS_TYPE_F16:
				put_f16(p, 0.05f * r.normal());
				break;
			case DS_TYPE_BF16:
				{
					ds_bf16		h = ds_f32_to_bf16(0.05f * r.normal());

					memcpy(p, &h, 2);
				}
				break;
			case DS_TYPE_Q4_0:
			case DS_TYPE_Q5_0:
			case DS_TYPE_Q8_0:
				put_f16(p, signed_range(r, 0.001f, 0.02f));
				break;
			case DS_TYPE_Q4_1:
				put_f16(p, r.range(0.001f, 0.02f));
				put_f16(p + 2, signed_range(r, 0.0f, 0.1f));
				break;
			case DS_TYPE_Q4_K:
			case DS_TYPE_Q5_K:
				put_f16(p, r.range(0.0002f, 0.002f));
				put_f16(p + 2, r.range(0.0001f, 0.002f));
				break;
			case DS_TYPE_Q6_K:
				put_f16(p + 208, signed_range(r, 0.0001f, 0.001f));
				break;
		}
	}
	w.resize(rb * M);
	return w;
}

/*
 * What the int8 rounding of x (scale d per 32-element block, |x - q d| <=
 * d / 2) can cost each output of W x at worst: bound[b M + m] = sum_k
 * |w[m][k]| d[b][k / 32] / 2, with (K + 31) / 32 scales per vector in d.
 * With x (ldx apart), mag[b M + m] = sum_k |w[m][k] x[b][k]| as well.
 */
static inline void
int8x_rounding_bounds(int type, const uint8_t *w, int M, int K, const float *d, int n,
					  const float *x, int ldx, std::vector<double> &bound, std::vector<double> *mag)
{
	const int	nblk = (K + 31) / 32;
	const size_t rb = ds_row_size(type, K);
	std::vector<float> wr(K);

	bound.assign((size_t) n * M, 0.0);
	if (mag)
		mag->assign((size_t) n * M, 0.0);
	for (int m = 0; m < M; m++)
	{
		ds_dequantize_row(type, w + (size_t) m * rb, wr.data(), K);
		for (int b = 0; b < n; b++)
		{
			const float *db = d + (size_t) b * nblk;
			double		s = 0.0,
						a = 0.0;

			for (int k = 0; k < K; k++)
			{
				s += fabs(wr[k]) * db[k / 32] * 0.5;
				if (mag)
					a += fabs((double) wr[k] * x[(size_t) b * ldx + k]);
			}
			bound[(size_t) b * M + m] = s;
			if (mag)
				(*mag)[(size_t) b * M + m] = a;
		}
	}
}

/* ||a - b|| / ||b||, NaN or an infinite value in a counts as a failure (inf) */
static inline double
rel_err(const float *a, const float *b, size_t n)
{
	double		num = 0.0,
				den = 0.0;

	for (size_t i = 0; i < n; i++)
	{
		if (!isfinite(a[i]))
			return INFINITY;
		num += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
		den += (double) b[i] * b[i];
	}
	return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* largest |a - b| */
static inline double
max_abs_err(const float *a, const float *b, size_t n)
{
	double		m = 0.0;

	for (size_t i = 0; i < n; i++)
	{
		double		e = fabs((double) a[i] - b[i]);

		if (!(e <= m))
			m = isfinite(e) ? e : INFINITY;
	}
	return m;
}

/* pass/fail tally with a one-line report per check */
struct Tally
{
	int			passed = 0;
	int			failed = 0;

	bool		check(bool ok, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)))
	{
		va_list		ap;

		va_start(ap, fmt);
		printf("%s  ", ok ? "ok  " : "FAIL");
		vprintf(fmt, ap);
		printf("\n");
		va_end(ap);
		if (ok)
			passed++;
		else
			failed++;
		return ok;
	}
};

static const int all_types[] = {
	DS_TYPE_Q4_0, DS_TYPE_Q4_1, DS_TYPE_Q5_0, DS_TYPE_Q8_0,
	DS_TYPE_Q4_K, DS_TYPE_Q5_K, DS_TYPE_Q6_K, DS_TYPE_F16, DS_TYPE_BF16
};

#endif							/* DS_TEST_COMMON_H */
