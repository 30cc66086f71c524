/*
 * sampler.h -- choose the next token from a row of logits.
 *
 * Temperature 0 is argmax (lowest id on ties).  Otherwise the logits are
 * divided by the temperature and softmaxed, the candidates are cut to the
 * top_k most likely (when top_k > 0), then to the smallest set whose mass
 * reaches top_p (when top_p < 1), and one is drawn with the sequence's own
 * random state: the same seed and parameters on the same logits always give
 * the same token.  Plain C, no PostgreSQL headers.
 */
#ifndef DS_SAMPLER_H
#define DS_SAMPLER_H

#include <stdint.h>

#include "engine.h"

typedef struct ds_sampler
{
	float		temperature;
	float		top_p;
	int			top_k;
	uint64_t	rng;			/* xorshift64* state, never 0 */
} ds_sampler;

/* One candidate token while sampling. */
typedef struct ds_candidate
{
	int32_t		id;
	float		p;
} ds_candidate;

/* Set up from generation parameters (seeded through splitmix64). */
void		ds_sampler_init(ds_sampler *s, const ds_gen_params *params);

/* Pick a token from n logits; scratch must hold n candidates. */
int32_t		ds_sampler_sample(ds_sampler *s, float *logits, int n, ds_candidate *scratch);

/* Index of the largest value (lowest index on ties). */
int32_t		ds_argmax(const float *x, int n);

#endif							/* DS_SAMPLER_H */
