/*
 * model.h -- a decoder-only transformer as it sits in a GGUF file.
 *
 * Hyperparameters come from the <arch>.* keys, weights are looked up by their
 * GGUF names and stay in the read-only mapping (only small 1-D vectors that
 * are not F32 are converted into malloc'd copies).  Architectures: llama
 * (adjacent-pair RoPE, optional rope_freqs factors) and qwen2 (NEOX RoPE,
 * Q/K/V bias).  Plain C, no PostgreSQL headers.
 */
#ifndef DS_MODEL_H
#define DS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "gguf.h"
#include "quant.h"

/* A weight matrix: rows x cols, each row cols elements of type, contiguous. */
typedef struct ds_weight
{
	const void *data;			/* in the mapping */
	int			type;			/* DS_TYPE_* */
	int64_t		rows;			/* ne[1]: output features */
	int64_t		cols;			/* ne[0]: input features */
	size_t		row_bytes;
} ds_weight;

/* One transformer block. */
typedef struct ds_layer
{
	const float *attn_norm;		/* [n_embd] */
	ds_weight	wq;				/* [n_head * head_dim] x [n_embd] */
	ds_weight	wk;				/* [n_head_kv * head_dim] x [n_embd] */
	ds_weight	wv;				/* [n_head_kv * head_dim] x [n_embd] */
	const float *bq;			/* [n_head * head_dim] or NULL */
	const float *bk;			/* [n_head_kv * head_dim] or NULL */
	const float *bv;			/* [n_head_kv * head_dim] or NULL */
	ds_weight	wo;				/* [n_embd] x [n_head * head_dim] */
	const float *ffn_norm;		/* [n_embd] */
	ds_weight	w_gate;			/* [n_ff] x [n_embd] */
	ds_weight	w_up;			/* [n_ff] x [n_embd] */
	ds_weight	w_down;			/* [n_embd] x [n_ff] */
} ds_layer;

/* Shape and numerics of the network. */
typedef struct ds_hparams
{
	int			n_vocab;
	int			n_embd;
	int			n_layer;
	int			n_head;
	int			n_head_kv;
	int			head_dim;
	int			n_ff;
	int			n_ctx_train;
	float		rms_eps;
	float		rope_base;
	int			rope_dim;		/* rotated dimensions per head (<= head_dim, even) */
	bool		rope_neox;		/* pairs (i, i + rope_dim/2) instead of (2i, 2i+1) */
	float		rope_scale;		/* positions are multiplied by this (linear scaling) */
	const float *rope_freqs;	/* [rope_dim / 2] divisors of each pair's frequency, or NULL */
} ds_hparams;

typedef struct ds_model
{
	ds_gguf    *gguf;			/* owns the mapping */
	ds_hparams	hp;
	ds_weight	tok_embd;		/* [n_vocab] x [n_embd] */
	const float *output_norm;	/* [n_embd] */
	ds_weight	output;			/* [n_vocab] x [n_embd]; tok_embd when tied */
	ds_layer   *layers;			/* [n_layer] */
	ds_tokenizer *tok;
	ds_model_info info;
	float	  **owned;			/* converted 1-D vectors, freed with the model */
	int			n_owned;
} ds_model;

/*
 * Map and check a model file; on failure *out is NULL and err says why.
 * with_tokenizer = false skips the vocabulary (numerical tests, benchmarks).
 */
int			ds_model_load(const char *path, bool with_tokenizer, ds_model **out, char *err);
void		ds_model_free(ds_model *m);

/* Embedding of one token as floats (n_embd values). */
void		ds_model_embed(const ds_model *m, int32_t token, float *out);

#endif							/* DS_MODEL_H */
