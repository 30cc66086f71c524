/*
 * tokenizer.h -- byte-level BPE tokenizer built from a GGUF vocabulary.
 *
 * The public calls (ds_tokenize, ds_detokenize, ...) are declared in
 * engine.h; this header adds construction and per-token access for the
 * engine itself.  Pre-tokenization follows tokenizer.ggml.pre exactly as the
 * reference tokenizers do (gpt2, llama-bpe, qwen2 / deepseek-r1-qwen,
 * deepseek-llm, deepseek-v3, smollm, ...); an unknown pre-tokenizer name is
 * DS_ERR_UNSUPPORTED, never a silent fallback.
 */
#ifndef DS_TOKENIZER_H
#define DS_TOKENIZER_H

#include "engine.h"
#include "gguf.h"

/* Build from the tokenizer.ggml.* keys of an open GGUF (the GGUF may be closed afterwards). */
int			ds_tokenizer_from_gguf(const ds_gguf *g, ds_tokenizer **out, char *err);
void		ds_tokenizer_free(ds_tokenizer *t);

int			ds_tokenizer_bos(const ds_tokenizer *t);	/* -1 if none */
int			ds_tokenizer_eos(const ds_tokenizer *t);	/* -1 if none */
bool		ds_tokenizer_add_bos(const ds_tokenizer *t);

/*
 * The bytes one token stands for (byte-level decoding applied).  Control
 * tokens give their text.  Returns false for an id outside the vocabulary.
 */
bool		ds_tokenizer_piece(const ds_tokenizer *t, int32_t id, const char **bytes,
							   size_t *len, bool *is_control);

/* The tokenizer.ggml.pre value in use ("default" when the file names none). */
const char *ds_tokenizer_pre_name(const ds_tokenizer *t);

/* Id of the token whose text is exactly text[0..len) (as stored), or -1. */
int32_t		ds_tokenizer_find(const ds_tokenizer *t, const char *text, size_t len);

#endif							/* DS_TOKENIZER_H */
