/*
 * tokenizer_pre.h -- pre-tokenizers: split text into the pieces that BPE
 * merges within, as the reference tokenizers do for each tokenizer.ggml.pre.
 *
 * A pre-tokenizer is a list of regular expressions applied in sequence: the
 * first splits the whole text into its matches and the stretches between
 * them; each following expression splits every piece of the previous step
 * the same way.  Matching uses PCRE2 in UTF + UCP mode, with \s and \S
 * rewritten to the Unicode White_Space set the reference tokenizers use.
 * Private to the engine (tokenizer.c is the only user).
 */
#ifndef DS_TOKENIZER_PRE_H
#define DS_TOKENIZER_PRE_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

typedef struct ds_pretok ds_pretok;

/* A piece of the input: byte offset and length. */
typedef struct ds_span
{
	size_t		start;
	size_t		len;
} ds_span;

/* Per-name defaults that come with a pre-tokenizer. */
typedef struct ds_pretok_info
{
	const char *group;			/* canonical group name, e.g. "llama3" */
	bool		add_bos;		/* default for tokenizer.ggml.add_bos_token */
	bool		ignore_merges;	/* a piece that is a whole token is kept as is */
} ds_pretok_info;

/*
 * Compile the pre-tokenizer for a tokenizer.ggml.pre value (name, len bytes).
 * DS_ERR_UNSUPPORTED for a name we do not know.
 */
int			ds_pretok_create(const char *name, size_t len, ds_pretok **out,
							 ds_pretok_info *info, char *err);
void		ds_pretok_free(ds_pretok *p);

/*
 * Split text[0..len) into pieces, in order, covering every byte.  *spans is
 * malloc'd (the caller frees it).  Invalid UTF-8 is split as if each bad byte
 * were U+FFFD, and the pieces still point at the original bytes.
 */
int			ds_pretok_split(const ds_pretok *p, const char *text, size_t len,
							ds_span **spans, size_t *n_spans, char *err);

#endif							/* DS_TOKENIZER_PRE_H */
