/*
 * matmul_ref.c -- reference of the matrix products (matvec.cu, gemm_fused.cu,
 * gemm_cublas.cu): dequantize each row with quant.c, accumulate in double.
 */
#include <stdlib.h>

#include "quant.h"
#include "kernels_ref.h"

/* y[b][m] = W[m] . x[b] for every row m and vector b. */
bool
ds_ref_matmul(int type, const void *w, int M, int K,
			  const float *x, int ldx, int n, float *y, int ldy)
{
	size_t		rb = ds_row_size(type, K);
	float	   *row = malloc((size_t) K * sizeof(float));

	if (row == NULL || rb == 0)
	{
		free(row);
		return false;
	}
	for (int m = 0; m < M; m++)
	{
		if (!ds_dequantize_row(type, (const uint8_t *) w + (size_t) m * rb, row, K))
		{
			free(row);
			return false;
		}
		for (int b = 0; b < n; b++)
		{
			double		acc = 0.0;

			for (int k = 0; k < K; k++)
				acc += (double) row[k] * x[(size_t) b * ldx + k];
			y[(size_t) b * ldy + m] = (float) acc;
		}
	}
	free(row);
	return true;
}
