/*
 * embed_ref.c -- reference of embed.cu: rows of a quantized table.
 */
#include <string.h>

#include "quant.h"
#include "kernels_ref.h"

/* out[i] = row ids[i] of table, dequantized; zeros for an id out of range */
bool
ds_ref_embed(const void *table, int type, int vocab, int n_embd,
			 const int32_t *ids, int n, float *out)
{
	size_t		rb = ds_row_size(type, n_embd);

	for (int i = 0; i < n; i++)
	{
		float	   *o = out + (size_t) i * n_embd;

		if (ids[i] < 0 || ids[i] >= vocab)
			memset(o, 0, (size_t) n_embd * sizeof(float));
		else if (!ds_dequantize_row(type, (const uint8_t *) table + (size_t) ids[i] * rb,
									o, n_embd))
			return false;
	}
	return true;
}
