/*
 * engine.c -- sequences, the paged KV block allocator, the step loop,
 * sampling, stopping and streaming text.
 *
 * A step gathers every running sequence into one batch for the backend:
 * each decoding sequence contributes its one new token, and prefilling
 * sequences (oldest first) share a budget of prefill_chunk prompt tokens per
 * step, so a step stays short even when many long prompts arrive together.
 * KV blocks of block_size positions come from one pool and are taken as a
 * sequence grows; its block table maps position p to block blocks[p / bs].
 *
 * Output text is kept raw.  ds_engine_seq_take_text() hands out the part
 * that can no longer change: it holds back any tail that could be the start
 * of a stop string and any incomplete UTF-8 character, and replaces bytes
 * that cannot be UTF-8 by U+FFFD so the caller always gets valid text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "engine.h"
#include "model.h"
#include "sampler.h"
#include "threadpool.h"
#include "tokenizer.h"
#include "utf8.h"

#define BLOCK_SIZE 32
#define MAX_SEQS 1024

/* One sequence slot. */
typedef struct ds_seq
{
	bool		in_use;
	int			id;
	ds_seq_status status;
	char		error[DS_ERRLEN];
	int32_t    *tokens;			/* [n_ctx] prompt, then generated tokens */
	int			n_prompt;
	int			n_tokens;		/* tokens in tokens[] */
	int			n_past;			/* tokens whose K/V are in the cache */
	int			n_generated;
	int32_t    *blocks;			/* [max_blocks] block table */
	int			n_blocks;
	int			max_tokens;
	char	  **stop;			/* [n_stop] NUL-terminated copies */
	int			n_stop;
	size_t		stop_max;		/* longest stop string */
	ds_sampler	sampler;
	char	   *text;			/* raw output bytes */
	size_t		text_len;
	size_t		text_cap;
	size_t		emitted;		/* bytes of text already handed out */
	char	   *out;			/* what the last take_text returned */
	size_t		out_cap;
} ds_seq;

struct ds_engine
{
	ds_model   *model;
	const ds_backend_ops *ops;
	void	   *backend;
	char		device[96];
	int			n_ctx;
	int			max_seqs;
	int			prefill_chunk;
	int			max_blocks;		/* blocks one sequence may hold */
	int32_t    *free_blocks;	/* stack of free block ids */
	int			n_free;
	ds_seq	   *seqs;			/* [max_seqs] */
	int			next_id;
	int			max_batch_seen;
	ds_batch_seq *batch;		/* [max_seqs] */
	int		   *batch_slot;		/* [max_seqs] slot of each batch entry */
	float	   *logits;			/* [max_seqs][n_vocab] */
	ds_candidate *cand;			/* [n_vocab] */
};

/* ---------------------------------------------------------------------------
 * UTF-8
 */

/* Where an incomplete trailing UTF-8 character starts (or n when none). */
static size_t
utf8_complete_end(const unsigned char *s, size_t n)
{
	for (size_t back = 1; back <= 3 && back <= n; back++)
	{
		unsigned char c = s[n - back];

		if ((c & 0xC0) != 0x80)
			return ds_utf8_char(s + n - back, back) == 0 ? n - back : n;
	}
	return n;
}

/* ---------------------------------------------------------------------------
 * Small buffers
 */

/* Make room for need bytes in a growing buffer. */
static bool
reserve(char **buf, size_t *cap, size_t need)
{
	size_t		c = *cap ? *cap : 64;
	char	   *p;

	if (need <= *cap)
		return true;
	while (c < need)
		c *= 2;
	p = realloc(*buf, c);
	if (p == NULL)
		return false;
	*buf = p;
	*cap = c;
	return true;
}

/* Copy n bytes into out as valid UTF-8 (bad bytes become U+FFFD); false on OOM. */
static bool
sanitize(ds_seq *q, const char *src, size_t n, size_t *out_len)
{
	size_t		o = 0;

	if (!reserve(&q->out, &q->out_cap, 3 * n + 1))
		return false;
	for (size_t i = 0; i < n;)
	{
		int			len = ds_utf8_char((const unsigned char *) src + i, n - i);

		if (len > 0)
		{
			memcpy(q->out + o, src + i, (size_t) len);
			o += (size_t) len;
			i += (size_t) len;
			continue;
		}
		memcpy(q->out + o, "\xEF\xBF\xBD", 3);
		o += 3;
		i++;
	}
	q->out[o] = '\0';
	*out_len = o;
	return true;
}

/* ---------------------------------------------------------------------------
 * Sequences
 */

/* The slot holding seq_id, or NULL. */
static ds_seq *
find_seq(const ds_engine *e, int seq_id)
{
	for (int i = 0; i < e->max_seqs; i++)
		if (e->seqs[i].in_use && e->seqs[i].id == seq_id)
			return &e->seqs[i];
	return NULL;
}

/* Give a sequence's blocks back to the pool and clear its slot. */
static void
clear_seq(ds_engine *e, ds_seq *q)
{
	for (int i = 0; i < q->n_blocks; i++)
		e->free_blocks[e->n_free++] = q->blocks[i];
	for (int i = 0; i < q->n_stop; i++)
		free(q->stop[i]);
	free(q->stop);
	q->stop = NULL;
	q->n_stop = 0;
	q->n_blocks = 0;
	q->in_use = false;
	q->text_len = q->emitted = 0;
}

/* Mark a sequence finished. */
static void
finish(ds_seq *q, ds_seq_status status)
{
	if (q->status == DS_SEQ_RUNNING)
		q->status = status;
}

/* Mark a sequence failed with a message. */
static void
fail(ds_seq *q, const char *msg)
{
	snprintf(q->error, sizeof(q->error), "%s", msg);
	q->status = DS_SEQ_FAILED;
}

/* Check generation parameters. */
static int
check_params(const ds_gen_params *p, char *err)
{
	if (p == NULL)
		return ds_error(err, DS_ERR_ARG, "no generation parameters");
	if (p->max_tokens < 1)
		return ds_error(err, DS_ERR_ARG, "max_tokens must be at least 1");
	if (!(p->temperature >= 0.0f) || p->temperature > 1e6f)
		return ds_error(err, DS_ERR_ARG, "temperature must be a number >= 0");
	if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
		return ds_error(err, DS_ERR_ARG, "top_p must be in (0, 1]");
	if (p->top_k < 0)
		return ds_error(err, DS_ERR_ARG, "top_k must be >= 0");
	if (p->n_stop < 0 || (p->n_stop > 0 && p->stop == NULL))
		return ds_error(err, DS_ERR_ARG, "invalid stop string list");
	return DS_OK;
}

/* Copy the non-empty stop strings into the slot. */
static int
copy_stops(ds_seq *q, const ds_gen_params *p, char *err)
{
	q->stop = calloc((size_t) (p->n_stop > 0 ? p->n_stop : 1), sizeof(char *));
	q->stop_max = 0;
	if (q->stop == NULL)
		return ds_error(err, DS_ERR_NOMEM, "out of memory");
	for (int i = 0; i < p->n_stop; i++)
	{
		size_t		len;

		if (p->stop[i] == NULL || p->stop[i][0] == '\0')
			continue;
		len = strlen(p->stop[i]);
		if ((q->stop[q->n_stop] = strdup(p->stop[i])) == NULL)
			return ds_error(err, DS_ERR_NOMEM, "out of memory");
		q->n_stop++;
		if (len > q->stop_max)
			q->stop_max = len;
	}
	return DS_OK;
}

/* Queue a tokenized prompt. */
int
ds_engine_submit(ds_engine *e, const int32_t *prompt, int n_prompt,
				 const ds_gen_params *params, int *seq_id, char *err)
{
	ds_seq	   *q = NULL;
	int			rc;

	*seq_id = -1;
	if ((rc = check_params(params, err)) != DS_OK)
		return rc;
	if (n_prompt < 1 || prompt == NULL)
		return ds_error(err, DS_ERR_ARG, "the prompt is empty");
	if (n_prompt + 1 > e->n_ctx)
		return ds_error(err, DS_ERR_CONTEXT,
						"the prompt has %d tokens; the context holds %d including output",
						n_prompt, e->n_ctx);
	for (int i = 0; i < n_prompt; i++)
		if (prompt[i] < 0 || prompt[i] >= e->model->hp.n_vocab)
			return ds_error(err, DS_ERR_ARG, "token id %d is outside the vocabulary", prompt[i]);
	for (int i = 0; i < e->max_seqs && q == NULL; i++)
		if (!e->seqs[i].in_use)
			q = &e->seqs[i];
	if (q == NULL)
		return ds_error(err, DS_ERR_BUSY, "all %d sequence slots are in use", e->max_seqs);
	if ((rc = copy_stops(q, params, err)) != DS_OK)
	{
		clear_seq(e, q);
		return rc;
	}
	memcpy(q->tokens, prompt, (size_t) n_prompt * sizeof(int32_t));
	q->in_use = true;
	q->id = e->next_id++;
	q->status = DS_SEQ_RUNNING;
	q->error[0] = '\0';
	q->n_prompt = q->n_tokens = n_prompt;
	q->n_past = q->n_generated = 0;
	q->max_tokens = params->max_tokens;
	q->text_len = q->emitted = 0;
	ds_sampler_init(&q->sampler, params);
	*seq_id = q->id;
	return DS_OK;
}

/* ---------------------------------------------------------------------------
 * The step
 */

/* Take blocks until the sequence can hold n_pos positions. */
static bool
grow_blocks(ds_engine *e, ds_seq *q, int n_pos)
{
	while (q->n_blocks * BLOCK_SIZE < n_pos)
	{
		if (e->n_free == 0 || q->n_blocks >= e->max_blocks)
			return false;
		q->blocks[q->n_blocks++] = e->free_blocks[--e->n_free];
	}
	return true;
}

/* Add a sequence's next tokens to the batch. */
static void
add_to_batch(ds_engine *e, int *n, int slot, int n_tokens)
{
	ds_seq	   *q = &e->seqs[slot];
	ds_batch_seq *b = &e->batch[*n];

	if (!grow_blocks(e, q, q->n_past + n_tokens))
	{
		fail(q, "no free KV cache blocks");
		return;
	}
	b->tokens = q->tokens + q->n_past;
	b->n_tokens = n_tokens;
	b->pos = q->n_past;
	b->blocks = q->blocks;
	b->logits = q->n_past + n_tokens == q->n_tokens
		? e->logits + (size_t) slot * e->model->hp.n_vocab : NULL;
	e->batch_slot[(*n)++] = slot;
}

/* Decoding sequences, then prefill chunks oldest first within the budget. */
static int
build_batch(ds_engine *e)
{
	int			n = 0,
				budget = e->prefill_chunk;

	for (int i = 0; i < e->max_seqs; i++)
	{
		ds_seq	   *q = &e->seqs[i];

		if (q->in_use && q->status == DS_SEQ_RUNNING && q->n_past >= q->n_prompt)
			add_to_batch(e, &n, i, 1);
	}
	while (budget > 0)
	{
		ds_seq	   *oldest = NULL;

		for (int i = 0; i < e->max_seqs; i++)
		{
			ds_seq	   *q = &e->seqs[i];
			bool		queued = false;

			for (int k = 0; k < n; k++)
				queued |= e->batch_slot[k] == i;
			if (q->in_use && q->status == DS_SEQ_RUNNING && q->n_past < q->n_prompt &&
				!queued && (oldest == NULL || q->id < oldest->id))
				oldest = q;
		}
		if (oldest == NULL)
			break;
		{
			int			chunk = oldest->n_prompt - oldest->n_past;

			chunk = chunk < budget ? chunk : budget;
			add_to_batch(e, &n, (int) (oldest - e->seqs), chunk);
			budget -= chunk;
		}
	}
	return n;
}

/* Append the bytes of a generated token to the sequence's text. */
static bool
append_piece(ds_engine *e, ds_seq *q, int32_t token)
{
	const char *bytes;
	size_t		len;
	bool		control;

	if (!ds_tokenizer_piece(e->model->tok, token, &bytes, &len, &control))
		return false;
	if (control)
		return true;			/* special tokens are not output text */
	if (!reserve(&q->text, &q->text_cap, q->text_len + len + 1))
		return false;
	memcpy(q->text + q->text_len, bytes, len);
	q->text_len += len;
	return true;
}

/*
 * Cut the text at the first stop string that ends in the bytes appended
 * after old_len (earlier positions were checked before).
 */
static bool
find_stop(ds_seq *q, size_t old_len)
{
	size_t		best = (size_t) -1;
	size_t		from = old_len > q->stop_max ? old_len - q->stop_max + 1 : 0;

	if (from < q->emitted)
		from = q->emitted;
	for (int i = 0; i < q->n_stop; i++)
	{
		size_t		len = strlen(q->stop[i]);

		for (size_t at = from; at + len <= q->text_len && at < best; at++)
			if (memcmp(q->text + at, q->stop[i], len) == 0)
			{
				best = at;
				break;
			}
	}
	if (best == (size_t) -1)
		return false;
	q->text_len = best;
	return true;
}

/* Sample the next token of a sequence from its logits and apply the stop rules. */
static void
advance(ds_engine *e, ds_seq *q, float *logits)
{
	int			n_vocab = e->model->hp.n_vocab;
	int32_t		token;
	size_t		old_len = q->text_len;

	/* embedding tables may be padded past the vocabulary: sample real tokens only */
	if (ds_tokenizer_n_vocab(e->model->tok) < n_vocab)
		n_vocab = ds_tokenizer_n_vocab(e->model->tok);
	token = ds_sampler_sample(&q->sampler, logits, n_vocab, e->cand);

	if (logits[token] != logits[token])
	{
		fail(q, "the model produced NaN logits");
		return;
	}
	q->n_generated++;
	if (ds_tokenizer_is_eog(e->model->tok, token))
	{
		finish(q, DS_SEQ_DONE_EOS);
		return;
	}
	q->tokens[q->n_tokens++] = token;
	if (!append_piece(e, q, token))
	{
		fail(q, "could not decode a generated token");
		return;
	}
	if (find_stop(q, old_len))
		finish(q, DS_SEQ_DONE_STOP);
	else if (q->n_generated >= q->max_tokens)
		finish(q, DS_SEQ_DONE_LENGTH);
	else if (q->n_tokens >= e->n_ctx)
		finish(q, DS_SEQ_DONE_CONTEXT);
}

/* Advance every running sequence by one step. */
int
ds_engine_step(ds_engine *e, int *n_running, char *err)
{
	int			n = build_batch(e);
	int			rc;

	*n_running = 0;
	if (n > 0)
	{
		if (n > e->max_batch_seen)
			e->max_batch_seen = n;
		if ((rc = e->ops->step(e->backend, e->batch, n, err)) != DS_OK)
			return rc;
		for (int k = 0; k < n; k++)
		{
			ds_seq	   *q = &e->seqs[e->batch_slot[k]];

			q->n_past += e->batch[k].n_tokens;
			if (e->batch[k].logits != NULL && q->status == DS_SEQ_RUNNING)
				advance(e, q, e->batch[k].logits);
		}
	}
	for (int i = 0; i < e->max_seqs; i++)
		*n_running += e->seqs[i].in_use && e->seqs[i].status == DS_SEQ_RUNNING;
	return DS_OK;
}

/* ---------------------------------------------------------------------------
 * Per-sequence accessors
 */

/* Status of a sequence (DS_SEQ_FAILED for an unknown id). */
ds_seq_status
ds_engine_seq_status(const ds_engine *e, int seq_id)
{
	const ds_seq *q = find_seq(e, seq_id);

	return q ? q->status : DS_SEQ_FAILED;
}

/* Why a sequence failed ("" when it did not). */
const char *
ds_engine_seq_error(const ds_engine *e, int seq_id)
{
	const ds_seq *q = find_seq(e, seq_id);

	if (q == NULL)
		return "unknown sequence";
	return q->status == DS_SEQ_FAILED ? q->error : "";
}

/* Prompt and generated token counts of a sequence. */
void
ds_engine_seq_stats(const ds_engine *e, int seq_id, ds_seq_stats *out)
{
	const ds_seq *q = find_seq(e, seq_id);

	out->n_prompt = q ? q->n_prompt : 0;
	out->n_generated = q ? q->n_generated : 0;
}

/* Bytes of a running sequence's text that can be handed out now. */
static size_t
releasable_end(const ds_seq *q)
{
	size_t		end = q->text_len;

	if (q->status != DS_SEQ_RUNNING)
		return end;
	/* hold back the longest tail that a stop string starts with */
	for (size_t k = q->stop_max ? q->stop_max - 1 : 0; k > 0; k--)
	{
		bool		held = false;

		if (k > end - q->emitted)
			continue;
		for (int i = 0; i < q->n_stop && !held; i++)
			held = strlen(q->stop[i]) > k && memcmp(q->stop[i], q->text + end - k, k) == 0;
		if (held)
		{
			end -= k;
			break;
		}
	}
	end = q->emitted + utf8_complete_end((const unsigned char *) q->text + q->emitted,
										 end - q->emitted);
	return end;
}

/* New output bytes since the last call. */
void
ds_engine_seq_take_text(ds_engine *e, int seq_id, const char **text, size_t *len)
{
	ds_seq	   *q = find_seq(e, seq_id);
	size_t		end;

	*text = "";
	*len = 0;
	if (q == NULL || q->status == DS_SEQ_FAILED)
		return;
	end = releasable_end(q);
	if (end <= q->emitted)
		return;
	if (!sanitize(q, q->text + q->emitted, end - q->emitted, len))
	{
		fail(q, "out of memory for output text");
		*len = 0;
		return;
	}
	*text = q->out;
	q->emitted = end;
}

/* Free a sequence's slot and blocks. */
void
ds_engine_seq_release(ds_engine *e, int seq_id)
{
	ds_seq	   *q = find_seq(e, seq_id);

	if (q != NULL)
		clear_seq(e, q);
}

/* ---------------------------------------------------------------------------
 * Engine
 */

/* Description of the loaded model. */
const ds_model_info *
ds_engine_model_info(const ds_engine *e)
{
	return &e->model->info;
}

/* The model's tokenizer. */
const ds_tokenizer *
ds_engine_tokenizer(const ds_engine *e)
{
	return e->model->tok;
}

/* Backend description, e.g. "cpu (2 threads, avx512-vnni)". */
const char *
ds_engine_device(const ds_engine *e)
{
	return e->device;
}

/* Positions per sequence. */
int
ds_engine_n_ctx(const ds_engine *e)
{
	return e->n_ctx;
}

/* Sequence slots. */
int
ds_engine_max_seqs(const ds_engine *e)
{
	return e->max_seqs;
}

/* Most sequences in one step so far. */
int
ds_engine_max_batch_seen(const ds_engine *e)
{
	return e->max_batch_seen;
}

/* Resolve the configuration's defaults against the model. */
static int
resolve_config(ds_engine *e, const ds_engine_config *cfg, ds_backend_config *bc, char *err)
{
	const ds_hparams *hp = &e->model->hp;
	int			n_ctx = cfg->n_ctx > 0 ? cfg->n_ctx : 4096;

	/* never more than the model was trained for: a shorter model still loads */
	if (n_ctx > hp->n_ctx_train)
		n_ctx = hp->n_ctx_train;
	if (cfg->n_ctx < 0 || cfg->max_seqs < 0 || cfg->n_threads < 0 || cfg->prefill_chunk < 0)
		return ds_error(err, DS_ERR_ARG, "engine settings must not be negative");
	if (n_ctx < 2)
		return ds_error(err, DS_ERR_ARG, "a context of %d tokens is too small", n_ctx);
	if (cfg->max_seqs > MAX_SEQS || cfg->n_threads > 256)
		return ds_error(err, DS_ERR_ARG, "at most %d sequences and 256 threads", MAX_SEQS);
	if (cfg->kv_type && strcmp(cfg->kv_type, "f16") != 0 && strcmp(cfg->kv_type, "f32") != 0)
		return ds_error(err, DS_ERR_ARG, "KV cache type \"%s\" is not f16 or f32", cfg->kv_type);
	e->n_ctx = n_ctx;
	e->max_seqs = cfg->max_seqs ? cfg->max_seqs : 8;
	e->prefill_chunk = cfg->prefill_chunk ? cfg->prefill_chunk : 512;
	e->max_blocks = (n_ctx + BLOCK_SIZE - 1) / BLOCK_SIZE;
	memset(bc, 0, sizeof(*bc));
	bc->n_threads = cfg->n_threads ? cfg->n_threads : ds_cpu_count();
	bc->max_seqs = e->max_seqs;
	bc->max_tokens = e->prefill_chunk + e->max_seqs;
	bc->n_ctx = n_ctx;
	bc->n_blocks = e->max_seqs * e->max_blocks;
	bc->block_size = BLOCK_SIZE;
	bc->kv_f16 = cfg->kv_type == NULL || strcmp(cfg->kv_type, "f16") == 0;
	bc->exact = cfg->exact;
	return DS_OK;
}

/* Sequence slots, the block pool and the per-step arrays. */
static int
alloc_state(ds_engine *e, char *err)
{
	int			n_blocks = e->max_seqs * e->max_blocks;

	e->seqs = calloc((size_t) e->max_seqs, sizeof(ds_seq));
	e->free_blocks = malloc((size_t) n_blocks * sizeof(int32_t));
	e->batch = calloc((size_t) e->max_seqs, sizeof(ds_batch_seq));
	e->batch_slot = calloc((size_t) e->max_seqs, sizeof(int));
	e->logits = malloc((size_t) e->max_seqs * e->model->hp.n_vocab * sizeof(float));
	e->cand = malloc((size_t) e->model->hp.n_vocab * sizeof(ds_candidate));
	if (!e->seqs || !e->free_blocks || !e->batch || !e->batch_slot || !e->logits || !e->cand)
		return ds_error(err, DS_ERR_NOMEM, "out of memory");
	for (int i = 0; i < e->max_seqs; i++)
	{
		e->seqs[i].tokens = malloc((size_t) e->n_ctx * sizeof(int32_t));
		e->seqs[i].blocks = malloc((size_t) e->max_blocks * sizeof(int32_t));
		if (!e->seqs[i].tokens || !e->seqs[i].blocks)
			return ds_error(err, DS_ERR_NOMEM, "out of memory");
	}
	for (int i = 0; i < n_blocks; i++)
		e->free_blocks[i] = n_blocks - 1 - i;
	e->n_free = n_blocks;
	e->next_id = 1;
	return DS_OK;
}

/* Load the model and start the backend. */
int
ds_engine_create(const char *model_path, const ds_engine_config *cfg, ds_engine **out,
				 char *err)
{
	static const ds_engine_config defaults;
	ds_engine  *e;
	ds_backend_config bc;
	int			rc;

	*out = NULL;
	if (cfg == NULL)
		cfg = &defaults;
	e = calloc(1, sizeof(ds_engine));
	if (e == NULL)
		return ds_error(err, DS_ERR_NOMEM, "out of memory");
	if ((rc = ds_model_load(model_path, true, &e->model, err)) != DS_OK ||
		(rc = resolve_config(e, cfg, &bc, err)) != DS_OK ||
		(rc = alloc_state(e, err)) != DS_OK ||
		(rc = ds_backend_find(cfg->device, cfg->lib_dir, &e->ops, err)) != DS_OK ||
		(rc = e->ops->init(e->model, &bc, &e->backend, err)) != DS_OK)
	{
		ds_engine_free(e);
		return rc;
	}
	e->ops->describe(e->backend, e->device, sizeof(e->device));
	*out = e;
	return DS_OK;
}

/* Stop the backend and free everything. */
void
ds_engine_free(ds_engine *e)
{
	if (e == NULL)
		return;
	if (e->backend != NULL)
		e->ops->free(e->backend);
	for (int i = 0; e->seqs != NULL && i < e->max_seqs; i++)
	{
		for (int k = 0; k < e->seqs[i].n_stop; k++)
			free(e->seqs[i].stop[k]);
		free(e->seqs[i].stop);
		free(e->seqs[i].tokens);
		free(e->seqs[i].blocks);
		free(e->seqs[i].text);
		free(e->seqs[i].out);
	}
	free(e->seqs);
	free(e->free_blocks);
	free(e->batch);
	free(e->batch_slot);
	free(e->logits);
	free(e->cand);
	ds_model_free(e->model);
	free(e);
}
