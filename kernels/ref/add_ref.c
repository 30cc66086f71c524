/*
 * add_ref.c -- reference of add.cu: the residual add.
 */
#include "kernels_ref.h"

/* y = a + b, element by element (y may alias a or b) */
void
ds_ref_add(float *y, const float *a, const float *b, size_t count)
{
	for (size_t i = 0; i < count; i++)
		y[i] = a[i] + b[i];
}
