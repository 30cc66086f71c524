/*
 * argmax_ref.c -- reference of argmax.cu: greedy sampling.
 */
#include "kernels_ref.h"

/* Index of the largest value; the first one on ties; NaN is skipped. */
int32_t
ds_ref_argmax(const float *v, int n)
{
	int32_t		best = -1;

	for (int i = 0; i < n; i++)
		if (v[i] == v[i] && (best < 0 || v[i] > v[best]))
			best = i;
	return best < 0 ? 0 : best;
}
