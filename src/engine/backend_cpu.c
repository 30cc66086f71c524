/*
 * backend_cpu.c -- the forward pass on the CPU over a paged KV cache.
 *
 * One step pushes every new token of every sequence through the network
 * together: the rows of the step form one activation matrix, so each weight
 * matrix is read once per step.  Per layer:
 *
 *   xb = rmsnorm(x) * attn_norm
 *   q, k, v = xb . Wq, Wk, Wv (+ biases)          one parallel job
 *   rotate q and k (RoPE), store k and v in the cache blocks
 *   att = softmax(q . K / sqrt(d)) . V per head   one parallel job
 *   x += att . Wo                                 one parallel job
 *   xb = rmsnorm(x) * ffn_norm
 *   h = silu(xb . Wgate) * (xb . Wup)             one parallel job
 *   x += h . Wdown                                one parallel job
 *
 * and finally logits = rmsnorm(x) * output_norm . Wout for the last token of
 * each sequence that asks for them.  Before each matmul its input rows are
 * quantized once (in parallel) into the form its weights need.  Threads
 * take chunks of weight rows from a shared counter; every output element is
 * computed by one thread with one kernel call, so results do not depend on
 * the thread count or on which other sequences share the step.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backend.h"
#include "cpu_ops.h"
#include "threadpool.h"

typedef struct cpu_backend
{
	const ds_model *m;
	ds_backend_config cfg;
	ds_pool    *pool;
	ds_isa		isa;
	int			q_dim;			/* n_head * head_dim */
	int			kv_dim;			/* n_head_kv * head_dim */
	int			max_cols;		/* widest matmul input */

	/* KV cache: [n_layer][n_blocks][block_size][kv_dim] of float or half */
	uint8_t    *k_cache;
	uint8_t    *v_cache;
	size_t		cache_bytes;	/* each of the two */
	size_t		kv_elem;		/* 2 or 4 */

	/* per-token scratch: [max_tokens] rows */
	float	   *x;				/* [n_embd] residual stream */
	float	   *xb;				/* [max(n_embd, q_dim)] normed input */
	float	   *q;				/* [q_dim] */
	float	   *k;				/* [kv_dim] */
	float	   *v;				/* [kv_dim] */
	float	   *att;			/* [q_dim] attention output */
	float	   *tmp;			/* [n_embd] matmul output before the residual add */
	float	   *gate;			/* [n_ff] becomes silu(gate) * up */
	float	   *up;				/* [n_ff] */
	float	   *rope;			/* [rope_dim / 2][2] cos, sin */
	int32_t    *tok_seq;		/* sequence index of each token */
	int32_t    *tok_pos;		/* position of each token */
	uint8_t    *act[DS_ACT_KINDS];	/* quantized matmul input, [max_tokens] rows */

	/* logits rows: [max_seqs] */
	float	   *out_x;			/* [n_embd] */
	float	   *logits;			/* [n_vocab] */

	float	   *thread_buf;		/* [n_threads][thread_buf_len] */
	size_t		thread_buf_len;
	double	   *inv_freq;		/* [rope_dim / 2] angle per position of each pair */
} cpu_backend;

/* Weights and outputs of one matmul inside a job. */
typedef struct mm_part
{
	const ds_weight *w;
	float	   *out;			/* [n_act][w->rows] */
	float	   *accum;			/* NULL, or [n_act][w->rows] += out after computing */
} mm_part;

/* A parallel matmul over up to three weights sharing one input. */
typedef struct mm_job
{
	cpu_backend *b;
	mm_part		parts[3];
	int			n_parts;
	const float *in;			/* [n_act][cols] float input */
	int			n_act;
	bool		swiglu;			/* parts: gate, up; gate = silu(gate) * up */
	int64_t		chunk;			/* rows per work item */
	int64_t		total;			/* rows of all parts (one part for swiglu) */
	bool		need[DS_ACT_KINDS];
	/* next unclaimed row, alone on its cache line */
	_Alignas(64) atomic_llong next;
	char		pad[64 - sizeof(atomic_llong)];
} mm_job;

/* ---------------------------------------------------------------------------
 * Small helpers
 */

/* Rows of part i start at this offset of the concatenated row range. */
static int64_t
part_start(const mm_job *j, int i)
{
	int64_t		s = 0;

	for (int k = 0; k < i; k++)
		s += j->parts[k].w->rows;
	return s;
}

/* Compute rows [r0, r1) of one part for every activation row. */
static void
mm_rows(mm_job *j, const mm_part *p, int64_t r0, int64_t r1, int ith)
{
	cpu_backend *b = j->b;
	const ds_weight *w = p->w;

	if (b->cfg.exact)
		ds_cpu_matmul_exact(w, r0, r1, j->in, j->n_act, p->out, (size_t) w->rows,
							b->thread_buf + (size_t) ith * b->thread_buf_len);
	else
	{
		ds_act_kind kind = ds_act_kind_for(w->type);
		const void *act = kind == DS_ACT_F32 ? (const void *) j->in : b->act[kind];

		ds_cpu_matmul(w, r0, r1, act, ds_act_row_bytes(kind, w->cols), j->n_act, p->out,
					  (size_t) w->rows);
	}
	if (p->accum != NULL)
		for (int t = 0; t < j->n_act; t++)
			for (int64_t i = r0; i < r1; i++)
				p->accum[(size_t) t * w->rows + i] += p->out[(size_t) t * w->rows + i];
}

/* silu(gate) * up over rows [r0, r1) of every activation row. */
static void
swiglu_rows(mm_job *j, int64_t r0, int64_t r1)
{
	int64_t		n = j->parts[0].w->rows;

	for (int t = 0; t < j->n_act; t++)
	{
		float	   *g = j->parts[0].out + (size_t) t * n;
		const float *u = j->parts[1].out + (size_t) t * n;

		for (int64_t i = r0; i < r1; i++)
			g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
	}
}

/* Worker body of a matmul job: claim chunks of rows until none are left. */
static void
mm_task(void *arg, int ith, int nth)
{
	mm_job	   *j = arg;

	(void) nth;
	for (;;)
	{
		int64_t		r0 = atomic_fetch_add(&j->next, j->chunk);
		int64_t		r1 = r0 + j->chunk < j->total ? r0 + j->chunk : j->total;

		if (r0 >= j->total)
			break;
		if (j->swiglu)
		{
			mm_rows(j, &j->parts[0], r0, r1, ith);
			mm_rows(j, &j->parts[1], r0, r1, ith);
			swiglu_rows(j, r0, r1);
			continue;
		}
		for (int p = 0; p < j->n_parts; p++)
		{
			int64_t		s = part_start(j, p);
			int64_t		e = s + j->parts[p].w->rows;
			int64_t		a = r0 > s ? r0 : s;
			int64_t		z = r1 < e ? r1 : e;

			if (a < z)
				mm_rows(j, &j->parts[p], a - s, z - s, ith);
		}
	}
}

/* Worker body: claim input rows and quantize them into every needed form. */
static void
quantize_task(void *arg, int ith, int nth)
{
	mm_job	   *j = arg;
	int64_t		cols = j->parts[0].w->cols;

	(void) ith;
	(void) nth;
	for (;;)
	{
		int			r = (int) atomic_fetch_add(&j->next, 1);

		if (r >= j->n_act)
			break;
		for (int kind = DS_ACT_Q8; kind < DS_ACT_KINDS; kind++)
		{
			size_t		stride = ds_act_row_bytes(kind, cols);

			if (j->need[kind])
				ds_quantize_act_row(kind, j->in + (size_t) r * cols,
									j->b->act[kind] + r * stride, cols);
		}
	}
}

/* Run a matmul job: quantize the input once, then share the rows out. */
static void
run_matmul(cpu_backend *b, mm_job *j)
{
	bool		any = false;
	int			nth = ds_pool_size(b->pool);

	j->b = b;
	memset(j->need, 0, sizeof(j->need));
	for (int p = 0; p < j->n_parts; p++)
	{
		ds_act_kind kind = ds_act_kind_for(j->parts[p].w->type);

		j->need[kind] = true;
		any |= kind != DS_ACT_F32;
	}
	if (any && !b->cfg.exact)
	{
		atomic_init(&j->next, 0);
		if (j->n_act == 1)
			quantize_task(j, 0, 1);
		else
			ds_pool_run(b->pool, quantize_task, j);
	}
	j->total = j->swiglu ? j->parts[0].w->rows : part_start(j, j->n_parts);
	/* few large chunks for a few rows (decode), many small ones for prefill */
	j->chunk = j->total / ((int64_t) nth * 4);
	if (j->chunk > 4096 / j->n_act)
		j->chunk = 4096 / j->n_act;
	j->chunk = j->chunk < 16 ? 16 : (j->chunk + 15) / 16 * 16;
	atomic_init(&j->next, 0);
	ds_pool_run(b->pool, mm_task, j);
}

/* out = x / rms(x) * w for each of n_rows rows of n values. */
static void
rmsnorm_rows(float *out, const float *x, const float *w, int n_rows, int n, float eps)
{
	for (int t = 0; t < n_rows; t++)
	{
		const float *xr = x + (size_t) t * n;
		float	   *o = out + (size_t) t * n;
		double		ss = 0.0;
		float		scale;

		for (int i = 0; i < n; i++)
			ss += (double) xr[i] * xr[i];
		scale = (float) (1.0 / sqrt(ss / n + eps));
		for (int i = 0; i < n; i++)
			o[i] = xr[i] * scale * w[i];
	}
}

/* Add a bias vector to each of n_rows rows. */
static void
add_bias(float *x, const float *bias, int n_rows, int n)
{
	if (bias == NULL)
		return;
	for (int t = 0; t < n_rows; t++)
		for (int i = 0; i < n; i++)
			x[(size_t) t * n + i] += bias[i];
}

/* ---------------------------------------------------------------------------
 * RoPE and the KV cache
 */

/* cos and sin of every rotated pair at every token's position. */
static void
rope_tables(cpu_backend *b, int T)
{
	int			half = b->m->hp.rope_dim / 2;

	for (int t = 0; t < T; t++)
		for (int i = 0; i < half; i++)
		{
			double		a = (double) b->tok_pos[t] * b->inv_freq[i];

			b->rope[((size_t) t * half + i) * 2] = (float) cos(a);
			b->rope[((size_t) t * half + i) * 2 + 1] = (float) sin(a);
		}
}

/* Rotate the heads of one token's q or k vector. */
static void
rope_token(const cpu_backend *b, float *vec, int n_heads, int t)
{
	const ds_hparams *hp = &b->m->hp;
	int			half = hp->rope_dim / 2;
	const float *cs = b->rope + (size_t) t * half * 2;

	for (int h = 0; h < n_heads; h++)
	{
		float	   *v = vec + (size_t) h * hp->head_dim;

		for (int i = 0; i < half; i++)
		{
			int			i0 = hp->rope_neox ? i : 2 * i;
			int			i1 = hp->rope_neox ? i + half : 2 * i + 1;
			float		c = cs[2 * i],
						s = cs[2 * i + 1];
			float		x0 = v[i0],
						x1 = v[i1];

			v[i0] = x0 * c - x1 * s;
			v[i1] = x0 * s + x1 * c;
		}
	}
}

/* Address of layer il's K (or V) row for position pos of a sequence. */
static uint8_t *
cache_row(const cpu_backend *b, uint8_t *cache, int il, const int32_t *blocks, int pos)
{
	int			bs = b->cfg.block_size;
	size_t		row = ((size_t) il * b->cfg.n_blocks + (size_t) blocks[pos / bs]) * bs + pos % bs;

	return cache + row * b->kv_dim * b->kv_elem;
}

/* Write one float row into the cache in its storage type. */
static void
cache_store(const cpu_backend *b, uint8_t *dst, const float *src)
{
	if (b->cfg.kv_f16)
		ds_f32_to_f16_row(src, (ds_f16 *) dst, b->kv_dim);
	else
		memcpy(dst, src, (size_t) b->kv_dim * sizeof(float));
}

/* ---------------------------------------------------------------------------
 * Attention
 */

/*
 * A work item is one token and a run of query heads that share one KV head
 * (the whole group when there are enough tokens to keep every thread busy,
 * else a single head), so each cached K and V row is converted once and
 * used for every head of the run.
 */
typedef struct att_job
{
	cpu_backend *b;
	const ds_batch_seq *seqs;
	int			il;
	int			heads_per_item;	/* group size, or 1 */
	int			n_items;		/* tokens x (n_head / heads_per_item) */
	_Alignas(64) atomic_int next;
	char		pad[64 - sizeof(atomic_int)];
} att_job;

/* One cached row of head size hd as floats (copied when stored as half). */
static const float *
cache_head(const cpu_backend *b, const uint8_t *row, int g, float *tmp)
{
	int			hd = b->m->hp.head_dim;

	if (!b->cfg.kv_f16)
		return (const float *) row + (size_t) g * hd;
	ds_f16_to_f32_row((const ds_f16 *) row + (size_t) g * hd, tmp, hd);
	return tmp;
}

/*
 * Causal attention of token t for query heads h0 .. h0 + nh - 1 (one KV head
 * g) over its sequence's cached positions.  scratch: nh * n_ctx + hd floats.
 */
static void
attend(cpu_backend *b, const ds_batch_seq *seqs, int il, int t, int h0, int nh, float *scratch)
{
	const ds_hparams *hp = &b->m->hp;
	int			hd = hp->head_dim;
	int			g = h0 / (hp->n_head / hp->n_head_kv);
	int			n_pos = b->tok_pos[t] + 1;
	const int32_t *blocks = seqs[b->tok_seq[t]].blocks;
	const float *q = b->q + (size_t) t * b->q_dim + (size_t) h0 * hd;
	float	   *out = b->att + (size_t) t * b->q_dim + (size_t) h0 * hd;
	float	   *tmp = scratch + (size_t) nh * n_pos;
	float		scale = 1.0f / sqrtf((float) hd);

	for (int pos = 0; pos < n_pos; pos++)
	{
		const float *k = cache_head(b, cache_row(b, b->k_cache, il, blocks, pos), g, tmp);

		for (int j = 0; j < nh; j++)
			scratch[(size_t) j * n_pos + pos] = scale * ds_dot_f32(k, q + (size_t) j * hd, hd);
	}
	for (int j = 0; j < nh; j++)
	{
		float	   *sc = scratch + (size_t) j * n_pos;
		float		mx = sc[0];
		double		sum = 0.0;

		for (int pos = 1; pos < n_pos; pos++)
			mx = sc[pos] > mx ? sc[pos] : mx;
		for (int pos = 0; pos < n_pos; pos++)
		{
			sc[pos] = expf(sc[pos] - mx);
			sum += sc[pos];
		}
		for (int pos = 0; pos < n_pos; pos++)
			sc[pos] = (float) (sc[pos] / sum);
	}
	memset(out, 0, (size_t) nh * hd * sizeof(float));
	for (int pos = 0; pos < n_pos; pos++)
	{
		const float *v = cache_head(b, cache_row(b, b->v_cache, il, blocks, pos), g, tmp);

		for (int j = 0; j < nh; j++)
			ds_axpy_f32(scratch[(size_t) j * n_pos + pos], v, out + (size_t) j * hd, hd);
	}
}

/* Worker body: claim (token, head run) items until none are left. */
static void
att_task(void *arg, int ith, int nth)
{
	att_job    *j = arg;
	cpu_backend *b = j->b;
	float	   *scratch = b->thread_buf + (size_t) ith * b->thread_buf_len;
	int			per_token = b->m->hp.n_head / j->heads_per_item;

	(void) nth;
	for (;;)
	{
		int			item = atomic_fetch_add(&j->next, 1);

		if (item >= j->n_items)
			break;
		attend(b, j->seqs, j->il, item / per_token, (item % per_token) * j->heads_per_item,
			   j->heads_per_item, scratch);
	}
}

/* ---------------------------------------------------------------------------
 * The layers
 */

/* Attention half of block il for all T tokens; x += attention output. */
static void
attention_block(cpu_backend *b, int il, const ds_batch_seq *seqs, int T)
{
	const ds_model *m = b->m;
	const ds_layer *l = &m->layers[il];
	mm_job		qkv = {.n_parts = 3, .in = b->xb, .n_act = T};
	mm_job		wo = {.n_parts = 1, .in = b->att, .n_act = T};
	int			group = m->hp.n_head / m->hp.n_head_kv;
	int			per_item = T * m->hp.n_head_kv >= 4 * ds_pool_size(b->pool) ? group : 1;
	att_job		att = {.b = b, .seqs = seqs, .il = il, .heads_per_item = per_item,
	.n_items = T * (m->hp.n_head / per_item)};

	rmsnorm_rows(b->xb, b->x, l->attn_norm, T, m->hp.n_embd, m->hp.rms_eps);
	qkv.parts[0] = (mm_part) {&l->wq, b->q, NULL};
	qkv.parts[1] = (mm_part) {&l->wk, b->k, NULL};
	qkv.parts[2] = (mm_part) {&l->wv, b->v, NULL};
	run_matmul(b, &qkv);
	add_bias(b->q, l->bq, T, b->q_dim);
	add_bias(b->k, l->bk, T, b->kv_dim);
	add_bias(b->v, l->bv, T, b->kv_dim);
	for (int t = 0; t < T; t++)
	{
		const int32_t *blocks = seqs[b->tok_seq[t]].blocks;

		rope_token(b, b->q + (size_t) t * b->q_dim, m->hp.n_head, t);
		rope_token(b, b->k + (size_t) t * b->kv_dim, m->hp.n_head_kv, t);
		cache_store(b, cache_row(b, b->k_cache, il, blocks, b->tok_pos[t]),
					b->k + (size_t) t * b->kv_dim);
		cache_store(b, cache_row(b, b->v_cache, il, blocks, b->tok_pos[t]),
					b->v + (size_t) t * b->kv_dim);
	}
	atomic_init(&att.next, 0);
	ds_pool_run(b->pool, att_task, &att);
	wo.parts[0] = (mm_part) {&l->wo, b->tmp, b->x};
	run_matmul(b, &wo);
}

/* Feed-forward half of block il: x += down(silu(gate(xb)) * up(xb)). */
static void
ffn_block(cpu_backend *b, int il, int T)
{
	const ds_model *m = b->m;
	const ds_layer *l = &m->layers[il];
	mm_job		gu = {.n_parts = 2, .in = b->xb, .n_act = T, .swiglu = true};
	mm_job		down = {.n_parts = 1, .in = b->gate, .n_act = T};

	rmsnorm_rows(b->xb, b->x, l->ffn_norm, T, m->hp.n_embd, m->hp.rms_eps);
	gu.parts[0] = (mm_part) {&l->w_gate, b->gate, NULL};
	gu.parts[1] = (mm_part) {&l->w_up, b->up, NULL};
	run_matmul(b, &gu);
	down.parts[0] = (mm_part) {&l->w_down, b->tmp, b->x};
	run_matmul(b, &down);
}

/* Final norm and LM head for the last token of each sequence that wants logits. */
static void
output_logits(cpu_backend *b, const ds_batch_seq *seqs, int n_seqs)
{
	const ds_model *m = b->m;
	int			n_embd = m->hp.n_embd;
	int			n_out = 0,
				t = 0;
	mm_job		head = {.n_parts = 1, .in = b->out_x};

	for (int s = 0; s < n_seqs; t += seqs[s].n_tokens, s++)
		if (seqs[s].logits != NULL)
			rmsnorm_rows(b->out_x + (size_t) n_out++ * n_embd,
						 b->x + (size_t) (t + seqs[s].n_tokens - 1) * n_embd,
						 m->output_norm, 1, n_embd, m->hp.rms_eps);
	if (n_out == 0)
		return;
	head.n_act = n_out;
	head.parts[0] = (mm_part) {&m->output, b->logits, NULL};
	run_matmul(b, &head);
	n_out = 0;
	for (int s = 0; s < n_seqs; s++)
		if (seqs[s].logits != NULL)
			memcpy(seqs[s].logits, b->logits + (size_t) n_out++ * m->hp.n_vocab,
				   (size_t) m->hp.n_vocab * sizeof(float));
}

/* Check the batch against the configured limits; *T gets the token count. */
static int
check_batch(const cpu_backend *b, const ds_batch_seq *seqs, int n_seqs, int *T, char *err)
{
	int64_t		total = 0;

	if (n_seqs < 1 || n_seqs > b->cfg.max_seqs)
		return ds_error(err, DS_ERR_ARG, "step of %d sequences (1 to %d allowed)", n_seqs,
						b->cfg.max_seqs);
	for (int s = 0; s < n_seqs; s++)
	{
		const ds_batch_seq *q = &seqs[s];
		int			n_pos = q->pos + q->n_tokens;

		if (q->n_tokens < 1 || q->pos < 0 || n_pos > b->cfg.n_ctx)
			return ds_error(err, DS_ERR_ARG, "sequence %d: %d tokens at position %d do not fit",
							s, q->n_tokens, q->pos);
		for (int i = 0; i < q->n_tokens; i++)
			if (q->tokens[i] < 0 || q->tokens[i] >= b->m->hp.n_vocab)
				return ds_error(err, DS_ERR_ARG, "token id %d is outside the vocabulary",
								q->tokens[i]);
		for (int k = 0; k < (n_pos + b->cfg.block_size - 1) / b->cfg.block_size; k++)
			if (q->blocks[k] < 0 || q->blocks[k] >= b->cfg.n_blocks)
				return ds_error(err, DS_ERR_INTERNAL, "KV block id %d is out of range",
								q->blocks[k]);
		total += q->n_tokens;
	}
	if (total > b->cfg.max_tokens)
		return ds_error(err, DS_ERR_ARG, "step of %lld tokens (at most %d)", (long long) total,
						b->cfg.max_tokens);
	*T = (int) total;
	return DS_OK;
}

/* One batched forward step. */
static int
cpu_step(void *state, const ds_batch_seq *seqs, int n_seqs, char *err)
{
	cpu_backend *b = state;
	int			T = 0,
				t = 0,
				rc;

	if ((rc = check_batch(b, seqs, n_seqs, &T, err)) != DS_OK)
		return rc;
	for (int s = 0; s < n_seqs; s++)
		for (int i = 0; i < seqs[s].n_tokens; i++, t++)
		{
			b->tok_seq[t] = s;
			b->tok_pos[t] = seqs[s].pos + i;
			ds_model_embed(b->m, seqs[s].tokens[i], b->x + (size_t) t * b->m->hp.n_embd);
		}
	rope_tables(b, T);
	for (int il = 0; il < b->m->hp.n_layer; il++)
	{
		attention_block(b, il, seqs, T);
		ffn_block(b, il, T);
	}
	output_logits(b, seqs, n_seqs);
	return DS_OK;
}

/* ---------------------------------------------------------------------------
 * Setup
 */

/* Angle step of each rotated pair: scale * base^(-2i/rope_dim) / factor[i]. */
static void
init_rope(cpu_backend *b)
{
	const ds_hparams *hp = &b->m->hp;

	for (int i = 0; i < hp->rope_dim / 2; i++)
	{
		double		f = hp->rope_scale * pow(hp->rope_base, -2.0 * i / hp->rope_dim);

		if (hp->rope_freqs != NULL)
			f /= hp->rope_freqs[i];
		b->inv_freq[i] = f;
	}
}

/* malloc n elements of size bytes, overflow-checked; NULL on failure. */
static void *
alloc_array(size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	return malloc(n * size > 0 ? n * size : 1);
}

/* The two cache arrays, mapped lazily so memory grows with the tokens in use. */
static int
alloc_cache(cpu_backend *b, char *err)
{
	const ds_hparams *hp = &b->m->hp;
	size_t		rows = (size_t) hp->n_layer * b->cfg.n_blocks * b->cfg.block_size;

	b->kv_elem = b->cfg.kv_f16 ? 2 : 4;
	if (rows / hp->n_layer / b->cfg.n_blocks != (size_t) b->cfg.block_size ||
		rows > SIZE_MAX / ((size_t) b->kv_dim * b->kv_elem))
		return ds_error(err, DS_ERR_NOMEM, "KV cache size overflows");
	b->cache_bytes = rows * b->kv_dim * b->kv_elem;
	b->k_cache = mmap(NULL, b->cache_bytes, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
					  -1, 0);
	b->v_cache = mmap(NULL, b->cache_bytes, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
					  -1, 0);
	if (b->k_cache == MAP_FAILED || b->v_cache == MAP_FAILED)
		return ds_error(err, DS_ERR_NOMEM, "could not reserve %zu bytes for the KV cache",
						2 * b->cache_bytes);
	return DS_OK;
}

/* Scratch rows for cfg.max_tokens tokens and cfg.max_seqs logits rows. */
static int
alloc_scratch(cpu_backend *b, char *err)
{
	const ds_hparams *hp = &b->m->hp;
	size_t		T = (size_t) b->cfg.max_tokens;
	size_t		S = (size_t) b->cfg.max_seqs;
	int			wide = hp->n_embd > b->q_dim ? hp->n_embd : b->q_dim;
	int			n_th = ds_pool_size(b->pool);

	b->max_cols = wide > hp->n_ff ? wide : hp->n_ff;
	b->thread_buf_len = (size_t) hp->n_head / hp->n_head_kv * b->cfg.n_ctx + hp->head_dim;
	if (b->thread_buf_len < (size_t) b->max_cols)
		b->thread_buf_len = (size_t) b->max_cols;
	b->x = alloc_array(T * hp->n_embd, sizeof(float));
	b->xb = alloc_array(T * wide, sizeof(float));
	b->q = alloc_array(T * b->q_dim, sizeof(float));
	b->k = alloc_array(T * b->kv_dim, sizeof(float));
	b->v = alloc_array(T * b->kv_dim, sizeof(float));
	b->att = alloc_array(T * b->q_dim, sizeof(float));
	b->tmp = alloc_array(T * hp->n_embd, sizeof(float));
	b->gate = alloc_array(T * hp->n_ff, sizeof(float));
	b->up = alloc_array(T * hp->n_ff, sizeof(float));
	b->rope = alloc_array(T * hp->rope_dim, sizeof(float));
	b->tok_seq = alloc_array(T, sizeof(int32_t));
	b->tok_pos = alloc_array(T, sizeof(int32_t));
	b->out_x = alloc_array(S * hp->n_embd, sizeof(float));
	b->logits = alloc_array(S * hp->n_vocab, sizeof(float));
	b->thread_buf = alloc_array((size_t) n_th * b->thread_buf_len, sizeof(float));
	b->inv_freq = alloc_array((size_t) hp->rope_dim / 2 + 1, sizeof(double));
	for (int k = DS_ACT_Q8; k < DS_ACT_KINDS; k++)
		b->act[k] = alloc_array(T > S ? T : S, ds_act_row_bytes(k, b->max_cols) + 64);
	if (!b->x || !b->xb || !b->q || !b->k || !b->v || !b->att || !b->tmp || !b->gate ||
		!b->up || !b->rope || !b->tok_seq || !b->tok_pos || !b->out_x || !b->logits ||
		!b->thread_buf || !b->inv_freq || !b->act[DS_ACT_Q8] || !b->act[DS_ACT_Q8K])
		return ds_error(err, DS_ERR_NOMEM, "out of memory for CPU scratch buffers");
	return DS_OK;
}

/* Release everything the CPU backend holds. */
static void
cpu_free(void *state)
{
	cpu_backend *b = state;

	if (b == NULL)
		return;
	ds_pool_free(b->pool);
	if (b->k_cache != NULL && b->k_cache != MAP_FAILED)
		munmap(b->k_cache, b->cache_bytes);
	if (b->v_cache != NULL && b->v_cache != MAP_FAILED)
		munmap(b->v_cache, b->cache_bytes);
	free(b->x);
	free(b->xb);
	free(b->q);
	free(b->k);
	free(b->v);
	free(b->att);
	free(b->tmp);
	free(b->gate);
	free(b->up);
	free(b->rope);
	free(b->tok_seq);
	free(b->tok_pos);
	free(b->out_x);
	free(b->logits);
	free(b->thread_buf);
	free(b->inv_freq);
	for (int k = 0; k < DS_ACT_KINDS; k++)
		free(b->act[k]);
	free(b);
}

/* Build the CPU backend: thread pool, KV cache, scratch. */
static int
cpu_init(const ds_model *m, const ds_backend_config *cfg, void **state, char *err)
{
	cpu_backend *b;
	int			rc;

	*state = NULL;
	if (cfg->n_threads < 1 || cfg->max_seqs < 1 || cfg->max_tokens < cfg->max_seqs ||
		cfg->n_ctx < 2 || cfg->n_blocks < 1 || cfg->block_size < 1)
		return ds_error(err, DS_ERR_ARG, "invalid CPU backend configuration");
	b = calloc(1, sizeof(cpu_backend));
	if (b == NULL)
		return ds_error(err, DS_ERR_NOMEM, "out of memory");
	b->m = m;
	b->cfg = *cfg;
	b->isa = ds_cpu_ops_init();
	b->q_dim = m->hp.n_head * m->hp.head_dim;
	b->kv_dim = m->hp.n_head_kv * m->hp.head_dim;
	if ((rc = ds_pool_create(cfg->n_threads, &b->pool, err)) != DS_OK ||
		(rc = alloc_cache(b, err)) != DS_OK ||
		(rc = alloc_scratch(b, err)) != DS_OK)
	{
		cpu_free(b);
		return rc;
	}
	init_rope(b);
	*state = b;
	return DS_OK;
}

/* "cpu (2 threads, avx512-vnni)" */
static void
cpu_describe(void *state, char *buf, size_t len)
{
	cpu_backend *b = state;

	snprintf(buf, len, "cpu (%d thread%s, %s%s)", ds_pool_size(b->pool),
			 ds_pool_size(b->pool) == 1 ? "" : "s", ds_isa_name(b->isa),
			 b->cfg.exact ? ", exact" : "");
}

const ds_backend_ops ds_backend_cpu = {
	.name = "cpu",
	.init = cpu_init,
	.step = cpu_step,
	.free = cpu_free,
	.describe = cpu_describe,
};
