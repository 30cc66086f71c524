/*
 * model.c -- build a ds_model from a GGUF file: hyperparameters, weight
 * views into the mapping with their shapes checked, and the tokenizer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "tokenizer.h"

#define MAX_LAYERS 1024
#define MAX_HEADS 1024
#define MAX_HEAD_DIM 1024
#define MAX_EMBD (1 << 17)

/* Read <arch>.<key> as a positive int; absent -> def (or an error when def < 0). */
static int
hp_int(const ds_gguf *g, const char *arch, const char *key, int def, int max,
	   int *out, char *err)
{
	char		full[160];
	uint32_t	v;

	snprintf(full, sizeof(full), "%s.%s", arch, key);
	if (ds_gguf_find_key(g, full) < 0)
	{
		if (def < 0)
			return ds_error(err, DS_ERR_FORMAT, "model has no %s", full);
		*out = def;
		return DS_OK;
	}
	if (!ds_gguf_get_u32(g, full, &v) || v == 0 || v > (uint32_t) max)
		return ds_error(err, DS_ERR_FORMAT, "%s must be an integer from 1 to %d", full, max);
	*out = (int) v;
	return DS_OK;
}

/* Read <arch>.<key> as a float; absent -> def. */
static int
hp_float(const ds_gguf *g, const char *arch, const char *key, float def, float *out,
		 char *err)
{
	char		full[160];

	snprintf(full, sizeof(full), "%s.%s", arch, key);
	if (ds_gguf_find_key(g, full) < 0)
	{
		*out = def;
		return DS_OK;
	}
	if (!ds_gguf_get_f32(g, full, out) || !(*out > 0.0f))
		return ds_error(err, DS_ERR_FORMAT, "%s must be a positive float", full);
	return DS_OK;
}

/* Linear RoPE scaling from rope.scaling.*; other scaling kinds are not supported. */
static int
read_rope_scaling(const ds_gguf *g, const char *arch, ds_hparams *hp, char *err)
{
	char		key[160];
	ds_str		type;
	float		factor = 1.0f;
	int			rc;

	hp->rope_scale = 1.0f;
	snprintf(key, sizeof(key), "%s.rope.scaling.type", arch);
	if (!ds_gguf_get_str(g, key, &type))
	{
		if ((rc = hp_float(g, arch, "rope.scale_linear", 1.0f, &factor, err)) != DS_OK)
			return rc;
		hp->rope_scale = 1.0f / factor;
		return DS_OK;
	}
	if (type.len == 4 && memcmp(type.ptr, "none", 4) == 0)
		return DS_OK;
	if (type.len == 6 && memcmp(type.ptr, "linear", 6) == 0)
	{
		if ((rc = hp_float(g, arch, "rope.scaling.factor", 1.0f, &factor, err)) != DS_OK)
			return rc;
		hp->rope_scale = 1.0f / factor;
		return DS_OK;
	}
	return ds_error(err, DS_ERR_UNSUPPORTED, "RoPE scaling \"%.*s\" is not supported",
					(int) (type.len > 32 ? 32 : type.len), type.ptr);
}

/* All hyperparameters of a llama or qwen2 model. */
static int
read_hparams(const ds_gguf *g, const char *arch, ds_hparams *hp, char *err)
{
	int			rc;

	if ((rc = hp_int(g, arch, "embedding_length", -1, MAX_EMBD, &hp->n_embd, err)) ||
		(rc = hp_int(g, arch, "block_count", -1, MAX_LAYERS, &hp->n_layer, err)) ||
		(rc = hp_int(g, arch, "attention.head_count", -1, MAX_HEADS, &hp->n_head, err)) ||
		(rc = hp_int(g, arch, "attention.head_count_kv", hp->n_head, MAX_HEADS,
					 &hp->n_head_kv, err)) ||
		(rc = hp_int(g, arch, "feed_forward_length", -1, 1 << 20, &hp->n_ff, err)) ||
		(rc = hp_int(g, arch, "context_length", 4096, 1 << 24, &hp->n_ctx_train, err)) ||
		(rc = hp_int(g, arch, "attention.key_length", hp->n_embd / hp->n_head,
					 MAX_HEAD_DIM, &hp->head_dim, err)) ||
		(rc = hp_int(g, arch, "rope.dimension_count", hp->head_dim, MAX_HEAD_DIM,
					 &hp->rope_dim, err)) ||
		(rc = hp_float(g, arch, "rope.freq_base", 10000.0f, &hp->rope_base, err)) ||
		(rc = hp_float(g, arch, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->rms_eps,
					   err)) ||
		(rc = read_rope_scaling(g, arch, hp, err)))
		return rc;
	if (hp->n_head % hp->n_head_kv != 0)
		return ds_error(err, DS_ERR_FORMAT, "head_count %d is not a multiple of head_count_kv %d",
						hp->n_head, hp->n_head_kv);
	if (hp->head_dim % 2 != 0 || hp->rope_dim % 2 != 0 || hp->rope_dim > hp->head_dim)
		return ds_error(err, DS_ERR_FORMAT, "head size %d / rope dimensions %d are not usable",
						hp->head_dim, hp->rope_dim);
	hp->rope_neox = strcmp(arch, "qwen2") == 0;
	return DS_OK;
}

/* A required 2-D weight of the given shape and a supported type. */
static int
get_matrix(const ds_gguf *g, const char *name, int64_t cols, int64_t rows, ds_weight *w,
		   char *err)
{
	const ds_tensor *t = ds_gguf_find_tensor(g, name);
	const ds_type_traits *tt;

	if (t == NULL)
		return ds_error(err, DS_ERR_FORMAT, "model has no tensor %s", name);
	if (t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != 1 || t->ne[3] != 1)
		return ds_error(err, DS_ERR_FORMAT,
						"tensor %s has shape [%lld, %lld, %lld], expected [%lld, %lld]",
						name, (long long) t->ne[0], (long long) t->ne[1], (long long) t->ne[2],
						(long long) cols, (long long) rows);
	tt = ds_type_info(t->type);
	if (tt == NULL || !tt->supported)
		return ds_error(err, DS_ERR_UNSUPPORTED, "tensor %s has type %s, which is not supported",
						name, ds_type_name(t->type));
	w->data = t->data;
	w->type = t->type;
	w->rows = rows;
	w->cols = cols;
	w->row_bytes = ds_row_size(t->type, cols);
	return DS_OK;
}

/* Remember a malloc'd vector so that ds_model_free releases it. */
static int
own(ds_model *m, float *v, char *err)
{
	float	  **grown = realloc(m->owned, (size_t) (m->n_owned + 1) * sizeof(float *));

	if (grown == NULL)
	{
		free(v);
		return ds_error(err, DS_ERR_NOMEM, "out of memory");
	}
	m->owned = grown;
	m->owned[m->n_owned++] = v;
	return DS_OK;
}

/* A 1-D vector of n values as floats: F32 in place, other types converted. */
static int
get_vector(ds_model *m, const char *name, int64_t n, bool required, const float **out,
		   char *err)
{
	const ds_tensor *t = ds_gguf_find_tensor(m->gguf, name);
	float	   *v;

	*out = NULL;
	if (t == NULL)
		return required ? ds_error(err, DS_ERR_FORMAT, "model has no tensor %s", name) : DS_OK;
	if ((int64_t) t->n_elements != n || t->ne[0] != n)
		return ds_error(err, DS_ERR_FORMAT, "tensor %s has %llu elements, expected %lld",
						name, (unsigned long long) t->n_elements, (long long) n);
	if (t->type == DS_TYPE_F32)
	{
		*out = t->data;
		return DS_OK;
	}
	v = malloc((size_t) n * sizeof(float));
	if (v == NULL)
		return ds_error(err, DS_ERR_NOMEM, "out of memory");
	if (!ds_dequantize_row(t->type, t->data, v, n))
	{
		free(v);
		return ds_error(err, DS_ERR_UNSUPPORTED, "tensor %s has type %s, which is not supported",
						name, ds_type_name(t->type));
	}
	*out = v;
	return own(m, v, err);
}

/* The weights of block il. */
static int
load_layer(ds_model *m, int il, ds_layer *l, bool bias, char *err)
{
	const ds_hparams *hp = &m->hp;
	const ds_gguf *g = m->gguf;
	int64_t		q_dim = (int64_t) hp->n_head * hp->head_dim;
	int64_t		kv_dim = (int64_t) hp->n_head_kv * hp->head_dim;
	char		n[12][96];
	static const char *const fmt[12] = {
		"blk.%d.attn_norm.weight", "blk.%d.attn_q.weight", "blk.%d.attn_k.weight",
		"blk.%d.attn_v.weight", "blk.%d.attn_output.weight", "blk.%d.ffn_norm.weight",
		"blk.%d.ffn_gate.weight", "blk.%d.ffn_up.weight", "blk.%d.ffn_down.weight",
		"blk.%d.attn_q.bias", "blk.%d.attn_k.bias", "blk.%d.attn_v.bias"
	};
	int			rc;

	for (int i = 0; i < 12; i++)
		snprintf(n[i], sizeof(n[i]), fmt[i], il);
	if ((rc = get_vector(m, n[0], hp->n_embd, true, &l->attn_norm, err)) ||
		(rc = get_matrix(g, n[1], hp->n_embd, q_dim, &l->wq, err)) ||
		(rc = get_matrix(g, n[2], hp->n_embd, kv_dim, &l->wk, err)) ||
		(rc = get_matrix(g, n[3], hp->n_embd, kv_dim, &l->wv, err)) ||
		(rc = get_matrix(g, n[4], q_dim, hp->n_embd, &l->wo, err)) ||
		(rc = get_vector(m, n[5], hp->n_embd, true, &l->ffn_norm, err)) ||
		(rc = get_matrix(g, n[6], hp->n_embd, hp->n_ff, &l->w_gate, err)) ||
		(rc = get_matrix(g, n[7], hp->n_embd, hp->n_ff, &l->w_up, err)) ||
		(rc = get_matrix(g, n[8], hp->n_ff, hp->n_embd, &l->w_down, err)) ||
		(rc = get_vector(m, n[9], q_dim, bias, &l->bq, err)) ||
		(rc = get_vector(m, n[10], kv_dim, bias, &l->bk, err)) ||
		(rc = get_vector(m, n[11], kv_dim, bias, &l->bv, err)))
		return rc;
	return DS_OK;
}

/* Token embedding, final norm, LM head (tied when output.weight is absent). */
static int
load_globals(ds_model *m, char *err)
{
	const ds_tensor *emb = ds_gguf_find_tensor(m->gguf, "token_embd.weight");
	int			rc;

	if (emb == NULL)
		return ds_error(err, DS_ERR_FORMAT, "model has no tensor token_embd.weight");
	if (emb->ne[1] < 1 || emb->ne[1] > INT32_MAX)
		return ds_error(err, DS_ERR_FORMAT, "token_embd.weight has %lld rows",
						(long long) emb->ne[1]);
	m->hp.n_vocab = (int) emb->ne[1];
	if ((rc = get_matrix(m->gguf, "token_embd.weight", m->hp.n_embd, m->hp.n_vocab,
						 &m->tok_embd, err)) ||
		(rc = get_vector(m, "output_norm.weight", m->hp.n_embd, true, &m->output_norm, err)) ||
		(rc = get_vector(m, "rope_freqs.weight", m->hp.rope_dim / 2, false, &m->hp.rope_freqs,
						 err)))
		return rc;
	if (ds_gguf_find_tensor(m->gguf, "output.weight") == NULL)
	{
		m->output = m->tok_embd;
		return DS_OK;
	}
	return get_matrix(m->gguf, "output.weight", m->hp.n_embd, m->hp.n_vocab, &m->output, err);
}

/* The weight type holding most elements among the matrices, for display. */
static const char *
dominant_type(const ds_gguf *g)
{
	uint64_t	count[DS_TYPE_COUNT] = {0};
	int			best = DS_TYPE_F32;

	for (int i = 0; i < ds_gguf_n_tensors(g); i++)
	{
		const ds_tensor *t = ds_gguf_tensor_at(g, i);

		if (t->n_dims >= 2 && strcmp(t->name, "token_embd.weight") != 0 &&
			strcmp(t->name, "output.weight") != 0)
			count[t->type] += t->n_elements;
	}
	for (int i = 0; i < DS_TYPE_COUNT; i++)
		if (count[i] > count[best])
			best = i;
	return ds_type_name(best);
}

/* Fill the description the worker shows. */
static void
fill_info(ds_model *m, const char *arch, const char *path)
{
	ds_model_info *in = &m->info;
	const ds_hparams *hp = &m->hp;
	ds_str		name;
	const char *base = strrchr(path, '/');
	uint32_t	id;

	memset(in, 0, sizeof(*in));
	snprintf(in->arch, sizeof(in->arch), "%s", arch);
	if (ds_gguf_get_str(m->gguf, "general.name", &name) && name.len > 0)
		snprintf(in->name, sizeof(in->name), "%.*s",
				 (int) (name.len > 127 ? 127 : name.len), name.ptr);
	else
		snprintf(in->name, sizeof(in->name), "%s", base ? base + 1 : path);
	snprintf(in->file_type, sizeof(in->file_type), "%s", dominant_type(m->gguf));
	in->n_vocab = hp->n_vocab;
	in->n_ctx_train = hp->n_ctx_train;
	in->n_embd = hp->n_embd;
	in->n_layer = hp->n_layer;
	in->n_head = hp->n_head;
	in->n_head_kv = hp->n_head_kv;
	in->head_dim = hp->head_dim;
	in->n_ff = hp->n_ff;
	in->bos_id = ds_gguf_get_u32(m->gguf, "tokenizer.ggml.bos_token_id", &id) ? (int) id : -1;
	in->eos_id = ds_gguf_get_u32(m->gguf, "tokenizer.ggml.eos_token_id", &id) ? (int) id : -1;
	in->add_bos = false;
	ds_gguf_get_bool(m->gguf, "tokenizer.ggml.add_bos_token", &in->add_bos);
	for (int i = 0; i < ds_gguf_n_tensors(m->gguf); i++)
	{
		in->n_params += ds_gguf_tensor_at(m->gguf, i)->n_elements;
		in->weight_bytes += ds_gguf_tensor_at(m->gguf, i)->nbytes;
	}
}

/* The architecture name, if it is one we run. */
static int
read_arch(const ds_gguf *g, char *arch, size_t size, char *err)
{
	ds_str		a;

	if (!ds_gguf_get_str(g, "general.architecture", &a))
		return ds_error(err, DS_ERR_FORMAT, "model has no general.architecture");
	snprintf(arch, size, "%.*s", (int) (a.len < size ? a.len : size - 1), a.ptr);
	if (strlen(arch) != a.len || (strcmp(arch, "llama") != 0 && strcmp(arch, "qwen2") != 0))
		return ds_error(err, DS_ERR_UNSUPPORTED,
						"architecture \"%.*s\" is not supported (llama and qwen2 are)",
						(int) (a.len > 32 ? 32 : a.len), a.ptr);
	return DS_OK;
}

/* Everything after the file is open: shapes, weights, tokenizer. */
static int
build_model(ds_model *m, const char *path, bool with_tokenizer, char *err)
{
	char		arch[32];
	int			rc;

	if ((rc = read_arch(m->gguf, arch, sizeof(arch), err)) ||
		(rc = read_hparams(m->gguf, arch, &m->hp, err)) ||
		(rc = load_globals(m, err)))
		return rc;
	m->layers = calloc((size_t) m->hp.n_layer, sizeof(ds_layer));
	if (m->layers == NULL)
		return ds_error(err, DS_ERR_NOMEM, "out of memory");
	for (int il = 0; il < m->hp.n_layer; il++)
		if ((rc = load_layer(m, il, &m->layers[il], strcmp(arch, "qwen2") == 0, err)))
			return rc;
	fill_info(m, arch, path);
	if (with_tokenizer)
	{
		if ((rc = ds_tokenizer_from_gguf(m->gguf, &m->tok, err)) != DS_OK)
			return rc;
		m->info.bos_id = ds_tokenizer_bos(m->tok);
		m->info.eos_id = ds_tokenizer_eos(m->tok);
		m->info.add_bos = ds_tokenizer_add_bos(m->tok);
	}
	return DS_OK;
}

/* Open the GGUF file and build the model from it. */
int
ds_model_load(const char *path, bool with_tokenizer, ds_model **out, char *err)
{
	ds_model   *m;
	int			rc;

	*out = NULL;
	m = calloc(1, sizeof(ds_model));
	if (m == NULL)
		return ds_error(err, DS_ERR_NOMEM, "out of memory");
	if ((rc = ds_gguf_open(path, &m->gguf, err)) != DS_OK ||
		(rc = build_model(m, path, with_tokenizer, err)) != DS_OK)
	{
		ds_model_free(m);
		return rc;
	}
	*out = m;
	return DS_OK;
}

/* Release the tokenizer, converted vectors and the mapping. */
void
ds_model_free(ds_model *m)
{
	if (m == NULL)
		return;
	if (m->tok != NULL)
		ds_tokenizer_free(m->tok);
	for (int i = 0; i < m->n_owned; i++)
		free(m->owned[i]);
	free(m->owned);
	free(m->layers);
	ds_gguf_close(m->gguf);
	free(m);
}

/* Row `token` of the embedding table as floats. */
void
ds_model_embed(const ds_model *m, int32_t token, float *out)
{
	const ds_weight *w = &m->tok_embd;

	ds_dequantize_row(w->type, (const char *) w->data + (size_t) token * w->row_bytes, out,
					  w->cols);
}
