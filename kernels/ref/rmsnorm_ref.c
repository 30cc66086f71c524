/*
 * rmsnorm_ref.c -- reference of rmsnorm.cu: RMSNorm, and the residual add
 * fused in front of it.
 */
#include <math.h>

#include "kernels_ref.h"

/* out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight */
void
ds_ref_rmsnorm(const float *x, const float *weight, int n, int rows,
			   float eps, float *out)
{
	for (int r = 0; r < rows; r++)
	{
		const float *xr = x + (size_t) r * n;
		double		ss = 0.0;
		double		scale;

		for (int i = 0; i < n; i++)
			ss += (double) xr[i] * xr[i];
		scale = 1.0 / sqrt(ss / n + eps);
		for (int i = 0; i < n; i++)
			out[(size_t) r * n + i] = (float) (xr[i] * scale * weight[i]);
	}
}

/* h += d, then out = rmsnorm(h) * weight */
void
ds_ref_add_rmsnorm(float *h, const float *d, const float *weight, int n,
				   int rows, float eps, float *out)
{
	if (d != NULL)
		ds_ref_add(h, h, d, (size_t) n * rows);
	ds_ref_rmsnorm(h, weight, n, rows, eps, out);
}
