/*
 * test_engine.c -- the engine as its callers see it: submit, step,
 * take_text, release; stopping rules; batching and seeds; and the sampler.
 *
 * The sampler part needs no files.  The rest runs the tiny reference models
 * (../shared/fixtures/reference) with the prompts' token ids, and the real
 * model at $DS_MODEL (default models/SmolLM2-135M-Instruct.Q4_1.gguf) when
 * it is present.
 */
#include <math.h>
#include <stdint.h>

#include "engine.h"
#include "sampler.h"
#include "test_util.h"
#include "tokenizer.h"

static const char *shared;

/* ---------------------------------------------------------------------------
 * Sampler
 */

/* Draw n tokens from fixed logits; counts[id] += 1. */
static void
draw_many(ds_gen_params *p, const float *logits, int nv, int n, int *counts)
{
	ds_sampler	s;
	ds_candidate cand[16];
	float		work[16];

	ds_sampler_init(&s, p);
	for (int i = 0; i < n; i++)
	{
		memcpy(work, logits, sizeof(float) * nv);
		counts[ds_sampler_sample(&s, work, nv, cand)]++;
	}
}

/* Greedy, top-k, top-p, temperature distribution, seeds. */
static void
test_sampler(void)
{
	float		lg[6] = {1.0f, 3.0f, 3.0f, 0.5f, -2.0f, 2.0f};
	float		pr[4];
	ds_gen_params p = {.max_tokens = 1, .top_p = 1.0f};
	int			c[16];
	ds_sampler	s1,
				s2;
	ds_candidate cand[16];
	int			same = 0;

	CHECK(ds_argmax(lg, 6) == 1, "argmax takes the lowest id on ties");
	memset(c, 0, sizeof(c));
	draw_many(&p, lg, 6, 100, c);
	CHECK(c[1] == 100, "temperature 0 is greedy");

	p.temperature = 5.0f;
	p.top_k = 1;
	memset(c, 0, sizeof(c));
	draw_many(&p, lg, 6, 200, c);
	CHECK(c[1] == 200, "top_k 1 is greedy");

	p.top_k = 3;
	memset(c, 0, sizeof(c));
	draw_many(&p, lg, 6, 3000, c);
	CHECK(c[0] == 0 && c[3] == 0 && c[4] == 0 && c[1] > 0 && c[2] > 0 && c[5] > 0,
		  "top_k 3 keeps exactly ids 1, 2, 5 (%d %d %d %d %d %d)", c[0], c[1], c[2], c[3],
		  c[4], c[5]);

	/* probabilities 0.4 0.3 0.2 0.1: the 0.5 nucleus is {0, 1} */
	pr[0] = logf(0.4f);
	pr[1] = logf(0.3f);
	pr[2] = logf(0.2f);
	pr[3] = logf(0.1f);
	p.temperature = 1.0f;
	p.top_k = 0;
	p.top_p = 0.5f;
	memset(c, 0, sizeof(c));
	draw_many(&p, pr, 4, 4000, c);
	CHECK(c[2] == 0 && c[3] == 0 && fabs(c[0] / 4000.0 - 4.0 / 7.0) < 0.03,
		  "top_p 0.5 keeps {0, 1} renormalized (%d %d %d %d)", c[0], c[1], c[2], c[3]);

	p.top_p = 1.0f;
	memset(c, 0, sizeof(c));
	draw_many(&p, pr, 4, 40000, c);
	for (int i = 0; i < 4; i++)
		CHECK(fabs(c[i] / 40000.0 - expf(pr[i])) < 0.01, "temperature 1 frequency of %d: %.3f",
			  i, c[i] / 40000.0);

	p.temperature = 1.0f;
	p.seed = 7;
	ds_sampler_init(&s1, &p);
	ds_sampler_init(&s2, &p);
	for (int i = 0; i < 50; i++)
	{
		float		a[4],
					b[4];

		memcpy(a, pr, sizeof(a));
		memcpy(b, pr, sizeof(b));
		same += ds_sampler_sample(&s1, a, 4, cand) == ds_sampler_sample(&s2, b, 4, cand);
	}
	CHECK(same == 50, "the same seed gives the same draws");
	p.seed = 8;
	ds_sampler_init(&s2, &p);
	ds_sampler_init(&s1, &(ds_gen_params) {.temperature = 1.0f, .top_p = 1.0f, .seed = 7});
	same = 0;
	for (int i = 0; i < 50; i++)
	{
		float		a[4],
					b[4];

		memcpy(a, pr, sizeof(a));
		memcpy(b, pr, sizeof(b));
		same += ds_sampler_sample(&s1, a, 4, cand) == ds_sampler_sample(&s2, b, 4, cand);
	}
	CHECK(same < 50, "another seed gives other draws");
}

/* ---------------------------------------------------------------------------
 * Engine on the tiny models
 */

/* Is buf[0..n) complete, valid UTF-8? */
static bool
valid_utf8(const char *buf, size_t n)
{
	const unsigned char *s = (const unsigned char *) buf;

	for (size_t i = 0; i < n;)
	{
		int			len = s[i] < 0x80 ? 1 : (s[i] >> 5) == 6 ? 2 : (s[i] >> 4) == 14 ? 3 :
			(s[i] >> 3) == 30 ? 4 : 0;

		if (len == 0 || i + len > n)
			return false;
		for (int k = 1; k < len; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
		i += len;
	}
	return true;
}

/* Output of one finished run. */
typedef struct run_out
{
	char		text[8192];
	size_t		len;
	ds_seq_status status;
	int			n_generated;
	bool		chunks_valid;	/* every chunk was complete UTF-8 */
} run_out;

/* Drain a sequence's text into o. */
static void
collect(ds_engine *e, int id, run_out *o)
{
	const char *t;
	size_t		n;

	ds_engine_seq_take_text(e, id, &t, &n);
	if (n > 0 && !valid_utf8(t, n))
		o->chunks_valid = false;
	if (o->len + n < sizeof(o->text))
	{
		memcpy(o->text + o->len, t, n);
		o->len += n;
		o->text[o->len] = '\0';
	}
}

/* Run n_seqs prompts together to the end. */
static void
run_together(ds_engine *e, const int32_t *const *prompts, const int *n, int n_seqs,
			 const ds_gen_params *p, run_out *out)
{
	int			ids[8],
				running = 1;
	char		err[DS_ERRLEN];

	for (int s = 0; s < n_seqs; s++)
	{
		memset(&out[s], 0, sizeof(run_out));
		out[s].chunks_valid = true;
		CHECK(ds_engine_submit(e, prompts[s], n[s], &p[s], &ids[s], err) == DS_OK,
			  "submit: %s", err);
	}
	while (running > 0)
	{
		CHECK(ds_engine_step(e, &running, err) == DS_OK, "step: %s", err);
		for (int s = 0; s < n_seqs; s++)
			collect(e, ids[s], &out[s]);
	}
	for (int s = 0; s < n_seqs; s++)
	{
		ds_seq_stats st;

		collect(e, ids[s], &out[s]);
		out[s].status = ds_engine_seq_status(e, ids[s]);
		ds_engine_seq_stats(e, ids[s], &st);
		out[s].n_generated = st.n_generated;
		ds_engine_seq_release(e, ids[s]);
	}
}

/* Read a prompt's ids from the reference folder. */
static int
load_ids(const char *file, int p, int32_t *ids)
{
	char		path[4200];
	char	   *txt,
			   *s,
			   *end;
	int			n = 0;

	snprintf(path, sizeof(path), "%s/fixtures/reference/logits/%s.p%d.tokens.txt", shared, file, p);
	txt = t_read_file(path, NULL);
	if (txt == NULL)
		return 0;
	for (s = txt;; s = end)
	{
		long		v = strtol(s, &end, 10);

		if (end == s)
			break;
		ids[n++] = (int32_t) v;
	}
	free(txt);
	return n;
}

/* Errors from submit: parameters, context, busy. */
static void
test_submit_errors(ds_engine *e, const int32_t *ids)
{
	char		err[DS_ERRLEN];
	int			id,
				id2,
				id3;
	ds_gen_params ok = {.max_tokens = 4, .top_p = 1.0f};
	ds_gen_params bad;
	int32_t		big[80];

	bad = ok;
	bad.max_tokens = 0;
	CHECK(ds_engine_submit(e, ids, 5, &bad, &id, err) == DS_ERR_ARG, "max_tokens 0");
	bad = ok;
	bad.temperature = -1.0f;
	CHECK(ds_engine_submit(e, ids, 5, &bad, &id, err) == DS_ERR_ARG, "temperature < 0");
	bad = ok;
	bad.top_p = 0.0f;
	CHECK(ds_engine_submit(e, ids, 5, &bad, &id, err) == DS_ERR_ARG, "top_p 0");
	bad.top_p = 1.5f;
	CHECK(ds_engine_submit(e, ids, 5, &bad, &id, err) == DS_ERR_ARG, "top_p 1.5");
	bad = ok;
	bad.top_k = -1;
	CHECK(ds_engine_submit(e, ids, 5, &bad, &id, err) == DS_ERR_ARG, "top_k < 0");
	CHECK(ds_engine_submit(e, ids, 0, &ok, &id, err) == DS_ERR_ARG, "empty prompt");
	big[0] = 1 << 30;
	CHECK(ds_engine_submit(e, big, 1, &ok, &id, err) == DS_ERR_ARG, "id outside vocabulary");
	for (int i = 0; i < 80; i++)
		big[i] = ids[i % 5];
	CHECK(ds_engine_submit(e, big, 64, &ok, &id, err) == DS_ERR_CONTEXT,
		  "a prompt filling the 64-token context");
	CHECK(ds_engine_submit(e, ids, 5, &ok, &id, err) == DS_OK &&
		  ds_engine_submit(e, ids, 5, &ok, &id2, err) == DS_OK, "two submits");
	CHECK(ds_engine_submit(e, ids, 5, &ok, &id3, err) == DS_ERR_BUSY, "third is busy");
	ds_engine_seq_release(e, id);
	CHECK(ds_engine_submit(e, ids, 5, &ok, &id3, err) == DS_OK, "a released slot is reused");
	ds_engine_seq_release(e, id2);
	ds_engine_seq_release(e, id3);
	CHECK(ds_engine_seq_status(e, id) == DS_SEQ_FAILED, "a released id is unknown");
}

/* Stop reasons: max_tokens, context end, EOS, stop strings. */
static void
test_stops(ds_engine *e, const int32_t *ids, int n)
{
	const int32_t *pr[1] = {ids};
	int			n1[1] = {n};
	ds_gen_params p = {.max_tokens = 5, .top_p = 1.0f};
	run_out		o[1],
				full[1];
	char		stop[8];
	const char *stops[2];
	size_t		at = 0;
	int32_t		near_end[63];

	run_together(e, pr, n1, 1, &p, o);
	CHECK(o[0].status == DS_SEQ_DONE_LENGTH && o[0].n_generated == 5, "max_tokens 5: %d %d",
		  o[0].status, o[0].n_generated);

	for (int i = 0; i < 63; i++)
		near_end[i] = ids[i % n];
	pr[0] = near_end;
	n1[0] = 63;
	p.max_tokens = 100;
	run_together(e, pr, n1, 1, &p, o);
	CHECK(o[0].status == DS_SEQ_DONE_CONTEXT && o[0].n_generated == 1,
		  "context end after one token: %d %d", o[0].status, o[0].n_generated);

	/* a stop string from the middle of the greedy text cuts it there */
	pr[0] = ids;
	n1[0] = n;
	p.max_tokens = 40;
	run_together(e, pr, n1, 1, &p, full);
	for (size_t i = 8; i + 3 < full[0].len && at == 0; i++)
		if (full[0].text[i] > ' ' && full[0].text[i] < 127 && full[0].text[i + 1] > ' ' &&
			full[0].text[i + 1] < 127 && full[0].text[i + 2] > ' ' && full[0].text[i + 2] < 127)
			at = i;
	CHECK(at > 0, "no ASCII stretch in the greedy text to stop on");
	if (at == 0)
		return;
	memcpy(stop, full[0].text + at, 3);
	stop[3] = '\0';
	at = (size_t) (strstr(full[0].text, stop) - full[0].text);
	stops[0] = "\x01never";
	stops[1] = stop;
	p.stop = stops;
	p.n_stop = 2;
	run_together(e, pr, n1, 1, &p, o);
	CHECK(o[0].status == DS_SEQ_DONE_STOP, "stop status %d", o[0].status);
	CHECK(o[0].len == at && memcmp(o[0].text, full[0].text, at) == 0,
		  "text before the stop string \"%s\": got %zu bytes, expected %zu", stop, o[0].len, at);
}

/* The same prompts alone and together, greedy and seeded, give the same text. */
static void
test_batching(ds_engine *e, const int32_t *a, int na, const int32_t *b, int nb)
{
	const int32_t *pr[2] = {a, b};
	int			n[2] = {na, nb};
	ds_gen_params p[2] = {
		{.max_tokens = 24, .top_p = 1.0f},
		{.max_tokens = 24, .temperature = 0.9f, .top_p = 0.95f, .top_k = 40, .seed = 42}
	};
	run_out		alone[2],
				both[2],
				again[1];

	run_together(e, &pr[0], &n[0], 1, &p[0], &alone[0]);
	run_together(e, &pr[1], &n[1], 1, &p[1], &alone[1]);
	run_together(e, pr, n, 2, p, both);
	for (int s = 0; s < 2; s++)
		CHECK(alone[s].len == both[s].len && memcmp(alone[s].text, both[s].text, both[s].len) == 0,
			  "sequence %d: alone and together differ", s);
	CHECK(ds_engine_max_batch_seen(e) >= 2, "max_batch_seen %d", ds_engine_max_batch_seen(e));
	run_together(e, &pr[1], &n[1], 1, &p[1], again);
	CHECK(again[0].len == alone[1].len && memcmp(again[0].text, alone[1].text, again[0].len) == 0,
		  "the same seed gives the same text");
	p[1].seed = 43;
	run_together(e, &pr[1], &n[1], 1, &p[1], again);
	CHECK(again[0].len != alone[1].len || memcmp(again[0].text, alone[1].text, again[0].len) != 0,
		  "another seed gives other text");
}

/* Hot sampling emits many byte tokens: every chunk must be whole UTF-8. */
static void
test_utf8_chunks(ds_engine *e, const int32_t *ids, int n)
{
	const int32_t *pr[1] = {ids};
	int			n1[1] = {n};
	ds_gen_params p = {.max_tokens = 200, .temperature = 3.0f, .top_p = 1.0f, .seed = 5};
	run_out		o[1];
	int			bad = 0;

	for (int seed = 0; seed < 4; seed++)
	{
		p.seed = (uint64_t) seed;
		run_together(e, pr, n1, 1, &p, o);
		bad += !o[0].chunks_valid || !valid_utf8(o[0].text, o[0].len);
	}
	CHECK(bad == 0, "%d runs handed out a chunk that is not whole UTF-8", bad);
}

/* A prompt prefilled in chunks of 5 gives the same text as in one piece. */
static void
test_prefill_chunks(const char *path, const int32_t *ids, int n, const run_out *ref)
{
	ds_engine_config cfg = {.n_threads = 2, .max_seqs = 2, .n_ctx = 256, .prefill_chunk = 5};
	ds_engine  *e;
	char		err[DS_ERRLEN];
	const int32_t *pr[1] = {ids};
	int			n1[1] = {n};
	ds_gen_params p = {.max_tokens = 24, .top_p = 1.0f};
	run_out		o[1];

	if (ds_engine_create(path, &cfg, &e, err) != DS_OK)
	{
		CHECK(false, "%s", err);
		return;
	}
	run_together(e, pr, n1, 1, &p, o);
	CHECK(o[0].len == ref->len && memcmp(o[0].text, ref->text, o[0].len) == 0,
		  "chunked prefill changes the text");
	ds_engine_free(e);
}

/* All engine tests on one tiny model. */
static void
test_tiny(void)
{
	char		path[4200],
				err[DS_ERRLEN];
	ds_engine_config cfg = {.n_threads = 2, .max_seqs = 2, .n_ctx = 64};
	ds_engine  *e;
	int32_t		p1[512],
				p2[512];
	int			n1 = load_ids("tiny-qwen2-Q8_0", 1, p1);
	int			n2 = load_ids("tiny-qwen2-Q8_0", 2, p2);

	snprintf(path, sizeof(path), "%s/fixtures/reference/models/tiny-qwen2-Q8_0.gguf", shared);
	if (ds_engine_create(path, &cfg, &e, err) != DS_OK)
	{
		CHECK(false, "%s: %s", path, err);
		return;
	}
	CHECK(n1 == 13 && n2 == 79, "prompt ids");
	test_submit_errors(e, p1);
	test_stops(e, p1, n1);
	ds_engine_free(e);

	cfg.n_ctx = 256;
	if (ds_engine_create(path, &cfg, &e, err) != DS_OK)
	{
		CHECK(false, "%s: %s", path, err);
		return;
	}
	test_batching(e, p1, n1, p2, n2);
	test_utf8_chunks(e, p1, n1);
	{
		const int32_t *pr[1] = {p2};
		int			nn[1] = {n2};
		ds_gen_params p = {.max_tokens = 24, .top_p = 1.0f};
		run_out		o[1];

		run_together(e, pr, nn, 1, &p, o);
		test_prefill_chunks(path, p2, n2, &o[0]);
	}
	printf("  device: %s\n", ds_engine_device(e));
	ds_engine_free(e);
}

/* The real model answers a simple question sensibly (greedy). */
static void
test_real_model(void)
{
	const char *path = getenv("DS_MODEL");
	ds_engine_config cfg = {.n_threads = 2, .max_seqs = 1, .n_ctx = 256};
	ds_engine  *e;
	char		err[DS_ERRLEN];
	int32_t    *ids;
	int			n;
	const char *prompt = "The capital of France is";
	const int32_t *pr[1];
	ds_gen_params p = {.max_tokens = 8, .top_p = 1.0f};
	run_out		o[1];
	struct stat st;

	if (path == NULL)
		path = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
	if (stat(path, &st) != 0)
	{
		printf("SKIP real-model check: %s not found (set DS_MODEL)\n", path);
		return;
	}
	if (ds_engine_create(path, &cfg, &e, err) != DS_OK)
	{
		CHECK(false, "%s: %s", path, err);
		return;
	}
	CHECK(ds_tokenize(ds_engine_tokenizer(e), prompt, strlen(prompt), 0, &ids, &n, err) == DS_OK,
		  "tokenize: %s", err);
	pr[0] = ids;
	run_together(e, pr, &n, 1, &p, o);
	printf("  %s ->%s\n", prompt, o[0].text);
	CHECK(strstr(o[0].text, "Paris") != NULL, "greedy answer without Paris: \"%s\"", o[0].text);
	free(ids);
	ds_engine_free(e);
}

int
main(void)
{
	test_sampler();
	shared = t_shared_dir();
	if (shared == NULL)
		printf("SKIP engine tests on the tiny models: fixtures not found\n");
	else
		test_tiny();
	test_real_model();
	return t_finish("test_engine");
}
