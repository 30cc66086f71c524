/*
 * tokenizer_pre.c -- the pre-tokenizers of the byte-level BPE vocabularies.
 *
 * Each tokenizer.ggml.pre name belongs to a group, and each group is a list
 * of regular expressions written in the notation of the reference
 * tokenizers (HF tokenizers / llama.cpp).  They are compiled with PCRE2 in
 * UTF + UCP mode after one rewrite: \s and \S become the Unicode White_Space
 * set (PCRE2's own \s also matches U+180E, the references do not).  Non-ASCII
 * literals are written as \x{...} so that look-alike code points (U+2126
 * OHM SIGN, U+212A KELVIN SIGN, ...) cannot be confused.
 *
 * Splitting: every expression is applied to every piece left by the
 * previous one; a piece becomes its matches plus the stretches between them
 * (the references' "isolated" split behaviour).  Lookarounds see only the
 * piece itself, as in the references.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_pre.h"
#include "utf8.h"

#define MAX_EXPRS 8

/* \s of the reference tokenizers: the Unicode White_Space property. */
#define WS_SET "\\t-\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"

/* GPT-2's expression, also the core of several other groups. */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"

/* Llama 3's expression, with the case-insensitive contractions spelled out. */
#define RE_CONTRACT "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RE_LLAMA3 RE_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* Qwen2's: Llama 3's with single digits. */
#define RE_QWEN2 RE_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* DeepSeek LLM (V1/V2): letters of the cased scripts, by explicit ranges. */
#define RE_DSLLM_LETTERS "\\s?[A-Za-z\\x{b5}\\x{c0}-\\x{d6}\\x{d8}-\\x{f6}\\x{f8}-\\x{1ba}" \
	"\\x{1bc}-\\x{1bf}\\x{1c4}-\\x{293}\\x{295}-\\x{2af}\\x{370}-\\x{373}\\x{376}\\x{377}" \
	"\\x{37b}-\\x{37d}\\x{37f}\\x{386}\\x{388}-\\x{38a}\\x{38c}\\x{38e}-\\x{3a1}\\x{3a3}-\\x{3f5}" \
	"\\x{3f7}-\\x{481}\\x{48a}-\\x{52f}\\x{531}-\\x{556}\\x{10a0}-\\x{10c5}\\x{13a0}-\\x{13f5}" \
	"\\x{13f8}-\\x{13fd}\\x{1c90}-\\x{1cba}\\x{1cbd}-\\x{1cbf}\\x{1d00}-\\x{1d2b}\\x{1d6b}-\\x{1d77}" \
	"\\x{1d79}-\\x{1d9a}\\x{1e00}-\\x{1f15}\\x{1f18}-\\x{1f1d}\\x{1f20}-\\x{1f45}\\x{1f48}-\\x{1f4d}" \
	"\\x{1f50}-\\x{1f57}\\x{1f59}\\x{1f5b}\\x{1f5d}\\x{1f5f}-\\x{1f7d}\\x{1f80}-\\x{1fb4}" \
	"\\x{1fb6}-\\x{1fbc}\\x{1fbe}\\x{1fc2}-\\x{1fc4}\\x{1fc6}-\\x{1fcc}\\x{1fd0}-\\x{1fd3}" \
	"\\x{1fd6}-\\x{1fdb}\\x{1fe0}-\\x{1fec}\\x{1ff2}-\\x{1ff4}\\x{1ff6}-\\x{1ffc}\\x{2102}\\x{2107}" \
	"\\x{210a}-\\x{2113}\\x{2115}\\x{2119}-\\x{211d}\\x{2124}\\x{2126}\\x{2128}\\x{212a}-\\x{212d}" \
	"\\x{212f}-\\x{2134}\\x{2139}\\x{213c}-\\x{213f}\\x{2145}-\\x{2149}\\x{214e}\\x{2183}\\x{2184}" \
	"\\x{2c00}-\\x{2c7b}\\x{2c7e}-\\x{2ce4}\\x{2ceb}-\\x{2cee}\\x{2cf2}\\x{2cf3}\\x{a640}-\\x{a66d}" \
	"\\x{a680}-\\x{a69b}\\x{a722}-\\x{a76f}\\x{a771}-\\x{a787}\\x{a78b}-\\x{a78e}\\x{ab70}-\\x{abbf}" \
	"\\x{fb00}-\\x{fb06}\\x{fb13}-\\x{fb17}\\x{ff21}-\\x{ff3a}\\x{ff41}-\\x{ff5a}\\x{10400}-\\x{1044f}" \
	"\\x{104b0}-\\x{104d3}\\x{104d8}-\\x{104fb}\\x{10c80}-\\x{10cb2}\\x{10cc0}-\\x{10cf2}" \
	"\\x{118a0}-\\x{118df}\\x{1e900}-\\x{1e943}]+"
#define RE_DSLLM_PUNCT "\\s?[!-/:-~\\x{ff01}-\\x{ff0f}\\x{ff1a}-\\x{ff5e}\\x{2018}-\\x{201f}\\x{3000}-\\x{3002}]+"
#define RE_DSLLM_CJK "[\\x{4e00}-\\x{9fa5}\\x{800}-\\x{4e00}\\x{ac00}-\\x{d7ff}]+"

/*
 * The references write "\s+$" (trailing whitespace of a piece).  The same
 * match, found without rescanning a long whitespace run from every position
 * of it: the run must start at the piece start or after a non-space.
 */
#define RE_TRAILING_WS "(?<!\\s)\\s+$"

/* DeepSeek V3 / R1: digits in threes, CJK and kana, then the main split. */
#define RE_DSV3_MAIN "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+" \
	"|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* BLOOM / Poro: anything up to whitespace or sentence punctuation. */
#define RE_PORO " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{ff0c}\\x{3001}\\x{964}\\x{6d4}\\x{60c})]+"

/* One group: its expressions, in order. */
typedef struct pretok_group
{
	const char *name;
	const char *exprs[MAX_EXPRS];	/* NULL-terminated */
} pretok_group;

static const pretok_group groups[] = {
	{"default", {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}},
	{"gpt2", {RE_GPT2}},
	{"llama3", {RE_LLAMA3}},
	{"qwen2", {RE_QWEN2}},
	{"deepseek-llm", {"[\\r\\n]", RE_DSLLM_LETTERS, RE_DSLLM_PUNCT, RE_TRAILING_WS,
	RE_DSLLM_CJK, "\\p{N}+"}},
	{"deepseek-coder", {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_DSLLM_CJK, "\\p{N}"}},
	{"deepseek-v3", {"\\p{N}{1,3}", "[\\x{4e00}-\\x{9fa5}\\x{3040}-\\x{309f}\\x{30a0}-\\x{30ff}]+",
	RE_DSV3_MAIN}},
	{"starcoder", {"\\p{N}", RE_GPT2}},
	{"falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}},
	{"poro", {RE_PORO}},
	{"viking", {RE_PORO, "\\p{N}"}},
	{"bailingmoe", {"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
	"| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"}},
	{"seed-coder", {RE_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+"
	"|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
	{"qwen35", {RE_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*"
	"|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
};

/* A tokenizer.ggml.pre value and what it implies. */
typedef struct pretok_name
{
	const char *name;
	const char *group;
	bool		add_bos;
	bool		ignore_merges;
} pretok_name;

static const pretok_name names[] = {
	{"default", "default", false, false},
	{"llama3", "llama3", true, true},
	{"llama-v3", "llama3", true, true},
	{"llama-bpe", "llama3", true, true},
	{"falcon3", "llama3", true, true},
	{"falcon-h1", "llama3", true, true},
	{"pixtral", "llama3", true, true},
	{"midm-2.0", "llama3", true, true},
	{"lfm2", "llama3", true, true},
	{"dbrx", "llama3", false, false},
	{"smaug-bpe", "llama3", false, false},
	{"glm4", "llama3", false, false},
	{"chatglm-bpe", "llama3", false, false},
	{"deepseek-llm", "deepseek-llm", false, false},
	{"deepseek-coder", "deepseek-coder", false, false},
	{"deepseek-v3", "deepseek-v3", false, false},
	{"hunyuan-dense", "deepseek-v3", false, false},
	{"joyai-llm", "deepseek-v3", false, false},
	{"falcon", "falcon", false, false},
	{"gpt-2", "gpt2", false, false},
	{"mpt", "gpt2", false, false},
	{"olmo", "gpt2", false, false},
	{"jais", "gpt2", false, false},
	{"phi-2", "gpt2", false, false},
	{"jina-es", "gpt2", false, false},
	{"jina-de", "gpt2", false, false},
	{"jina-v1-en", "gpt2", false, false},
	{"jina-v2-es", "gpt2", false, false},
	{"jina-v2-de", "gpt2", false, false},
	{"jina-v2-code", "gpt2", false, false},
	{"roberta-bpe", "gpt2", false, false},
	{"gigachat", "gpt2", false, false},
	{"a.x-4.0", "gpt2", false, false},
	{"mellum", "gpt2", false, false},
	{"modern-bert", "gpt2", false, false},
	{"trillion", "gpt2", false, false},
	{"granite-docling", "gpt2", false, false},
	{"exaone4", "gpt2", false, false},
	{"starcoder", "starcoder", false, false},
	{"refact", "starcoder", false, false},
	{"command-r", "starcoder", false, false},
	{"smollm", "starcoder", false, false},
	{"codeshell", "starcoder", false, false},
	{"exaone", "starcoder", false, false},
	{"minerva-7b", "starcoder", false, false},
	{"mellum2", "starcoder", false, false},
	{"qwen2", "qwen2", false, false},
	{"deepseek-r1-qwen", "qwen2", false, false},
	{"megrez", "qwen2", false, false},
	{"kormo", "qwen2", false, false},
	{"stablelm2", "qwen2", false, false},
	{"hunyuan", "qwen2", false, false},
	{"solar-open", "qwen2", false, false},
	{"grok-2", "qwen2", false, false},
	{"qwen35", "qwen35", false, false},
	{"poro-chat", "poro", false, false},
	{"bloom", "poro", false, false},
	{"gpt3-finnish", "poro", false, false},
	{"viking", "viking", false, false},
	{"bailingmoe", "bailingmoe", false, false},
	{"bailingmoe2", "bailingmoe", false, false},
	{"llada-moe", "bailingmoe", false, false},
	{"seed-coder", "seed-coder", false, false},
};

struct ds_pretok
{
	int			n_exprs;
	pcre2_code *re[MAX_EXPRS];
};

/* A growing list of spans. */
typedef struct span_vec
{
	ds_span    *v;
	size_t		n;
	size_t		cap;
} span_vec;

/* Append a span; false when out of memory. */
static bool
span_push(span_vec *sv, size_t start, size_t len)
{
	if (sv->n == sv->cap)
	{
		size_t		cap = sv->cap ? sv->cap * 2 : 64;
		ds_span    *v = realloc(sv->v, cap * sizeof(ds_span));

		if (v == NULL)
			return false;
		sv->v = v;
		sv->cap = cap;
	}
	sv->v[sv->n].start = start;
	sv->v[sv->n].len = len;
	sv->n++;
	return true;
}

/* Find the group of that name, or NULL. */
static const pretok_group *
find_group(const char *name)
{
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (strcmp(groups[i].name, name) == 0)
			return &groups[i];
	return NULL;
}

/* Find a tokenizer.ggml.pre name (not NUL-terminated), or NULL. */
static const pretok_name *
find_name(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == len && memcmp(names[i].name, name, len) == 0)
			return &names[i];
	return NULL;
}

/*
 * Rewrite \s and \S into explicit White_Space classes.  Returns a malloc'd
 * pattern, or NULL (out of memory, or \S inside a class, which no table
 * entry uses).
 */
static char *
rewrite_spaces(const char *src)
{
	size_t		cap = strlen(src) + 1;
	char	   *dst;
	size_t		o = 0;
	bool		in_class = false;

	for (const char *p = src; *p != '\0'; p++)
		if (*p == '\\')
			cap += sizeof(WS_SET) + 4;
	dst = malloc(cap);
	if (dst == NULL)
		return NULL;
	for (const char *p = src; *p != '\0'; p++)
	{
		const char *add = NULL;
		char		one[3] = {p[0], 0, 0};

		if (p[0] == '\\' && p[1] == 's')
			add = in_class ? WS_SET : "[" WS_SET "]";
		else if (p[0] == '\\' && p[1] == 'S')
		{
			if (in_class)
			{
				free(dst);
				return NULL;
			}
			add = "[^" WS_SET "]";
		}
		else if (p[0] == '\\' && p[1] != '\0')
			one[1] = p[1];
		else if (p[0] == '[' && !in_class)
			in_class = true;
		else if (p[0] == ']' && in_class)
			in_class = false;
		if (add == NULL)
			add = one;
		if (p[0] == '\\' && p[1] != '\0')
			p++;
		if (o + strlen(add) + 1 > cap)
		{
			free(dst);
			return NULL;
		}
		memcpy(dst + o, add, strlen(add));
		o += strlen(add);
	}
	dst[o] = '\0';
	return dst;
}

/* Compile one table expression; DS_ERR_INTERNAL if PCRE2 rejects it. */
static int
compile_expr(const char *expr, pcre2_code **out, char *err)
{
	char	   *pat = rewrite_spaces(expr);
	int			errcode;
	PCRE2_SIZE	erroff;
	PCRE2_UCHAR msg[128];

	if (pat == NULL)
		return ds_error(err, DS_ERR_NOMEM, "out of memory compiling a pre-tokenizer");
	*out = pcre2_compile((PCRE2_SPTR) pat, PCRE2_ZERO_TERMINATED,
						 PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY,
						 &errcode, &erroff, NULL);
	free(pat);
	if (*out == NULL)
	{
		pcre2_get_error_message(errcode, msg, sizeof(msg));
		return ds_error(err, DS_ERR_INTERNAL, "pre-tokenizer expression rejected at %zu: %s",
						(size_t) erroff, (const char *) msg);
	}
	/* JIT is an optimization only: without it matching still works. */
	(void) pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE);
	return DS_OK;
}

/* Compile the pre-tokenizer named by tokenizer.ggml.pre. */
int
ds_pretok_create(const char *name, size_t len, ds_pretok **out, ds_pretok_info *info,
				 char *err)
{
	const pretok_name *pn = find_name(name, len);
	const pretok_group *grp;
	ds_pretok  *p;
	int			rc;

	*out = NULL;
	if (pn == NULL)
		return ds_error(err, DS_ERR_UNSUPPORTED, "unknown pre-tokenizer '%.*s'",
						(int) (len > 64 ? 64 : len), name);
	grp = find_group(pn->group);
	p = calloc(1, sizeof(ds_pretok));
	if (grp == NULL || p == NULL)
	{
		free(p);
		return ds_error(err, grp ? DS_ERR_NOMEM : DS_ERR_INTERNAL,
						"cannot set up pre-tokenizer '%s'", pn->name);
	}
	for (int i = 0; i < MAX_EXPRS && grp->exprs[i] != NULL; i++)
	{
		if ((rc = compile_expr(grp->exprs[i], &p->re[i], err)) != DS_OK)
		{
			ds_pretok_free(p);
			return rc;
		}
		p->n_exprs = i + 1;
	}
	info->group = grp->name;
	info->add_bos = pn->add_bos;
	info->ignore_merges = pn->ignore_merges;
	*out = p;
	return DS_OK;
}

/* Free the compiled expressions. */
void
ds_pretok_free(ds_pretok *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < p->n_exprs; i++)
		pcre2_code_free(p->re[i]);
	free(p);
}

/* Length of the valid UTF-8 character at s (n bytes left), or 0 if invalid. */
static int
utf8_valid_len(const unsigned char *s, size_t n)
{
	int			len = ds_utf8_char(s, n);

	return len > 0 ? len : 0;
}

/* True when text[0..len) is valid UTF-8. */
static bool
utf8_valid(const char *text, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		int			l = utf8_valid_len((const unsigned char *) text + i, len - i);

		if (l == 0)
			return false;
		i += l;
	}
	return true;
}

/* Copy text with every invalid byte replaced by U+FFFD (EF BF BD). */
static int
utf8_sanitize(const char *text, size_t len, char **out, size_t *out_len, char *err)
{
	char	   *s = malloc(len * 3 + 1);
	size_t		i = 0,
				o = 0;

	if (s == NULL)
		return ds_error(err, DS_ERR_NOMEM, "out of memory in the pre-tokenizer");
	while (i < len)
	{
		int			l = utf8_valid_len((const unsigned char *) text + i, len - i);

		if (l == 0)
		{
			memcpy(s + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i += 1;
			continue;
		}
		memcpy(s + o, text + i, l);
		o += l;
		i += l;
	}
	*out = s;
	*out_len = o;
	return DS_OK;
}

/* One match attempt; falls back to the interpreter if the JIT stack is too small. */
static int
match_at(const pcre2_code *re, const char *sub, size_t n, size_t pos, pcre2_match_data *md)
{
	int			rc;

	rc = pcre2_match(re, (PCRE2_SPTR) sub, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
	if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
		rc = pcre2_match(re, (PCRE2_SPTR) sub, n, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
						 md, NULL);
	return rc;
}

/* Split one piece by one expression, appending the parts to out. */
static int
split_piece(const pcre2_code *re, const char *text, ds_span piece, span_vec *out,
			pcre2_match_data *md, char *err)
{
	const char *sub = text + piece.start;
	size_t		n = piece.len,
				pos = 0,
				gap = 0;
	bool		ok = true;

	while (pos < n)
	{
		int			rc = match_at(re, sub, n, pos, md);
		PCRE2_SIZE *ov;

		if (rc == PCRE2_ERROR_NOMATCH)
			break;
		if (rc < 0)
			return ds_error(err, DS_ERR_INTERNAL, "pre-tokenizer match failed (pcre2 error %d)", rc);
		ov = pcre2_get_ovector_pointer(md);
		if (ov[1] <= ov[0])
		{
			/* an empty match (no table entry has one): step one character */
			pos = ov[0] + 1;
			while (pos < n && (sub[pos] & 0xC0) == 0x80)
				pos++;
			continue;
		}
		if (ov[0] > gap)
			ok = ok && span_push(out, piece.start + gap, ov[0] - gap);
		ok = ok && span_push(out, piece.start + ov[0], ov[1] - ov[0]);
		gap = pos = ov[1];
	}
	if (gap < n)
		ok = ok && span_push(out, piece.start + gap, n - gap);
	return ok ? DS_OK : ds_error(err, DS_ERR_NOMEM, "out of memory in the pre-tokenizer");
}

/* Apply every expression in turn to valid UTF-8 text. */
static int
split_valid(const ds_pretok *p, const char *text, size_t len, span_vec *cur, char *err)
{
	span_vec	next = {0};
	pcre2_match_data *md = pcre2_match_data_create(16, NULL);
	int			rc = DS_OK;

	if (md == NULL || !span_push(cur, 0, len))
	{
		pcre2_match_data_free(md);
		return ds_error(err, DS_ERR_NOMEM, "out of memory in the pre-tokenizer");
	}
	for (int e = 0; e < p->n_exprs && rc == DS_OK; e++)
	{
		span_vec	tmp;

		next.n = 0;
		for (size_t i = 0; i < cur->n && rc == DS_OK; i++)
			rc = split_piece(p->re[e], text, cur->v[i], &next, md, err);
		tmp = *cur;
		*cur = next;
		next = tmp;
	}
	free(next.v);
	pcre2_match_data_free(md);
	return rc;
}

/*
 * Map spans over the sanitized copy back to the original bytes.  The spans
 * cover the copy in order, so one walk over both texts does it: a valid
 * character has the same bytes in both, an invalid byte became 3.
 */
static void
unmap_spans(span_vec *sv, const char *text, size_t len)
{
	size_t		i = 0,
				o = 0;

	for (size_t k = 0; k < sv->n; k++)
	{
		size_t		end = sv->v[k].start + sv->v[k].len;
		size_t		start = i;

		while (o < end && i < len)
		{
			int			l = utf8_valid_len((const unsigned char *) text + i, len - i);

			o += l ? l : 3;
			i += l ? l : 1;
		}
		sv->v[k].start = start;
		sv->v[k].len = i - start;
	}
}

/* Split text into pieces (see tokenizer_pre.h). */
int
ds_pretok_split(const ds_pretok *p, const char *text, size_t len, ds_span **spans,
				size_t *n_spans, char *err)
{
	span_vec	sv = {0};
	char	   *clean = NULL;
	size_t		clean_len = 0;
	int			rc;

	*spans = NULL;
	*n_spans = 0;
	if (len == 0)
		return DS_OK;
	if (utf8_valid(text, len))
		rc = split_valid(p, text, len, &sv, err);
	else
	{
		rc = utf8_sanitize(text, len, &clean, &clean_len, err);
		if (rc == DS_OK)
			rc = split_valid(p, clean, clean_len, &sv, err);
		if (rc == DS_OK)
			unmap_spans(&sv, text, len);
		free(clean);
	}
	if (rc != DS_OK)
	{
		free(sv.v);
		return rc;
	}
	*spans = sv.v;
	*n_spans = sv.n;
	return DS_OK;
}
