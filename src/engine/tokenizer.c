/*
 * tokenizer.c -- byte-level BPE tokenizer built from a GGUF vocabulary.
 *
 * Tokenizing a text, as the reference tokenizers do it:
 *   1. special-token texts are cut out first, longest text first; CONTROL
 *      (and UNKNOWN) tokens only with DS_TOK_PARSE_SPECIAL, USER_DEFINED
 *      tokens always;
 *   2. every remaining stretch of text is split into pieces by the
 *      pre-tokenizer of tokenizer.ggml.pre (tokenizer_pre.c);
 *   3. within each piece, every byte starts as the token of its GPT-2 "byte
 *      to unicode" character, and the adjacent pair with the lowest merge
 *      rank is merged (leftmost first on ties) until no pair has a rank.
 *
 * Merges are kept in a hash table keyed by the pair of token ids, so BPE
 * runs on integer ids: a binary heap of candidate pairs per piece, with
 * stale candidates skipped when popped.  Token texts are found through a
 * second hash table.  Everything is copied out of the GGUF at build time and
 * nothing is cached across calls, so a built tokenizer is read-only and may
 * be shared.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE				/* memmem */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
#include "tokenizer_pre.h"

/* Token attributes (bit set), after the GGUF token types. */
#define TA_NORMAL	0x01
#define TA_UNKNOWN	0x02
#define TA_CONTROL	0x04
#define TA_USER		0x08
#define TA_UNUSED	0x10
#define TA_BYTE		0x20
#define TA_UNDEF	0x40
#define TA_EOG		0x80

/* GGUF tokenizer.ggml.token_type values. */
#define GT_NORMAL	1
#define GT_UNKNOWN	2
#define GT_CONTROL	3
#define GT_USER		4
#define GT_UNUSED	5
#define GT_BYTE		6

/* Longest text accepted by ds_tokenize (bytes). */
#define DS_TOK_MAX_TEXT ((size_t) 1 << 28)

/* One merge: the pair (left, right) becomes result; lower rank first. */
typedef struct merge_ent
{
	int32_t		left;			/* -1: empty slot */
	int32_t		right;
	int32_t		rank;
	int32_t		result;
} merge_ent;

struct ds_tokenizer
{
	int32_t		n_vocab;
	char	   *texts;			/* every token text, back to back */
	size_t	   *text_off;		/* [n_vocab + 1] */
	char	   *pieces;			/* the bytes each token stands for */
	size_t	   *piece_off;		/* [n_vocab + 1] */
	uint8_t    *attr;			/* [n_vocab] TA_* bits */
	int32_t    *tok_slots;		/* hash table of ids keyed by text; -1 empty */
	size_t		tok_mask;
	merge_ent  *merges;			/* hash table keyed by (left, right) */
	size_t		merge_mask;
	int32_t		byte_tok[256];	/* token of each single byte, or -1 */
	char		byte_enc[256][2];	/* UTF-8 of each byte's character */
	uint8_t		byte_enc_len[256];
	int32_t    *special;		/* special-token ids, longest text first */
	int32_t		n_special;
	size_t		max_tok_len;	/* longest token text, bytes */
	int32_t		bos,
				eos,
				eot,
				eom,
				unk,
				pad;
	bool		add_bos;
	bool		ignore_merges;
	ds_pretok  *pre;
	char		pre_name[64];
};

/* Texts that make a token CONTROL and end-of-generation, as the references treat them. */
static const char *const eog_texts[] = {
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
	"<|end_of_text|>", "<EOT>", "_<EOT>", "<|eom_id|>", "<end_of_utterance>",
	"<|return|>", "<|call|>", "[EOT]",
	"<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
	"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]",
	"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>",
	"<|file_sep|>",
};

/* Fill-in-the-middle markers: CONTROL, not end-of-generation. */
static const char *const fim_texts[] = {
	"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<PRE>", "\xe2\x96\x81<PRE>",
	"<|code_prefix|>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>",
	"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<SUF>", "\xe2\x96\x81<SUF>",
	"<|code_suffix|>", "<\xef\xbd\x9c" "fim\xe2\x96\x81hole\xef\xbd\x9c>",
	"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<MID>", "\xe2\x96\x81<MID>",
	"<|code_middle|>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>",
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */
/* ------------------------------------------------------------------ */

/* FNV-1a over bytes. */
static uint64_t
hash_bytes(const char *s, size_t n)
{
	uint64_t	h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
	{
		h ^= (unsigned char) s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* Mix a pair of ids into a hash. */
static uint64_t
hash_pair(int32_t a, int32_t b)
{
	uint64_t	h = ((uint64_t) (uint32_t) a << 32) | (uint32_t) b;

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* Smallest power of two >= 2 * n (at least 16). */
static size_t
table_size(size_t n)
{
	size_t		s = 16;

	while (s < 2 * n)
		s <<= 1;
	return s;
}

/* Text of token id and its length. */
static inline const char *
tok_text(const ds_tokenizer *t, int32_t id, size_t *len)
{
	*len = t->text_off[id + 1] - t->text_off[id];
	return t->texts + t->text_off[id];
}

/* Id of the token whose text is s[0..n), or -1. */
static int32_t
tok_find(const ds_tokenizer *t, const char *s, size_t n)
{
	size_t		i = hash_bytes(s, n) & t->tok_mask;

	for (;;)
	{
		int32_t		id = t->tok_slots[i];
		size_t		len;
		const char *txt;

		if (id < 0)
			return -1;
		txt = tok_text(t, id, &len);
		if (len == n && memcmp(txt, s, n) == 0)
			return id;
		i = (i + 1) & t->tok_mask;
	}
}

/* The merge of pair (a, b), or NULL. */
static inline const merge_ent *
merge_find(const ds_tokenizer *t, int32_t a, int32_t b)
{
	size_t		i = hash_pair(a, b) & t->merge_mask;

	for (;;)
	{
		const merge_ent *m = &t->merges[i];

		if (m->left < 0)
			return NULL;
		if (m->left == a && m->right == b)
			return m;
		i = (i + 1) & t->merge_mask;
	}
}

/* Is c printable in GPT-2's byte-to-unicode table (kept as itself)? */
static bool
byte_is_printable(int c)
{
	return (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
}

/*
 * GPT-2's byte-to-unicode table: printable bytes stand for themselves, the
 * others for U+0100, U+0101, ... in byte order.  cp_of[b] gets the code point.
 */
static void
byte_code_points(uint32_t cp_of[256])
{
	uint32_t	next = 256;

	for (int b = 0; b < 256; b++)
		cp_of[b] = byte_is_printable(b) ? (uint32_t) b : next++;
}

/* Encode code point cp (< 0x800) as UTF-8 into out; returns the length. */
static int
utf8_put_small(uint32_t cp, char *out)
{
	if (cp < 0x80)
	{
		out[0] = (char) cp;
		return 1;
	}
	out[0] = (char) (0xC0 | (cp >> 6));
	out[1] = (char) (0x80 | (cp & 0x3F));
	return 2;
}

/* Decode one UTF-8 character at s (n bytes left); *len gets its length (1 if invalid). */
static uint32_t
utf8_get(const unsigned char *s, size_t n, size_t *len)
{
	uint32_t	cp;
	size_t		l;

	if (s[0] < 0x80)
	{
		*len = 1;
		return s[0];
	}
	l = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;
	if (l == 0 || l > n)
	{
		*len = 1;
		return 0xFFFFFFFF;
	}
	cp = s[0] & (0x7F >> l);
	for (size_t i = 1; i < l; i++)
	{
		if ((s[i] & 0xC0) != 0x80)
		{
			*len = 1;
			return 0xFFFFFFFF;
		}
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	*len = l;
	return cp;
}

/* ------------------------------------------------------------------ */
/* Building: vocabulary                                                 */
/* ------------------------------------------------------------------ */

/* Check tokenizer.ggml.model and set up the pre-tokenizer. */
static int
build_kind(ds_tokenizer *t, const ds_gguf *g, char *err)
{
	ds_str		model,
				pre;
	ds_pretok_info info;
	int			rc;

	if (!ds_gguf_get_str(g, "tokenizer.ggml.model", &model))
		return ds_error(err, DS_ERR_FORMAT, "tokenizer.ggml.model is missing or not a string");
	if (model.len != 4 || memcmp(model.ptr, "gpt2", 4) != 0)
		return ds_error(err, DS_ERR_UNSUPPORTED,
						"tokenizer model '%.*s' is not supported (only byte-level BPE, 'gpt2')",
						(int) (model.len > 32 ? 32 : model.len), model.ptr);
	if (ds_gguf_find_key(g, "tokenizer.ggml.pre") < 0)
	{
		/* no pre-tokenizer named: the references use their default one */
		pre.ptr = "default";
		pre.len = 7;
	}
	else if (!ds_gguf_get_str(g, "tokenizer.ggml.pre", &pre))
		return ds_error(err, DS_ERR_FORMAT, "tokenizer.ggml.pre is not a string");
	if ((rc = ds_pretok_create(pre.ptr, pre.len, &t->pre, &info, err)) != DS_OK)
		return rc;
	snprintf(t->pre_name, sizeof(t->pre_name), "%.*s", (int) pre.len, pre.ptr);
	t->add_bos = info.add_bos;
	t->ignore_merges = info.ignore_merges;
	return DS_OK;
}

/* Copy every token text into one buffer; empty texts are rejected. */
static int
build_texts(ds_tokenizer *t, const ds_str *strs, uint64_t n, char *err)
{
	size_t		total = 0;

	if (n == 0 || n > (uint64_t) INT32_MAX / 2)
		return ds_error(err, DS_ERR_FORMAT, "vocabulary size %llu is out of range",
						(unsigned long long) n);
	for (uint64_t i = 0; i < n; i++)
	{
		if (strs[i].len == 0)
			return ds_error(err, DS_ERR_FORMAT, "token %llu has an empty text",
							(unsigned long long) i);
		if (strs[i].len > SIZE_MAX / 2 - total)
			return ds_error(err, DS_ERR_FORMAT, "vocabulary texts are too large");
		total += strs[i].len;
		if (strs[i].len > t->max_tok_len)
			t->max_tok_len = strs[i].len;
	}
	t->n_vocab = (int32_t) n;
	t->texts = malloc(total + 1);
	t->text_off = malloc((n + 1) * sizeof(size_t));
	t->attr = calloc(n, 1);
	if (t->texts == NULL || t->text_off == NULL || t->attr == NULL)
		return ds_error(err, DS_ERR_NOMEM, "out of memory for the vocabulary");
	t->text_off[0] = 0;
	for (uint64_t i = 0; i < n; i++)
	{
		memcpy(t->texts + t->text_off[i], strs[i].ptr, strs[i].len);
		t->text_off[i + 1] = t->text_off[i] + strs[i].len;
	}
	return DS_OK;
}

/* Read value i of a packed little-endian integer array. */
static bool
read_int_elem(ds_gguf_type type, const void *data, uint64_t i, int64_t *out)
{
	const uint8_t *p = data;

	switch (type)
	{
		case DS_GGUF_INT8:
			*out = (int8_t) p[i];
			return true;
		case DS_GGUF_UINT8:
			*out = p[i];
			return true;
		case DS_GGUF_INT32:
		case DS_GGUF_UINT32:
			{
				uint32_t	v;

				memcpy(&v, p + i * 4, 4);
				*out = type == DS_GGUF_INT32 ? (int64_t) (int32_t) v : (int64_t) v;
				return true;
			}
		default:
			return false;
	}
}

/* Map a GGUF token type to attribute bits. */
static uint8_t
attr_of_type(int64_t type)
{
	switch (type)
	{
		case GT_NORMAL:
			return TA_NORMAL;
		case GT_UNKNOWN:
			return TA_UNKNOWN;
		case GT_CONTROL:
			return TA_CONTROL;
		case GT_USER:
			return TA_USER;
		case GT_UNUSED:
			return TA_UNUSED;
		case GT_BYTE:
			return TA_BYTE;
		default:
			return TA_UNDEF;
	}
}

/* Token attributes from tokenizer.ggml.token_type (all NORMAL when absent). */
static int
build_types(ds_tokenizer *t, const ds_gguf *g, char *err)
{
	ds_gguf_type type;
	uint64_t	n;
	const void *data;
	int64_t		v;

	if (ds_gguf_find_key(g, "tokenizer.ggml.token_type") < 0)
	{
		memset(t->attr, TA_NORMAL, t->n_vocab);
		return DS_OK;
	}
	if (!ds_gguf_get_arr(g, "tokenizer.ggml.token_type", &type, &n, &data))
		return ds_error(err, DS_ERR_FORMAT, "tokenizer.ggml.token_type is not an integer array");
	if (n < (uint64_t) t->n_vocab)
		return ds_error(err, DS_ERR_FORMAT, "tokenizer.ggml.token_type has %llu entries for %d tokens",
						(unsigned long long) n, t->n_vocab);
	if (!read_int_elem(type, data, 0, &v))
		return ds_error(err, DS_ERR_FORMAT, "tokenizer.ggml.token_type has elements of type %d",
						(int) type);
	for (int32_t i = 0; i < t->n_vocab; i++)
	{
		read_int_elem(type, data, i, &v);
		t->attr[i] = attr_of_type(v);
	}
	return DS_OK;
}

/* Hash table of token ids by text; a repeated text is a format error. */
static int
build_token_index(ds_tokenizer *t, char *err)
{
	size_t		size = table_size(t->n_vocab);

	t->tok_slots = malloc(size * sizeof(int32_t));
	if (t->tok_slots == NULL)
		return ds_error(err, DS_ERR_NOMEM, "out of memory for the token index");
	memset(t->tok_slots, 0xFF, size * sizeof(int32_t));
	t->tok_mask = size - 1;
	for (int32_t id = 0; id < t->n_vocab; id++)
	{
		size_t		len;
		const char *txt = tok_text(t, id, &len);
		int32_t		old = tok_find(t, txt, len);
		size_t		i;

		if (old >= 0)
			return ds_error(err, DS_ERR_FORMAT, "tokens %d and %d have the same text", old, id);
		i = hash_bytes(txt, len) & t->tok_mask;
		while (t->tok_slots[i] >= 0)
			i = (i + 1) & t->tok_mask;
		t->tok_slots[i] = id;
	}
	return DS_OK;
}

/* The token of each single byte (its GPT-2 character), or -1. */
static void
build_bytes(ds_tokenizer *t)
{
	uint32_t	cp_of[256];

	byte_code_points(cp_of);
	for (int b = 0; b < 256; b++)
	{
		t->byte_enc_len[b] = (uint8_t) utf8_put_small(cp_of[b], t->byte_enc[b]);
		t->byte_tok[b] = tok_find(t, t->byte_enc[b], t->byte_enc_len[b]);
	}
}

/* ------------------------------------------------------------------ */
/* Building: merges                                                     */
/* ------------------------------------------------------------------ */

/* Insert merge (a, b) -> r with rank; a repeated pair keeps its first rank. */
static void
merge_insert(ds_tokenizer *t, int32_t a, int32_t b, int32_t r, int32_t rank)
{
	size_t		i = hash_pair(a, b) & t->merge_mask;

	while (t->merges[i].left >= 0)
	{
		if (t->merges[i].left == a && t->merges[i].right == b)
			return;
		i = (i + 1) & t->merge_mask;
	}
	t->merges[i].left = a;
	t->merges[i].right = b;
	t->merges[i].rank = rank;
	t->merges[i].result = r;
}

/* Parse merge "A B" into token ids of A, B and AB; scratch holds >= len bytes. */
static int
merge_parse(const ds_tokenizer *t, ds_str m, uint64_t rank, char *scratch,
			int32_t ids[3], char *err)
{
	size_t		sp = 1;

	while (sp < m.len && m.ptr[sp] != ' ')
		sp++;
	if (sp >= m.len)
		return ds_error(err, DS_ERR_FORMAT, "merge %llu is not two tokens separated by a space",
						(unsigned long long) rank);
	ids[0] = tok_find(t, m.ptr, sp);
	ids[1] = tok_find(t, m.ptr + sp + 1, m.len - sp - 1);
	memcpy(scratch, m.ptr, sp);
	memcpy(scratch + sp, m.ptr + sp + 1, m.len - sp - 1);
	ids[2] = tok_find(t, scratch, m.len - 1);
	if (ids[0] < 0 || ids[1] < 0)
		return ds_error(err, DS_ERR_FORMAT, "merge %llu names a token that is not in the vocabulary",
						(unsigned long long) rank);
	if (ids[2] < 0)
		return ds_error(err, DS_ERR_FORMAT, "merge %llu makes a token that is not in the vocabulary",
						(unsigned long long) rank);
	return DS_OK;
}

/* Merge table from tokenizer.ggml.merges (rank = index). */
static int
build_merges(ds_tokenizer *t, const ds_gguf *g, char *err)
{
	uint64_t	n;
	const ds_str *strs;
	size_t		size;
	char	   *scratch;
	int			rc = DS_OK;

	if (!ds_gguf_get_str_arr(g, "tokenizer.ggml.merges", &n, &strs))
		return ds_error(err, DS_ERR_FORMAT, "tokenizer.ggml.merges is missing or not a string array");
	if (n > (uint64_t) INT32_MAX / 4)
		return ds_error(err, DS_ERR_FORMAT, "too many merges (%llu)", (unsigned long long) n);
	size = table_size(n);
	t->merges = malloc(size * sizeof(merge_ent));
	scratch = malloc(2 * t->max_tok_len + 2);
	if (t->merges == NULL || scratch == NULL)
	{
		free(scratch);
		return ds_error(err, DS_ERR_NOMEM, "out of memory for the merges");
	}
	memset(t->merges, 0xFF, size * sizeof(merge_ent));
	t->merge_mask = size - 1;
	for (uint64_t i = 0; i < n && rc == DS_OK; i++)
	{
		int32_t		ids[3] = {-1, -1, -1};

		if (strs[i].len > 2 * t->max_tok_len + 1)
			rc = ds_error(err, DS_ERR_FORMAT, "merge %llu is longer than any two tokens",
						  (unsigned long long) i);
		else if ((rc = merge_parse(t, strs[i], i, scratch, ids, err)) == DS_OK)
			merge_insert(t, ids[0], ids[1], ids[2], (int32_t) i);
	}
	free(scratch);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Building: special tokens                                             */
/* ------------------------------------------------------------------ */

/* Read an optional token-id key into *out (-1 when absent or "none"). */
static int
read_id(const ds_gguf *g, const char *key, int32_t n_vocab, int32_t *out, char *err)
{
	int64_t		v;

	*out = -1;
	if (ds_gguf_find_key(g, key) < 0)
		return DS_OK;
	if (!ds_gguf_get_i64(g, key, &v))
		return ds_error(err, DS_ERR_FORMAT, "%s is not an integer", key);
	if (v < 0 || v == 0xFFFFFFFF)
		return DS_OK;			/* "none" */
	if (v >= n_vocab)
		return ds_error(err, DS_ERR_FORMAT, "%s = %lld is outside the vocabulary (%d tokens)",
						key, (long long) v, n_vocab);
	*out = (int32_t) v;
	return DS_OK;
}

/* Special ids and add_bos_token. */
static int
build_special_ids(ds_tokenizer *t, const ds_gguf *g, char *err)
{
	int32_t		fim[3];
	bool		b;
	int			rc = DS_OK;

	rc = rc ? rc : read_id(g, "tokenizer.ggml.bos_token_id", t->n_vocab, &t->bos, err);
	rc = rc ? rc : read_id(g, "tokenizer.ggml.eos_token_id", t->n_vocab, &t->eos, err);
	rc = rc ? rc : read_id(g, "tokenizer.ggml.eot_token_id", t->n_vocab, &t->eot, err);
	rc = rc ? rc : read_id(g, "tokenizer.ggml.eom_token_id", t->n_vocab, &t->eom, err);
	rc = rc ? rc : read_id(g, "tokenizer.ggml.unknown_token_id", t->n_vocab, &t->unk, err);
	rc = rc ? rc : read_id(g, "tokenizer.ggml.padding_token_id", t->n_vocab, &t->pad, err);
	rc = rc ? rc : read_id(g, "tokenizer.ggml.fim_pad_token_id", t->n_vocab, &fim[0], err);
	rc = rc ? rc : read_id(g, "tokenizer.ggml.fim_rep_token_id", t->n_vocab, &fim[1], err);
	rc = rc ? rc : read_id(g, "tokenizer.ggml.fim_sep_token_id", t->n_vocab, &fim[2], err);
	if (rc != DS_OK)
		return rc;
	if (ds_gguf_find_key(g, "tokenizer.ggml.add_bos_token") >= 0)
	{
		if (!ds_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b))
			return ds_error(err, DS_ERR_FORMAT, "tokenizer.ggml.add_bos_token is not a boolean");
		t->add_bos = b;
	}
	if (t->add_bos && t->bos < 0)
		return ds_error(err, DS_ERR_FORMAT, "add_bos_token is set but there is no bos_token_id");
	for (int i = 0; i < 3; i++)
		if (fim[i] >= 0)
			t->attr[fim[i]] |= TA_EOG;
	return DS_OK;
}

/* Mark the token with that text (if any) with bits. */
static void
mark_text(ds_tokenizer *t, const char *text, uint8_t bits)
{
	int32_t		id = tok_find(t, text, strlen(text));

	if (id >= 0)
		t->attr[id] |= bits;
}

/* Control-looking and end-of-generation tokens, found by text as the references do. */
static void
build_eog(ds_tokenizer *t)
{
	for (size_t i = 0; i < sizeof(eog_texts) / sizeof(eog_texts[0]); i++)
		mark_text(t, eog_texts[i], TA_CONTROL | TA_EOG);
	for (size_t i = 0; i < sizeof(fim_texts) / sizeof(fim_texts[0]); i++)
		mark_text(t, fim_texts[i], TA_CONTROL);
	if (t->eos >= 0)
		t->attr[t->eos] |= TA_EOG;
	if (t->eot >= 0)
		t->attr[t->eot] |= TA_EOG;
	if (t->eom >= 0)
		t->attr[t->eom] |= TA_EOG;
}

/* Sort key of a special token: longer text first, then lower id. */
typedef struct special_key
{
	size_t		len;
	int32_t		id;
} special_key;

/* qsort comparator for special_key. */
static int
special_cmp(const void *a, const void *b)
{
	const special_key *x = a;
	const special_key *y = b;

	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

/* The list of CONTROL, USER_DEFINED and UNKNOWN tokens, longest text first. */
static int
build_special_list(ds_tokenizer *t, char *err)
{
	special_key *keys;
	int32_t		n = 0;

	for (int32_t id = 0; id < t->n_vocab; id++)
		n += (t->attr[id] & (TA_CONTROL | TA_USER | TA_UNKNOWN)) != 0;
	keys = malloc((n ? n : 1) * sizeof(special_key));
	t->special = malloc((n ? n : 1) * sizeof(int32_t));
	if (keys == NULL || t->special == NULL)
	{
		free(keys);
		return ds_error(err, DS_ERR_NOMEM, "out of memory for the special tokens");
	}
	n = 0;
	for (int32_t id = 0; id < t->n_vocab; id++)
		if (t->attr[id] & (TA_CONTROL | TA_USER | TA_UNKNOWN))
		{
			keys[n].len = t->text_off[id + 1] - t->text_off[id];
			keys[n++].id = id;
		}
	qsort(keys, n, sizeof(special_key), special_cmp);
	for (int32_t i = 0; i < n; i++)
		t->special[i] = keys[i].id;
	t->n_special = n;
	free(keys);
	return DS_OK;
}

/* ------------------------------------------------------------------ */
/* Building: pieces (what each token decodes to)                        */
/* ------------------------------------------------------------------ */

/* Byte-level decoding of a token text into out; returns the byte count. */
static size_t
decode_text(const char *s, size_t n, const int16_t *byte_of_cp, char *out)
{
	size_t		o = 0;

	for (size_t i = 0; i < n;)
	{
		size_t		l;
		uint32_t	cp = utf8_get((const unsigned char *) s + i, n - i, &l);

		if (cp < 0x200 && byte_of_cp[cp] >= 0)
			out[o++] = (char) byte_of_cp[cp];
		else
		{
			/* not a byte character: keep it as written */
			memcpy(out + o, s + i, l);
			o += l;
		}
		i += l;
	}
	return o;
}

/* Parse "<0xHH>"; -1 if the text is not of that form. */
static int
parse_byte_token(const char *s, size_t n)
{
	char		hex[3] = {0};
	char	   *end;
	long		v;

	if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
		return -1;
	hex[0] = s[3];
	hex[1] = s[4];
	v = strtol(hex, &end, 16);
	return *end == '\0' ? (int) v : -1;
}

/* The bytes of every token: byte-level decoded for normal tokens, raw text for the others. */
static int
build_pieces(ds_tokenizer *t, char *err)
{
	size_t		total = t->text_off[t->n_vocab];
	int16_t		byte_of_cp[0x200];
	uint32_t	cp_of[256];

	/* decoding never makes a text longer */
	t->pieces = malloc(total + 1);
	t->piece_off = malloc((t->n_vocab + 1) * sizeof(size_t));
	if (t->pieces == NULL || t->piece_off == NULL)
		return ds_error(err, DS_ERR_NOMEM, "out of memory for the token pieces");
	memset(byte_of_cp, 0xFF, sizeof(byte_of_cp));
	byte_code_points(cp_of);
	for (int b = 0; b < 256; b++)
		byte_of_cp[cp_of[b]] = (int16_t) b;
	t->piece_off[0] = 0;
	for (int32_t id = 0; id < t->n_vocab; id++)
	{
		size_t		len;
		const char *txt = tok_text(t, id, &len);
		char	   *out = t->pieces + t->piece_off[id];
		uint8_t		a = t->attr[id];
		int			byte = (a & TA_BYTE) ? parse_byte_token(txt, len) : -1;
		size_t		n;

		if (a & (TA_CONTROL | TA_UNKNOWN | TA_USER | TA_UNUSED | TA_UNDEF))
			n = (memcpy(out, txt, len), len);
		else if (byte >= 0)
			n = (out[0] = (char) byte, 1);
		else
			n = decode_text(txt, len, byte_of_cp, out);
		t->piece_off[id + 1] = t->piece_off[id] + n;
	}
	return DS_OK;
}

/* Is the piece of id hidden unless special tokens are rendered? */
static inline bool
piece_hidden(const ds_tokenizer *t, int32_t id)
{
	uint8_t		a = t->attr[id];

	if (a & (TA_CONTROL | TA_UNKNOWN))
		return true;
	return (a & (TA_UNUSED | TA_UNDEF)) && !(a & TA_USER);
}

/* Build from the tokenizer.ggml.* keys of an open GGUF. */
int
ds_tokenizer_from_gguf(const ds_gguf *g, ds_tokenizer **out, char *err)
{
	ds_tokenizer *t;
	uint64_t	n = 0;
	const ds_str *strs = NULL;
	int			rc;

	*out = NULL;
	t = calloc(1, sizeof(ds_tokenizer));
	if (t == NULL)
		return ds_error(err, DS_ERR_NOMEM, "out of memory for the tokenizer");
	rc = build_kind(t, g, err);
	if (rc == DS_OK && !ds_gguf_get_str_arr(g, "tokenizer.ggml.tokens", &n, &strs))
		rc = ds_error(err, DS_ERR_FORMAT, "tokenizer.ggml.tokens is missing or not a string array");
	rc = rc ? rc : build_texts(t, strs, n, err);
	rc = rc ? rc : build_types(t, g, err);
	rc = rc ? rc : build_token_index(t, err);
	rc = rc ? rc : build_merges(t, g, err);
	rc = rc ? rc : build_special_ids(t, g, err);
	if (rc == DS_OK)
	{
		build_bytes(t);
		build_eog(t);
	}
	rc = rc ? rc : build_special_list(t, err);
	rc = rc ? rc : build_pieces(t, err);
	if (rc != DS_OK)
	{
		ds_tokenizer_free(t);
		return rc;
	}
	*out = t;
	return DS_OK;
}

/* Free everything the tokenizer owns. */
void
ds_tokenizer_free(ds_tokenizer *t)
{
	if (t == NULL)
		return;
	free(t->texts);
	free(t->text_off);
	free(t->pieces);
	free(t->piece_off);
	free(t->attr);
	free(t->tok_slots);
	free(t->merges);
	free(t->special);
	ds_pretok_free(t->pre);
	free(t);
}

/* ------------------------------------------------------------------ */
/* Tokenizing                                                           */
/* ------------------------------------------------------------------ */

/* Growing output list of ids. */
typedef struct id_vec
{
	int32_t    *v;
	size_t		n;
	size_t		cap;
	bool		oom;
} id_vec;

/* Append an id (sets oom on failure). */
static void
id_push(id_vec *iv, int32_t id)
{
	if (iv->n == iv->cap)
	{
		size_t		cap = iv->cap ? iv->cap * 2 : 64;
		int32_t    *v = iv->oom ? NULL : realloc(iv->v, cap * sizeof(int32_t));

		if (v == NULL)
		{
			iv->oom = true;
			return;
		}
		iv->v = v;
		iv->cap = cap;
	}
	iv->v[iv->n++] = id;
}

/* A symbol of the BPE work list: a token covering len bytes. */
typedef struct bpe_sym
{
	int32_t		id;				/* -1: a byte without a token */
	int32_t		prev;
	int32_t		next;
	uint32_t	len;			/* 0 once merged into its left neighbour */
} bpe_sym;

/* A candidate merge of symbols left and right. */
typedef struct bpe_cand
{
	int32_t		rank;
	int32_t		left;
	int32_t		right;
	int32_t		result;
	uint32_t	len;			/* left.len + right.len when queued */
} bpe_cand;

/* Scratch space for one ds_tokenize call. */
typedef struct bpe_work
{
	bpe_sym    *sym;
	size_t		sym_cap;
	bpe_cand   *heap;
	size_t		heap_n;
	size_t		heap_cap;
	char	   *enc;			/* a piece in GPT-2 characters */
	size_t		enc_cap;
	bool		oom;
} bpe_work;

/* Does candidate a come before b (lower rank, then further left)? */
static inline bool
cand_less(const bpe_cand *a, const bpe_cand *b)
{
	return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

/* Push a candidate onto the heap. */
static void
heap_push(bpe_work *w, bpe_cand c)
{
	size_t		i;

	if (w->heap_n == w->heap_cap)
	{
		size_t		cap = w->heap_cap ? w->heap_cap * 2 : 64;
		bpe_cand   *h = realloc(w->heap, cap * sizeof(bpe_cand));

		if (h == NULL)
		{
			w->oom = true;
			return;
		}
		w->heap = h;
		w->heap_cap = cap;
	}
	i = w->heap_n++;
	while (i > 0 && cand_less(&c, &w->heap[(i - 1) / 2]))
	{
		w->heap[i] = w->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	w->heap[i] = c;
}

/* Pop the best candidate (heap not empty). */
static bpe_cand
heap_pop(bpe_work *w)
{
	bpe_cand	top = w->heap[0];
	bpe_cand	last = w->heap[--w->heap_n];
	size_t		i = 0;

	for (;;)
	{
		size_t		c = 2 * i + 1;

		if (c >= w->heap_n)
			break;
		if (c + 1 < w->heap_n && cand_less(&w->heap[c + 1], &w->heap[c]))
			c++;
		if (!cand_less(&w->heap[c], &last))
			break;
		w->heap[i] = w->heap[c];
		i = c;
	}
	if (w->heap_n > 0)
		w->heap[i] = last;
	return top;
}

/* Queue the merge of symbols l and r if the pair has a rank. */
static void
try_pair(const ds_tokenizer *t, bpe_work *w, int32_t l, int32_t r)
{
	const merge_ent *m;
	bpe_cand	c;

	if (l < 0 || r < 0 || w->sym[l].id < 0 || w->sym[r].id < 0)
		return;
	m = merge_find(t, w->sym[l].id, w->sym[r].id);
	if (m == NULL)
		return;
	c.rank = m->rank;
	c.left = l;
	c.right = r;
	c.result = m->result;
	c.len = w->sym[l].len + w->sym[r].len;
	heap_push(w, c);
}

/* Make room for n symbols and 2n encoded bytes. */
static bool
work_reserve(bpe_work *w, size_t n)
{
	if (n > w->sym_cap)
	{
		bpe_sym    *s = realloc(w->sym, n * sizeof(bpe_sym));

		if (s == NULL)
			return false;
		w->sym = s;
		w->sym_cap = n;
	}
	if (2 * n > w->enc_cap)
	{
		char	   *e = realloc(w->enc, 2 * n);

		if (e == NULL)
			return false;
		w->enc = e;
		w->enc_cap = 2 * n;
	}
	return true;
}

/* The token whose text is this whole piece in GPT-2 characters, or -1. */
static int32_t
piece_as_token(const ds_tokenizer *t, bpe_work *w, const unsigned char *p, size_t n)
{
	size_t		o = 0;

	for (size_t i = 0; i < n; i++)
	{
		memcpy(w->enc + o, t->byte_enc[p[i]], t->byte_enc_len[p[i]]);
		o += t->byte_enc_len[p[i]];
	}
	return tok_find(t, w->enc, o);
}

/* Run the merges over the symbols of one piece (n >= 2). */
static void
bpe_merge(const ds_tokenizer *t, bpe_work *w, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		w->sym[i].id = t->byte_tok[p[i]];
		w->sym[i].prev = (int32_t) i - 1;
		w->sym[i].next = i + 1 < n ? (int32_t) i + 1 : -1;
		w->sym[i].len = 1;
	}
	w->heap_n = 0;
	for (size_t i = 1; i < n; i++)
		try_pair(t, w, (int32_t) i - 1, (int32_t) i);
	while (w->heap_n > 0)
	{
		bpe_cand	c = heap_pop(w);
		bpe_sym    *l = &w->sym[c.left];
		bpe_sym    *r = &w->sym[c.right];

		/* stale: one side was merged away or grew since it was queued */
		if (l->len == 0 || r->len == 0 || l->len + r->len != c.len)
			continue;
		l->id = c.result;
		l->len += r->len;
		r->len = 0;
		l->next = r->next;
		if (r->next >= 0)
			w->sym[r->next].prev = c.left;
		try_pair(t, w, l->prev, c.left);
		try_pair(t, w, c.left, l->next);
	}
}

/* Tokenize one pre-tokenized piece. */
static void
bpe_piece(const ds_tokenizer *t, bpe_work *w, const unsigned char *p, size_t n, id_vec *out)
{
	int32_t		id;

	if (n > INT32_MAX / 2 || !work_reserve(w, n))
	{
		w->oom = true;
		return;
	}
	if (t->ignore_merges && n <= t->max_tok_len &&
		(id = piece_as_token(t, w, p, n)) >= 0)
	{
		id_push(out, id);
		return;
	}
	if (n == 1)
	{
		if (t->byte_tok[p[0]] >= 0)
			id_push(out, t->byte_tok[p[0]]);
		return;
	}
	bpe_merge(t, w, p, n);
	/* a byte with no token of its own is dropped, as the references do */
	for (int32_t i = 0; i >= 0; i = w->sym[i].next)
		if (w->sym[i].id >= 0)
			id_push(out, w->sym[i].id);
}

/* Pre-tokenize a stretch of plain text and BPE each piece. */
static int
encode_text(const ds_tokenizer *t, const char *text, size_t len, bpe_work *w, id_vec *out,
			char *err)
{
	ds_span    *spans;
	size_t		n_spans;
	int			rc = ds_pretok_split(t->pre, text, len, &spans, &n_spans, err);

	if (rc != DS_OK)
		return rc;
	for (size_t i = 0; i < n_spans && !w->oom && !out->oom; i++)
		bpe_piece(t, w, (const unsigned char *) text + spans[i].start, spans[i].len, out);
	free(spans);
	if (w->oom || out->oom)
		return ds_error(err, DS_ERR_NOMEM, "out of memory while tokenizing");
	return DS_OK;
}

/* A stretch of the input: plain text (tok = -1) or one special token. */
typedef struct frag
{
	int32_t		tok;
	size_t		off;
	size_t		len;
} frag;

/* Growing list of fragments. */
typedef struct frag_vec
{
	frag	   *v;
	size_t		n;
	size_t		cap;
} frag_vec;

/* Append a fragment; false when out of memory. */
static bool
frag_push(frag_vec *fv, int32_t tok, size_t off, size_t len)
{
	if (fv->n == fv->cap)
	{
		size_t		cap = fv->cap ? fv->cap * 2 : 16;
		frag	   *v = realloc(fv->v, cap * sizeof(frag));

		if (v == NULL)
			return false;
		fv->v = v;
		fv->cap = cap;
	}
	fv->v[fv->n].tok = tok;
	fv->v[fv->n].off = off;
	fv->v[fv->n].len = len;
	fv->n++;
	return true;
}

/* Cut every occurrence of special token id out of the text fragments of in. */
static bool
cut_special(const ds_tokenizer *t, const char *text, int32_t id, const frag_vec *in,
			frag_vec *out)
{
	size_t		sl;
	const char *s = tok_text(t, id, &sl);
	bool		ok = true;

	out->n = 0;
	for (size_t i = 0; i < in->n && ok; i++)
	{
		frag		f = in->v[i];
		const char *hit;

		while (ok && f.tok < 0 && (hit = memmem(text + f.off, f.len, s, sl)) != NULL)
		{
			size_t		at = hit - text;

			if (at > f.off)
				ok = frag_push(out, -1, f.off, at - f.off);
			ok = ok && frag_push(out, id, at, sl);
			f.len -= at + sl - f.off;
			f.off = at + sl;
		}
		if (ok && (f.tok >= 0 || f.len > 0))
			ok = frag_push(out, f.tok, f.off, f.len);
	}
	return ok;
}

/* Which bytes and which byte pairs occur in the text (a quick filter). */
typedef struct text_filter
{
	uint64_t	bytes[4];
	uint64_t	pairs[1024];
} text_filter;

/* Record the bytes and byte pairs of text. */
static void
filter_build(text_filter *f, const unsigned char *text, size_t len)
{
	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < len; i++)
	{
		unsigned	pair = i + 1 < len ? ((unsigned) text[i] << 8) | text[i + 1] : 0;

		f->bytes[text[i] >> 6] |= 1ULL << (text[i] & 63);
		if (i + 1 < len)
			f->pairs[pair >> 6] |= 1ULL << (pair & 63);
	}
}

/* False when s[0..n) certainly does not occur in the filtered text. */
static bool
filter_may_contain(const text_filter *f, const unsigned char *s, size_t n)
{
	if (!(f->bytes[s[0] >> 6] & (1ULL << (s[0] & 63))))
		return false;
	for (size_t i = 0; i + 1 < n && i < 16; i++)
	{
		unsigned	pair = ((unsigned) s[i] << 8) | s[i + 1];

		if (!(f->pairs[pair >> 6] & (1ULL << (pair & 63))))
			return false;
	}
	return true;
}

/* Split the input at special-token texts, longest text first. */
static int
split_specials(const ds_tokenizer *t, const char *text, size_t len, bool parse_special,
			   frag_vec *fv, char *err)
{
	frag_vec	other = {0};
	bool		ok = len == 0 || frag_push(fv, -1, 0, len);
	text_filter *filter = NULL;

	if (len > 0 && t->n_special > 0)
	{
		if ((filter = malloc(sizeof(text_filter))) == NULL)
			ok = false;
		else
			filter_build(filter, (const unsigned char *) text, len);
	}
	for (int32_t i = 0; i < t->n_special && ok && len > 0; i++)
	{
		int32_t		id = t->special[i];
		size_t		sl;
		const char *s = tok_text(t, id, &sl);
		frag_vec	tmp;

		if (!parse_special && (t->attr[id] & (TA_CONTROL | TA_UNKNOWN)))
			continue;
		if (!filter_may_contain(filter, (const unsigned char *) s, sl) ||
			memmem(text, len, s, sl) == NULL)
			continue;
		ok = cut_special(t, text, id, fv, &other);
		tmp = *fv;
		*fv = other;
		other = tmp;
	}
	free(other.v);
	free(filter);
	return ok ? DS_OK : ds_error(err, DS_ERR_NOMEM, "out of memory while tokenizing");
}

/* Tokenize text (see engine.h). */
int
ds_tokenize(const ds_tokenizer *t, const char *text, size_t len, int flags,
			int32_t **ids, int *n_ids, char *err)
{
	id_vec		out = {0};
	frag_vec	fv = {0};
	bpe_work	w = {0};
	int			rc;

	if (ids != NULL)
		*ids = NULL;
	if (n_ids != NULL)
		*n_ids = 0;
	if (t == NULL || ids == NULL || n_ids == NULL || (text == NULL && len > 0))
		return ds_error(err, DS_ERR_ARG, "ds_tokenize: missing argument");
	if (len > DS_TOK_MAX_TEXT)
		return ds_error(err, DS_ERR_ARG, "text of %zu bytes is too long to tokenize", len);
	id_push(&out, -1);			/* allocate, so that *ids is never NULL */
	out.n = 0;
	if ((flags & DS_TOK_ADD_BOS) && t->bos >= 0)
		id_push(&out, t->bos);
	rc = split_specials(t, text, len, (flags & DS_TOK_PARSE_SPECIAL) != 0, &fv, err);
	for (size_t i = 0; i < fv.n && rc == DS_OK; i++)
	{
		if (fv.v[i].tok >= 0)
			id_push(&out, fv.v[i].tok);
		else
			rc = encode_text(t, text + fv.v[i].off, fv.v[i].len, &w, &out, err);
	}
	if (rc == DS_OK && (out.oom || out.n > INT32_MAX))
		rc = ds_error(err, DS_ERR_NOMEM, "out of memory while tokenizing");
	free(fv.v);
	free(w.sym);
	free(w.heap);
	free(w.enc);
	if (rc != DS_OK)
	{
		free(out.v);
		return rc;
	}
	*ids = out.v;
	*n_ids = (int) out.n;
	return DS_OK;
}

/* ------------------------------------------------------------------ */
/* Detokenizing and access                                              */
/* ------------------------------------------------------------------ */

/* Bytes of a token sequence (see engine.h). */
int
ds_detokenize(const ds_tokenizer *t, const int32_t *ids, int n_ids, int flags,
			  char **out, size_t *len, char *err)
{
	bool		special = (flags & DS_DETOK_SPECIAL) != 0;
	size_t		total = 0;
	char	   *buf;

	if (out != NULL)
		*out = NULL;
	if (len != NULL)
		*len = 0;
	if (t == NULL || out == NULL || n_ids < 0 || (ids == NULL && n_ids > 0))
		return ds_error(err, DS_ERR_ARG, "ds_detokenize: missing argument");
	for (int i = 0; i < n_ids; i++)
	{
		if (ids[i] < 0 || ids[i] >= t->n_vocab)
			return ds_error(err, DS_ERR_ARG, "token id %d is outside the vocabulary (%d tokens)",
							ids[i], t->n_vocab);
		if (special || !piece_hidden(t, ids[i]))
			total += t->piece_off[ids[i] + 1] - t->piece_off[ids[i]];
	}
	buf = malloc(total + 1);
	if (buf == NULL)
		return ds_error(err, DS_ERR_NOMEM, "out of memory while detokenizing");
	total = 0;
	for (int i = 0; i < n_ids; i++)
	{
		size_t		n = t->piece_off[ids[i] + 1] - t->piece_off[ids[i]];

		if (!special && piece_hidden(t, ids[i]))
			continue;
		memcpy(buf + total, t->pieces + t->piece_off[ids[i]], n);
		total += n;
	}
	buf[total] = '\0';
	*out = buf;
	if (len != NULL)
		*len = total;
	return DS_OK;
}

/* The bytes one token stands for. */
bool
ds_tokenizer_piece(const ds_tokenizer *t, int32_t id, const char **bytes, size_t *len,
				   bool *is_control)
{
	if (t == NULL || id < 0 || id >= t->n_vocab)
		return false;
	if (bytes != NULL)
		*bytes = t->pieces + t->piece_off[id];
	if (len != NULL)
		*len = t->piece_off[id + 1] - t->piece_off[id];
	if (is_control != NULL)
		*is_control = piece_hidden(t, id);
	return true;
}

/* Number of tokens in the vocabulary. */
int
ds_tokenizer_n_vocab(const ds_tokenizer *t)
{
	return t->n_vocab;
}

/* Does id end generation (EOS, EOT, EOM and the end markers found by text)? */
bool
ds_tokenizer_is_eog(const ds_tokenizer *t, int32_t id)
{
	return id >= 0 && id < t->n_vocab && (t->attr[id] & TA_EOG) != 0;
}

/* BOS id, or -1. */
int
ds_tokenizer_bos(const ds_tokenizer *t)
{
	return t->bos;
}

/* EOS id, or -1. */
int
ds_tokenizer_eos(const ds_tokenizer *t)
{
	return t->eos;
}

/* Whether prompts should start with BOS (add_bos_token, or the pre-tokenizer's default). */
bool
ds_tokenizer_add_bos(const ds_tokenizer *t)
{
	return t->add_bos;
}

/* The tokenizer.ggml.pre value in use ("default" when the file names none). */
const char *
ds_tokenizer_pre_name(const ds_tokenizer *t)
{
	return t->pre_name;
}

/* Id of the token whose text is exactly text[0..len), or -1. */
int32_t
ds_tokenizer_find(const ds_tokenizer *t, const char *text, size_t len)
{
	if (t == NULL || (text == NULL && len > 0))
		return -1;
	return tok_find(t, text, len);
}
