/*
 * rope_ref.c -- reference of rope.cu: rotary position embedding, adjacent
 * pairs (llama) or NEOX halves (qwen2), with rope_freqs factors.
 */
#include <math.h>

#include "kernels_ref.h"

/* Turn the first n_rot dimensions of every head of every token. */
void
ds_ref_rope(float *x, int n_tok, int n_head, int head_dim, int ld_tok,
			int n_rot, const int32_t *pos, int mode, float freq_base,
			float freq_scale, const float *freq_factors)
{
	int			half = n_rot / 2;

	for (int tk = 0; tk < n_tok; tk++)
		for (int hd = 0; hd < n_head; hd++)
		{
			float	   *v = x + (size_t) tk * ld_tok + (size_t) hd * head_dim;

			for (int i = 0; i < half; i++)
			{
				double		inv = pow((double) freq_base, -2.0 * i / n_rot);
				double		theta = (double) pos[tk] * freq_scale * inv;
				int			i0 = mode == 2 ? i : 2 * i;
				int			i1 = mode == 2 ? i + half : 2 * i + 1;
				double		x0 = v[i0],
							x1 = v[i1];

				if (freq_factors != NULL)
					theta /= freq_factors[i];
				v[i0] = (float) (x0 * cos(theta) - x1 * sin(theta));
				v[i1] = (float) (x0 * sin(theta) + x1 * cos(theta));
			}
		}
}
