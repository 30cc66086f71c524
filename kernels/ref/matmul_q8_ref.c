/*
 * matmul_q8_ref.c -- reference of the dp4a small-batch product
 * (matvec_dp4a.cu): x quantized to int8 per 32 elements, then the product
 * of the dequantized weights with the quantized x, q * d, in double.
 */
#include <math.h>
#include <stdlib.h>

#include "quant.h"
#include "kernels_ref.h"

/* d = amax / 127, q = round-half-even(x / d), 0 for an all-zero block */
void
ds_ref_quantize_q8(const float *x, int K, int8_t *q, float *d, int32_t *s16)
{
	for (int b = 0; b < K / 32; b++)
	{
		const float *xb = x + 32 * b;
		float		amax = 0.0f;

		for (int i = 0; i < 32; i++)
			amax = fmaxf(amax, fabsf(xb[i]));
		d[b] = amax / 127.0f;
		s16[2 * b] = s16[2 * b + 1] = 0;
		for (int i = 0; i < 32; i++)
		{
			int			v = amax > 0.0f ? (int) nearbyintf(xb[i] / d[b]) : 0;

			q[32 * b + i] = (int8_t) v;
			s16[2 * b + i / 16] += v;
		}
	}
}

bool
ds_ref_matmul_q8(int type, const void *w, int M, int K,
				 const float *x, int ldx, int n, float *y, int ldy)
{
	size_t		rb = ds_row_size(type, K);
	double	   *xq;
	float	   *row;
	int8_t	   *q;
	float	   *d;
	int32_t    *s16;
	bool		ok;

	if (type == DS_TYPE_F16 || type == DS_TYPE_BF16 || type == DS_TYPE_F32)
		return ds_ref_matmul(type, w, M, K, x, ldx, n, y, ldy);
	if (K % 32 != 0 || rb == 0)
		return false;
	xq = malloc((size_t) n * K * sizeof(double));
	row = malloc((size_t) K * sizeof(float));
	q = malloc((size_t) K);
	d = malloc((size_t) K / 32 * sizeof(float));
	s16 = malloc((size_t) K / 16 * sizeof(int32_t));
	ok = xq && row && q && d && s16;
	for (int b = 0; ok && b < n; b++)
	{
		ds_ref_quantize_q8(x + (size_t) b * ldx, K, q, d, s16);
		for (int k = 0; k < K; k++)
			xq[(size_t) b * K + k] = (double) q[k] * d[k / 32];
	}
	for (int m = 0; ok && m < M; m++)
	{
		ok = ds_dequantize_row(type, (const uint8_t *) w + (size_t) m * rb, row, K);
		for (int b = 0; ok && b < n; b++)
		{
			double		acc = 0.0;

			for (int k = 0; k < K; k++)
				acc += (double) row[k] * xq[(size_t) b * K + k];
			y[(size_t) b * ldy + m] = (float) acc;
		}
	}
	free(xq);
	free(row);
	free(q);
	free(d);
	free(s16);
	return ok;
}
