/*
 * deepseek-cli.c -- the engine without PostgreSQL: tokenize, logits,
 * generate and bench from the command line.
 *
 *   deepseek-cli tokenize MODEL.gguf [--bos] [--special]     < text
 *   deepseek-cli logits   MODEL.gguf --ids "ID ID ..."        > float32 LE
 *   deepseek-cli generate MODEL.gguf --prompt TEXT [--max-tokens N]
 *                         [--temperature T] [--top-k K] [--top-p P] [--seed S]
 *                         [--stop STR]... [--threads N] [--ctx N]
 *   deepseek-cli bench    MODEL.gguf [--batch B] [--tokens N] [--prompt-tokens N]
 *                         [--threads N]
 *
 * This is the only part of the engine that prints.  Errors go to stderr and
 * give exit status 1 (2 for usage errors).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "engine.h"
#include "model.h"
#include "sampler.h"
#include "threadpool.h"
#include "tokenizer.h"

#define MAX_STOPS 16

/* Everything the command line can say. */
typedef struct options
{
	const char *command;
	const char *model;
	bool		bos;
	bool		special;
	const char *ids;
	const char *prompt;
	int			max_tokens;
	float		temperature;
	float		top_p;
	int			top_k;
	unsigned long long seed;
	const char *stop[MAX_STOPS];
	int			n_stop;
	int			threads;
	int			ctx;
	int			batch;
	int			tokens;
	int			prompt_tokens;
	bool		exact;
	const char *kv;
} options;

static const char *usage_text =
"usage: deepseek-cli COMMAND MODEL.gguf [options]\n"
"  tokenize   read stdin, print token ids      [--bos] [--special]\n"
"  logits     last-position logits as float32  --ids \"ID ID ...\" [--exact] [--kv f16|f32]\n"
"  generate   print generated text             --prompt TEXT [--max-tokens N]\n"
"             [--temperature T] [--top-k K] [--top-p P] [--seed S] [--stop STR]...\n"
"             [--ctx N]\n"
"  bench      prompt and decode tokens/s       [--batch B] [--tokens N] [--prompt-tokens N]\n"
"  all:       [--threads N] (default: all cores)\n";

/* Print an error and exit with status code. */
static void
die(int code, const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "deepseek-cli: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(code);
}

/* A whole number option value in [lo, hi]. */
static long long
parse_int(const char *opt, const char *v, long long lo, long long hi)
{
	char	   *end;
	long long	x;

	errno = 0;
	x = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || x < lo || x > hi)
		die(2, "%s wants a whole number from %lld to %lld, not \"%s\"", opt, lo, hi, v);
	return x;
}

/* A number option value. */
static float
parse_float(const char *opt, const char *v)
{
	char	   *end;
	float		x = strtof(v, &end);

	if (end == v || *end != '\0')
		die(2, "%s wants a number, not \"%s\"", opt, v);
	return x;
}

/* The value after an option. */
static const char *
value(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc)
		die(2, "%s needs a value", argv[*i]);
	return argv[++*i];
}

/* Parse one option at argv[*i]. */
static void
parse_option(options *o, int argc, char **argv, int *i)
{
	const char *a = argv[*i];

	if (strcmp(a, "--bos") == 0)
		o->bos = true;
	else if (strcmp(a, "--special") == 0)
		o->special = true;
	else if (strcmp(a, "--exact") == 0)
		o->exact = true;
	else if (strcmp(a, "--ids") == 0)
		o->ids = value(argc, argv, i);
	else if (strcmp(a, "--prompt") == 0)
		o->prompt = value(argc, argv, i);
	else if (strcmp(a, "--kv") == 0)
		o->kv = value(argc, argv, i);
	else if (strcmp(a, "--max-tokens") == 0)
		o->max_tokens = (int) parse_int(a, value(argc, argv, i), 1, 1 << 24);
	else if (strcmp(a, "--temperature") == 0)
		o->temperature = parse_float(a, value(argc, argv, i));
	else if (strcmp(a, "--top-p") == 0)
		o->top_p = parse_float(a, value(argc, argv, i));
	else if (strcmp(a, "--top-k") == 0)
		o->top_k = (int) parse_int(a, value(argc, argv, i), 0, 1 << 30);
	else if (strcmp(a, "--seed") == 0)
		o->seed = (unsigned long long) parse_int(a, value(argc, argv, i), 0, INT64_MAX);
	else if (strcmp(a, "--threads") == 0)
		o->threads = (int) parse_int(a, value(argc, argv, i), 1, 256);
	else if (strcmp(a, "--ctx") == 0)
		o->ctx = (int) parse_int(a, value(argc, argv, i), 2, 1 << 24);
	else if (strcmp(a, "--batch") == 0)
		o->batch = (int) parse_int(a, value(argc, argv, i), 1, 1024);
	else if (strcmp(a, "--tokens") == 0)
		o->tokens = (int) parse_int(a, value(argc, argv, i), 1, 1 << 20);
	else if (strcmp(a, "--prompt-tokens") == 0)
		o->prompt_tokens = (int) parse_int(a, value(argc, argv, i), 1, 1 << 20);
	else if (strcmp(a, "--stop") == 0)
	{
		if (o->n_stop == MAX_STOPS)
			die(2, "at most %d --stop strings", MAX_STOPS);
		o->stop[o->n_stop++] = value(argc, argv, i);
	}
	else
		die(2, "unknown option %s\n%s", a, usage_text);
}

/* Parse the whole command line. */
static void
parse_args(options *o, int argc, char **argv)
{
	memset(o, 0, sizeof(*o));
	o->max_tokens = 128;
	o->top_p = 1.0f;
	o->batch = 1;
	o->tokens = 128;
	o->prompt_tokens = 512;
	if (argc < 3)
		die(2, "missing arguments\n%s", usage_text);
	o->command = argv[1];
	o->model = argv[2];
	for (int i = 3; i < argc; i++)
		parse_option(o, argc, argv, &i);
}

/* Seconds on a monotonic clock. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* All of stdin in a malloc'd buffer. */
static char *
read_stdin(size_t *len)
{
	size_t		cap = 65536,
				n = 0,
				got;
	char	   *buf = malloc(cap);

	while (buf != NULL && (got = fread(buf + n, 1, cap - n, stdin)) > 0)
	{
		n += got;
		if (n == cap && (buf = realloc(buf, cap *= 2)) == NULL)
			break;
	}
	if (buf == NULL)
		die(1, "out of memory reading stdin");
	*len = n;
	return buf;
}

/* tokenize: only the GGUF vocabulary is needed (vocabulary-only files work). */
static int
cmd_tokenize(const options *o)
{
	char		err[DS_ERRLEN];
	ds_gguf    *g;
	ds_tokenizer *t;
	size_t		len;
	char	   *text;
	int32_t    *ids;
	int			n;

	if (ds_gguf_open(o->model, &g, err) != DS_OK)
		die(1, "%s: %s", o->model, err);
	if (ds_tokenizer_from_gguf(g, &t, err) != DS_OK)
		die(1, "%s: %s", o->model, err);
	text = read_stdin(&len);
	if (ds_tokenize(t, text, len, (o->bos ? DS_TOK_ADD_BOS : 0) |
					(o->special ? DS_TOK_PARSE_SPECIAL : 0), &ids, &n, err) != DS_OK)
		die(1, "%s", err);
	for (int i = 0; i < n; i++)
		printf(i ? " %d" : "%d", ids[i]);
	printf("\n");
	free(ids);
	free(text);
	ds_tokenizer_free(t);
	ds_gguf_close(g);
	return 0;
}

/* Parse "ID ID ..." into a malloc'd array. */
static int32_t *
parse_id_list(const char *s, int *n)
{
	int32_t    *ids = malloc((strlen(s) / 2 + 1) * sizeof(int32_t));
	char	   *end;

	*n = 0;
	if (ids == NULL)
		die(1, "out of memory");
	for (;;)
	{
		long		v;

		while (*s == ' ' || *s == '\t' || *s == '\n' || *s == ',')
			s++;
		if (*s == '\0')
			break;
		errno = 0;
		v = strtol(s, &end, 10);
		if (end == s || errno != 0 || v < 0 || v > INT32_MAX)
			die(2, "--ids: \"%s\" is not a token id", s);
		ids[(*n)++] = (int32_t) v;
		s = end;
	}
	if (*n == 0)
		die(2, "--ids is empty");
	return ids;
}

/* A CPU backend configuration for one or a few sequences. */
static ds_backend_config
backend_config(const options *o, const ds_model *m, int n_seqs, int max_tokens, int n_ctx)
{
	ds_backend_config c;

	memset(&c, 0, sizeof(c));
	c.n_threads = o->threads ? o->threads : ds_cpu_count();
	c.max_seqs = n_seqs;
	c.max_tokens = max_tokens;
	c.n_ctx = n_ctx;
	c.block_size = 32;
	c.n_blocks = n_seqs * ((n_ctx + 31) / 32);
	c.kv_f16 = o->kv != NULL && strcmp(o->kv, "f16") == 0;
	c.exact = o->exact;
	(void) m;
	return c;
}

/* logits: run the ids in chunks, write the last position's logits. */
static int
cmd_logits(const options *o)
{
	char		err[DS_ERRLEN];
	ds_model   *m;
	int			n;
	int32_t    *ids;
	int32_t    *blocks;
	float	   *logits;
	void	   *st;
	ds_backend_config c;
	const int	chunk = 512;

	if (o->ids == NULL)
		die(2, "logits needs --ids \"ID ID ...\"");
	if (o->kv && strcmp(o->kv, "f16") != 0 && strcmp(o->kv, "f32") != 0)
		die(2, "--kv is f16 or f32");
	ids = parse_id_list(o->ids, &n);
	if (ds_model_load(o->model, false, &m, err) != DS_OK)
		die(1, "%s: %s", o->model, err);
	if (n > m->hp.n_ctx_train)
		die(1, "%d ids do not fit the model's context of %d", n, m->hp.n_ctx_train);
	c = backend_config(o, m, 1, chunk, n + 1);
	blocks = malloc(sizeof(int32_t) * (size_t) c.n_blocks);
	logits = malloc(sizeof(float) * (size_t) m->hp.n_vocab);
	if (blocks == NULL || logits == NULL)
		die(1, "out of memory");
	for (int i = 0; i < c.n_blocks; i++)
		blocks[i] = i;
	if (ds_backend_cpu.init(m, &c, &st, err) != DS_OK)
		die(1, "%s", err);
	for (int i = 0; i < n; i += chunk)
	{
		ds_batch_seq s = {ids + i, n - i < chunk ? n - i : chunk, i, blocks, NULL};

		s.logits = i + s.n_tokens == n ? logits : NULL;
		if (ds_backend_cpu.step(st, &s, 1, err) != DS_OK)
			die(1, "%s", err);
	}
	if (fwrite(logits, sizeof(float), (size_t) m->hp.n_vocab, stdout) != (size_t) m->hp.n_vocab)
		die(1, "could not write the logits");
	ds_backend_cpu.free(st);
	ds_model_free(m);
	free(logits);
	free(blocks);
	free(ids);
	return 0;
}

/* Write what the engine has released of a sequence's text. */
static void
drain_text(ds_engine *e, int seq)
{
	const char *text;
	size_t		len;

	ds_engine_seq_take_text(e, seq, &text, &len);
	if (len > 0)
	{
		fwrite(text, 1, len, stdout);
		fflush(stdout);
	}
}

/* generate: tokenize the prompt, run the engine, stream the text. */
static int
cmd_generate(const options *o)
{
	char		err[DS_ERRLEN];
	ds_engine_config cfg = {0};
	ds_gen_params p = {0};
	ds_engine  *e;
	const ds_tokenizer *t;
	int32_t    *ids;
	int			n,
				seq,
				running = 1;

	if (o->prompt == NULL)
		die(2, "generate needs --prompt TEXT");
	cfg.n_threads = o->threads;
	cfg.max_seqs = 1;
	cfg.n_ctx = o->ctx;
	cfg.kv_type = o->kv;
	cfg.exact = o->exact;
	if (ds_engine_create(o->model, &cfg, &e, err) != DS_OK)
		die(1, "%s: %s", o->model, err);
	t = ds_engine_tokenizer(e);
	if (ds_tokenize(t, o->prompt, strlen(o->prompt), DS_TOK_PARSE_SPECIAL |
					(ds_tokenizer_add_bos(t) ? DS_TOK_ADD_BOS : 0), &ids, &n, err) != DS_OK)
		die(1, "%s", err);
	p.max_tokens = o->max_tokens;
	p.temperature = o->temperature;
	p.top_p = o->top_p;
	p.top_k = o->top_k;
	p.seed = o->seed;
	p.stop = o->stop;
	p.n_stop = o->n_stop;
	if (ds_engine_submit(e, ids, n, &p, &seq, err) != DS_OK)
		die(1, "%s", err);
	while (running > 0)
	{
		if (ds_engine_step(e, &running, err) != DS_OK)
			die(1, "%s", err);
		drain_text(e, seq);
	}
	if (ds_engine_seq_status(e, seq) == DS_SEQ_FAILED)
		die(1, "%s", ds_engine_seq_error(e, seq));
	printf("\n");
	free(ids);
	ds_engine_free(e);
	return 0;
}

/* Deterministic stand-in prompt tokens for benchmarks. */
static void
bench_tokens(int32_t *ids, int n, int n_vocab, int salt)
{
	uint32_t	x = 2463534242u + (uint32_t) salt * 7919u;

	for (int i = 0; i < n; i++)
	{
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		ids[i] = (int32_t) (x % (uint32_t) (n_vocab < 32000 ? n_vocab : 32000));
	}
}

/* Time the prefill of one prompt of n tokens; returns tokens/s. */
static double
bench_prompt(void *st, int32_t *ids, int n, int32_t *blocks, float *logits, char *err)
{
	double		t0 = now();
	ds_batch_seq s = {ids, n, 0, blocks, logits};

	if (ds_backend_cpu.step(st, &s, 1, err) != DS_OK)
		die(1, "%s", err);
	return n / (now() - t0);
}

/* Time n_steps decode steps of B sequences together; returns aggregate tokens/s. */
static double
bench_decode(void *st, int B, int n_prompt, int n_steps, int32_t *blocks, int per_seq,
			 float *logits, int n_vocab, char *err)
{
	ds_batch_seq *b = calloc((size_t) B, sizeof(ds_batch_seq));
	int32_t    *next = calloc((size_t) B, sizeof(int32_t));
	int32_t    *prompt = malloc(sizeof(int32_t) * (size_t) n_prompt);
	double		t0;

	if (b == NULL || next == NULL || prompt == NULL)
		die(1, "out of memory");
	for (int s = 0; s < B; s++)
	{
		ds_batch_seq p = {prompt, n_prompt, 0, blocks + s * per_seq, logits};

		bench_tokens(prompt, n_prompt, n_vocab, s + 1);
		if (ds_backend_cpu.step(st, &p, 1, err) != DS_OK)
			die(1, "%s", err);
		next[s] = ds_argmax(logits, n_vocab);
	}
	t0 = now();
	for (int step = 0; step < n_steps; step++)
	{
		for (int s = 0; s < B; s++)
			b[s] = (ds_batch_seq) {&next[s], 1, n_prompt + step, blocks + s * per_seq,
				logits + (size_t) s * n_vocab};
		if (ds_backend_cpu.step(st, b, B, err) != DS_OK)
			die(1, "%s", err);
		for (int s = 0; s < B; s++)
			next[s] = ds_argmax(logits + (size_t) s * n_vocab, n_vocab);
	}
	t0 = now() - t0;
	free(b);
	free(next);
	free(prompt);
	return (double) B * n_steps / t0;
}

/* bench: prompt tokens/s for one sequence, decode tokens/s for --batch together. */
static int
cmd_bench(const options *o)
{
	char		err[DS_ERRLEN],
				desc[128];
	ds_model   *m;
	void	   *st;
	ds_backend_config c;
	int			n_ctx,
				per_seq;
	int32_t    *ids,
			   *blocks;
	float	   *logits;
	double		pp,
				tg;
	const int	decode_prompt = 16;

	if (ds_model_load(o->model, false, &m, err) != DS_OK)
		die(1, "%s: %s", o->model, err);
	n_ctx = (o->prompt_tokens > decode_prompt + o->tokens ? o->prompt_tokens
			 : decode_prompt + o->tokens) + 1;
	if (n_ctx > m->hp.n_ctx_train)
		die(1, "a context of %d tokens exceeds the model's %d", n_ctx, m->hp.n_ctx_train);
	c = backend_config(o, m, o->batch, o->prompt_tokens + decode_prompt + o->batch, n_ctx);
	c.kv_f16 = o->kv == NULL || strcmp(o->kv, "f16") == 0;
	per_seq = c.n_blocks / o->batch;
	ids = malloc(sizeof(int32_t) * (size_t) o->prompt_tokens);
	blocks = malloc(sizeof(int32_t) * (size_t) c.n_blocks);
	logits = malloc(sizeof(float) * (size_t) m->hp.n_vocab * o->batch);
	if (ids == NULL || blocks == NULL || logits == NULL)
		die(1, "out of memory");
	for (int i = 0; i < c.n_blocks; i++)
		blocks[i] = i;
	if (ds_backend_cpu.init(m, &c, &st, err) != DS_OK)
		die(1, "%s", err);
	ds_backend_cpu.describe(st, desc, sizeof(desc));
	printf("model   %s (%s, %s, %.0fM parameters)\n", m->info.name, m->info.arch,
		   m->info.file_type, m->info.n_params / 1e6);
	printf("backend %s, KV %s\n", desc, c.kv_f16 ? "f16" : "f32");
	bench_tokens(ids, o->prompt_tokens, m->hp.n_vocab, 0);
	bench_prompt(st, ids, o->prompt_tokens < 32 ? o->prompt_tokens : 32, blocks, logits, err);
	pp = bench_prompt(st, ids, o->prompt_tokens, blocks, logits, err);
	printf("prompt  %d tokens: %.1f tokens/s\n", o->prompt_tokens, pp);
	tg = bench_decode(st, o->batch, decode_prompt, o->tokens, blocks, per_seq, logits,
					  m->hp.n_vocab, err);
	printf("decode  batch %d x %d tokens: %.1f tokens/s (%.1f per sequence)\n", o->batch,
		   o->tokens, tg, tg / o->batch);
	ds_backend_cpu.free(st);
	ds_model_free(m);
	free(ids);
	free(blocks);
	free(logits);
	return 0;
}

/* Dispatch on the command. */
int
main(int argc, char **argv)
{
	options		o;

	parse_args(&o, argc, argv);
	if (strcmp(o.command, "tokenize") == 0)
		return cmd_tokenize(&o);
	if (strcmp(o.command, "logits") == 0)
		return cmd_logits(&o);
	if (strcmp(o.command, "generate") == 0)
		return cmd_generate(&o);
	if (strcmp(o.command, "bench") == 0)
		return cmd_bench(&o);
	die(2, "unknown command \"%s\"\n%s", o.command, usage_text);
	return 2;
}
