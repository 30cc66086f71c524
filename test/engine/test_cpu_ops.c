/*
 * test_cpu_ops.c -- the CPU dot-product kernels against the reference
 * dequantizers.
 *
 * For every weight type, random blocks are dot-multiplied with quantized
 * activation rows by each kernel level (scalar, AVX2, VNNI); the result must
 * equal the double-precision dot of ds_dequantize_row(weights) with the
 * values the quantized activations stand for, up to float rounding.  A
 * kernel must give each row the same bits whether it runs alone or with
 * other rows (batching is invisible).
 */
#include <math.h>
#include <stdint.h>

#include "cpu_ops.h"
#include "test_util.h"

#define N 512					/* row length: two K-quant super-blocks */

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t) (rng >> 16);
}

/* Uniform in [-1, 1). */
static float
rndf(void)
{
	return (float) rnd() / 2147483648.0f - 1.0f;
}

/* Put a half-precision value at p (maybe unaligned). */
static void
put_f16(void *p, float v)
{
	ds_f16		h = ds_f32_to_f16(v);

	memcpy(p, &h, 2);
}

/* A random row of the given type: random quant bits, sane scales. */
static void
random_row(int type, uint8_t *row)
{
	const ds_type_traits *t = ds_type_info(type);
	int			nb = N / t->block_elems;

	for (size_t i = 0; i < ds_row_size(type, N); i++)
		row[i] = (uint8_t) rnd();
	for (int b = 0; b < nb; b++)
	{
		uint8_t    *blk = row + (size_t) b * t->block_bytes;

		switch (type)
		{
			case DS_TYPE_F32:
				((float *) row)[b] = rndf();
				break;
			case DS_TYPE_F16:
				put_f16(blk, rndf());
				break;
			case DS_TYPE_BF16:
				{
					ds_bf16		h = ds_f32_to_bf16(rndf());

					memcpy(blk, &h, 2);
				}
				break;
			case DS_TYPE_Q4_1:
			case DS_TYPE_Q5_1:
				put_f16(blk + 2, rndf() * 0.1f);
				/* fall through */
			case DS_TYPE_Q4_0:
			case DS_TYPE_Q5_0:
			case DS_TYPE_Q8_0:
				put_f16(blk, rndf() * 0.05f);
				break;
			case DS_TYPE_Q4_K:
			case DS_TYPE_Q5_K:
				put_f16(blk, rndf() * 0.01f);
				put_f16(blk + 2, rndf() * 0.01f);
				break;
			case DS_TYPE_Q6_K:
				put_f16(blk + offsetof(ds_block_q6_k, d), rndf() * 0.01f);
				break;
		}
	}
}

/* Double-precision dot of dequantized weights and dequantized activations. */
static double
ref_dot(int type, const uint8_t *row, const void *act, ds_act_kind kind, double *mag)
{
	float		w[N],
				a[N];
	double		s = 0.0;

	ds_dequantize_row(type, row, w, N);
	ds_dequantize_act_row(kind, act, a, N);
	*mag = 0.0;
	for (int i = 0; i < N; i++)
	{
		s += (double) w[i] * a[i];
		*mag += fabs((double) w[i] * a[i]);
	}
	return s;
}

static const int types[] = {
	DS_TYPE_F32, DS_TYPE_F16, DS_TYPE_BF16, DS_TYPE_Q4_0, DS_TYPE_Q4_1, DS_TYPE_Q5_0,
	DS_TYPE_Q5_1, DS_TYPE_Q8_0, DS_TYPE_Q4_K, DS_TYPE_Q5_K, DS_TYPE_Q6_K
};

/* One type at one kernel level over many random rows. */
static void
test_type(int type, ds_isa isa)
{
	ds_act_kind kind = ds_act_kind_for(type);
	size_t		abytes = ds_act_row_bytes(kind, N);
	uint8_t		row[N * 4];
	uint8_t    *act = malloc(abytes * 4);
	double		worst = 0.0;

	for (int iter = 0; iter < 200; iter++)
	{
		float		x[N],
					one[4],
					four[4];
		ds_dot_fn	dot = ds_dot_kernel(type);

		random_row(type, row);
		for (int r = 0; r < 4; r++)
		{
			float		scale = (r == 3) ? 100.0f : 1.0f;

			for (int i = 0; i < N; i++)
				x[i] = rndf() * scale;
			ds_quantize_act_row(kind, x, act + r * abytes, N);
		}
		dot(N, row, act, abytes, 4, four, 1);
		for (int r = 0; r < 4; r++)
		{
			double		mag,
						ref = ref_dot(type, row, act + r * abytes, kind, &mag);
			double		err = fabs(four[r] - ref) / (mag + 1e-30);

			dot(N, row, act + r * abytes, abytes, 1, &one[r], 1);
			CHECK(memcmp(&one[r], &four[r], sizeof(float)) == 0,
				  "%s/%s: row %d differs alone (%.9g) and in a batch (%.9g)",
				  ds_type_name(type), ds_isa_name(isa), r, one[r], four[r]);
			if (err > worst)
				worst = err;
		}
	}
	CHECK(worst < 2e-6, "%s/%s: relative error %.3g", ds_type_name(type), ds_isa_name(isa),
		  worst);
	printf("  %-5s %-12s max error / sum|w*a| = %.2e\n", ds_type_name(type),
		   ds_isa_name(isa), worst);
	free(act);
}

/* The activation quantizers are within half a step of the input. */
static void
test_quantizers(void)
{
	for (int kind = DS_ACT_Q8; kind <= DS_ACT_Q8K; kind++)
	{
		float		x[N],
					y[N];
		uint8_t		q[N * 2];
		float		amax = 0.0f;
		double		worst = 0.0;

		for (int i = 0; i < N; i++)
		{
			x[i] = rndf() * (i < 256 ? 3.0f : 0.01f);
			amax = fmaxf(amax, fabsf(x[i]));
		}
		ds_quantize_act_row(kind, x, q, N);
		ds_dequantize_act_row(kind, q, y, N);
		for (int i = 0; i < N; i++)
		{
			double		step = (i < 256 ? 3.0 : 0.01) / 127.0;

			worst = fmax(worst, fabs(x[i] - y[i]) / step);
		}
		CHECK(worst <= 0.51, "quantizer %d: error %.3f steps", kind, worst);
	}
}

/* The vector quantizers give the same bytes as the scalar ones. */
static void
test_quantizers_match(ds_isa isa)
{
	float		x[N];
	uint8_t		a[N * 2],
				b[N * 2];

	for (int kind = DS_ACT_Q8; kind <= DS_ACT_Q8K; kind++)
		for (int iter = 0; iter < 50; iter++)
		{
			size_t		bytes = ds_act_row_bytes(kind, N);

			for (int i = 0; i < N; i++)
				x[i] = rndf() * (iter % 3 == 0 ? 1e-3f : 7.0f);
			if (iter == 1)
				memset(x, 0, sizeof(x));
			if (iter == 2)
				for (int i = 0; i < N; i++)
					x[i] = (float) (i % 9) - 4.5f;	/* ties when scaled */
			ds_cpu_set_isa(DS_ISA_SCALAR);
			ds_quantize_act_row(kind, x, a, N);
			ds_cpu_set_isa(isa);
			ds_quantize_act_row(kind, x, b, N);
			CHECK(memcmp(a, b, bytes) == 0, "quantizer %d on %s differs from scalar (iter %d)",
				  kind, ds_isa_name(isa), iter);
		}
}

/* ds_cpu_matmul equals the kernel applied row by row. */
static void
test_matmul(void)
{
	enum
	{
		ROWS = 37, ACTS = 11
	};
	uint8_t    *wdata = malloc(ds_row_size(DS_TYPE_Q4_1, N) * ROWS);
	size_t		abytes = ds_act_row_bytes(DS_ACT_Q8, N);
	uint8_t    *act = malloc(abytes * ACTS);
	float		out[ACTS][ROWS],
				x[N];
	ds_weight	w = {wdata, DS_TYPE_Q4_1, ROWS, N, ds_row_size(DS_TYPE_Q4_1, N)};

	for (int i = 0; i < ROWS; i++)
		random_row(DS_TYPE_Q4_1, wdata + i * w.row_bytes);
	for (int r = 0; r < ACTS; r++)
	{
		for (int i = 0; i < N; i++)
			x[i] = rndf();
		ds_quantize_act_row(DS_ACT_Q8, x, act + r * abytes, N);
	}
	ds_cpu_matmul(&w, 0, ROWS, act, abytes, ACTS, &out[0][0], ROWS);
	for (int r = 0; r < ACTS; r++)
		for (int i = 0; i < ROWS; i++)
		{
			float		one;

			ds_dot_kernel(DS_TYPE_Q4_1) (N, wdata + i * w.row_bytes, act + r * abytes, abytes, 1,
										 &one, 1);
			CHECK(one == out[r][i], "matmul [%d][%d]", r, i);
		}
	free(wdata);
	free(act);
}

int
main(void)
{
	ds_isa		best = ds_cpu_ops_init();

	printf("cpu: best kernels %s\n", ds_isa_name(best));
	test_quantizers();
	for (int isa = DS_ISA_SCALAR; isa <= (int) best; isa++)
	{
		test_quantizers_match((ds_isa) isa);
		ds_cpu_set_isa((ds_isa) isa);
		for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
			test_type(types[t], (ds_isa) isa);
		test_matmul();
	}
	if (best < DS_ISA_VNNI)
		printf("SKIP: this CPU has no AVX-512 VNNI; those kernels were not run\n");
	return t_finish("test_cpu_ops");
}
