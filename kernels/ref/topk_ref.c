/*
 * topk_ref.c -- reference of topk.cu: the k largest values of a row, and
 * sampling among them.
 */
#include <math.h>
#include <stdlib.h>

#include "kernels_ref.h"

/* true when (va, ia) ranks before (vb, ib): larger value, then lower index;
 * NaN ranks after everything */
static bool
ranks_before(float va, int ia, float vb, int ib)
{
	bool		na = va != va,
				nb = vb != vb;

	if (na != nb)
		return nb;
	if (!na && va != vb)
		return va > vb;
	return ia < ib;
}

/* Insertion into a sorted top-k list: O(n k), plain on purpose. */
void
ds_ref_topk(const float *v, int n, int k, int32_t *ids, float *vals)
{
	int			have = 0;

	for (int i = 0; i < n; i++)
	{
		int			j;

		if (have == k && !ranks_before(v[i], i, v[ids[k - 1]], ids[k - 1]))
			continue;
		j = have < k ? have++ : k - 1;
		while (j > 0 && ranks_before(v[i], i, v[ids[j - 1]], ids[j - 1]))
		{
			ids[j] = ids[j - 1];
			j--;
		}
		ids[j] = i;
	}
	if (vals != NULL)
		for (int j = 0; j < k; j++)
			vals[j] = v[ids[j]];
}

/*
 * Draw among the top k: p_j = exp((v_j - v_0) / T) / sum (0 for NaN); the
 * token is the first j whose running sum exceeds u * sum (the last if
 * rounding leaves none, the first if every p_j is 0).
 */
int32_t
ds_ref_sample_topk(const float *v, int n, int k, float temperature, float u)
{
	int32_t		ids[256];
	float		vals[256];
	double		p[256];
	double		sum = 0.0,
				run = 0.0;

	if (temperature <= 0.0f || k <= 1)
		return ds_ref_argmax(v, n);
	ds_ref_topk(v, n, k, ids, vals);
	for (int j = 0; j < k; j++)
	{
		p[j] = exp(((double) vals[j] - vals[0]) / temperature);
		if (p[j] != p[j])
			p[j] = 0.0;			/* NaN logits never drawn */
		sum += p[j];
	}
	if (sum == 0.0)
		return ids[0];
	for (int j = 0; j < k; j++)
	{
		run += p[j];
		if (run > u * sum)
			return ids[j];
	}
	return ids[k - 1];
}
