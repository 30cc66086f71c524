/*
 * sampler.c -- greedy, temperature, top-k and top-p sampling with a
 * per-sequence seeded random state.
 */
#include <math.h>
#include <stdlib.h>

#include "sampler.h"

/* splitmix64: spreads a user seed over the whole state. */
static uint64_t
splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Next xorshift64* value. */
static uint64_t
next_u64(ds_sampler *s)
{
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 0x2545f4914f6cdd1dull;
}

/* Uniform float in [0, 1) from 24 random bits. */
static float
next_uniform(ds_sampler *s)
{
	return (float) (next_u64(s) >> 40) / 16777216.0f;
}

/* Copy the parameters and seed the random state. */
void
ds_sampler_init(ds_sampler *s, const ds_gen_params *params)
{
	s->temperature = params->temperature;
	s->top_p = params->top_p;
	s->top_k = params->top_k;
	s->rng = splitmix64(params->seed);
	if (s->rng == 0)
		s->rng = 0x9e3779b97f4a7c15ull;
}

/* Index of the largest value, lowest index on ties. */
int32_t
ds_argmax(const float *x, int n)
{
	int32_t		best = 0;

	for (int i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

/* Order: higher probability first, then lower id. */
static int
cmp_candidate(const void *a, const void *b)
{
	const ds_candidate *x = a;
	const ds_candidate *y = b;

	if (x->p != y->p)
		return x->p > y->p ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

/* Move the k most likely candidates to the front (in any order). */
static void
select_top_k(ds_candidate *c, int n, int k)
{
	int			lo = 0,
				hi = n - 1;

	while (lo < hi)
	{
		ds_candidate pivot = c[(lo + hi) / 2];
		int			i = lo,
					j = hi;

		while (i <= j)
		{
			while (cmp_candidate(&c[i], &pivot) < 0)
				i++;
			while (cmp_candidate(&c[j], &pivot) > 0)
				j--;
			if (i <= j)
			{
				ds_candidate t = c[i];

				c[i++] = c[j];
				c[j--] = t;
			}
		}
		if (k - 1 <= j)
			hi = j;
		else if (k - 1 >= i)
			lo = i;
		else
			break;
	}
}

/* Softmax of logits / temperature into candidates; returns the count. */
static int
softmax_candidates(const ds_sampler *s, const float *logits, int n, ds_candidate *c)
{
	float		mx = logits[ds_argmax(logits, n)];
	double		sum = 0.0;

	for (int i = 0; i < n; i++)
	{
		c[i].id = i;
		c[i].p = expf((logits[i] - mx) / s->temperature);
		sum += c[i].p;
	}
	for (int i = 0; i < n; i++)
		c[i].p = (float) (c[i].p / sum);
	return n;
}

/* Keep only the candidates that can be inside the top_p nucleus (unsorted). */
static int
prefilter_top_p(ds_candidate *c, int n, float top_p)
{
	/* a token below (1 - top_p) / (n - 1) cannot be needed to reach top_p */
	float		cutoff = (1.0f - top_p) / (float) (n > 1 ? n - 1 : 1);
	int			m = 0;

	for (int i = 0; i < n; i++)
		if (c[i].p >= cutoff)
			c[m++] = c[i];
	return m > 0 ? m : n;
}

/* Draw one candidate in proportion to p (over the first n). */
static int32_t
draw(ds_sampler *s, const ds_candidate *c, int n)
{
	double		mass = 0.0,
				r,
				acc = 0.0;

	for (int i = 0; i < n; i++)
		mass += c[i].p;
	r = next_uniform(s) * mass;
	for (int i = 0; i < n; i++)
	{
		acc += c[i].p;
		if (r < acc)
			return c[i].id;
	}
	return c[n - 1].id;
}

/* Choose the next token. */
int32_t
ds_sampler_sample(ds_sampler *s, float *logits, int n, ds_candidate *c)
{
	int			m;

	if (s->temperature <= 0.0f)
		return ds_argmax(logits, n);
	m = softmax_candidates(s, logits, n, c);
	if (s->top_k > 0 && s->top_k < m)
	{
		select_top_k(c, m, s->top_k);
		m = s->top_k;
	}
	else if (s->top_p < 1.0f)
		m = prefilter_top_p(c, m, s->top_p);
	if (s->top_p < 1.0f || s->top_k > 0)
	{
		double		mass = 0.0,
					acc = 0.0;

		qsort(c, (size_t) m, sizeof(ds_candidate), cmp_candidate);
		for (int i = 0; i < m; i++)
			mass += c[i].p;
		for (int i = 0; i < m && s->top_p < 1.0f; i++)
		{
			acc += c[i].p / mass;
			if (acc >= s->top_p)
			{
				m = i + 1;
				break;
			}
		}
	}
	return draw(s, c, m);
}
