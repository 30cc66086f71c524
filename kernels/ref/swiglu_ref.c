/*
 * swiglu_ref.c -- reference of swiglu.cu: silu(gate) * up.
 */
#include <math.h>

#include "kernels_ref.h"

/* out = gate / (1 + e^-gate) * up */
void
ds_ref_swiglu(const float *gate, int ldg, const float *up, int ldu, int n,
			  int rows, float *out, int ldo)
{
	for (int r = 0; r < rows; r++)
		for (int i = 0; i < n; i++)
		{
			double		g = gate[(size_t) r * ldg + i];

			out[(size_t) r * ldo + i] =
				(float) (g / (1.0 + exp(-g)) * up[(size_t) r * ldu + i]);
		}
}
