/*
 * engine.h -- the inference engine as the worker and the command-line driver
 * see it: load a model, tokenize, and run many sequences together, one
 * batched step at a time.
 *
 * Plain C, no PostgreSQL headers.  Not thread-safe: one thread (the worker's
 * main loop) drives an engine; the engine may use its own compute threads
 * internally, which block every signal.
 *
 * Life of a sequence:
 *   ds_engine_submit()        queued; its prompt is prefilled by later steps
 *   ds_engine_step()          every running sequence advances: a prefill chunk,
 *                             or one decoded token that is sampled, detokenized
 *                             and checked against EOS, stop strings, max_tokens
 *                             and the context end
 *   ds_engine_seq_take_text() the caller drains new output bytes after a step
 *   ds_engine_seq_status()    DS_SEQ_RUNNING until finished
 *   ds_engine_seq_release()   frees the slot and its KV blocks (finished or
 *                             cancelled: the caller may release at any time)
 */
#ifndef DS_ENGINE_H
#define DS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef struct ds_engine ds_engine;
typedef struct ds_tokenizer ds_tokenizer;

/* What the worker shows about the loaded model. */
typedef struct ds_model_info
{
	char		arch[32];		/* "llama", "qwen2" */
	char		name[128];		/* general.name, or the file's base name */
	char		file_type[32];	/* dominant weight type, e.g. "Q4_1" */
	int			n_vocab;
	int			n_ctx_train;	/* context length the model was trained with */
	int			n_embd;
	int			n_layer;
	int			n_head;
	int			n_head_kv;
	int			head_dim;
	int			n_ff;
	int			bos_id;			/* -1 if none */
	int			eos_id;			/* -1 if none */
	bool		add_bos;		/* prepend BOS to prompts */
	uint64_t	n_params;
	uint64_t	weight_bytes;	/* bytes of all tensors as stored */
} ds_model_info;

/* How to build an engine. Zero/NULL fields take the defaults noted. */
typedef struct ds_engine_config
{
	const char *device;			/* "cpu" (default) or "cuda" */
	const char *lib_dir;		/* where the CUDA backend library lives */
	int			n_threads;		/* CPU compute threads; 0 = all cores */
	int			max_seqs;		/* sequences decoded together; 0 = 8 */
	int			n_ctx;			/* tokens per sequence (prompt + output);
								 * 0 = 4096; never more than n_ctx_train */
	int			prefill_chunk;	/* prompt tokens per sequence per step; 0 = 512 */
	const char *kv_type;		/* KV cache storage: "f16" (default) or "f32" */
	bool		exact;			/* F32 math on exactly dequantized weights
								 * (the numerical reference; slow) */
} ds_engine_config;

/* Sampling and stopping for one sequence. */
typedef struct ds_gen_params
{
	int			max_tokens;		/* >= 1 */
	float		temperature;	/* 0 = greedy (argmax) */
	float		top_p;			/* (0, 1]; 1 = off */
	int			top_k;			/* 0 = off */
	uint64_t	seed;			/* used when temperature > 0 */
	const char *const *stop;	/* stop strings (copied at submit); may be NULL */
	int			n_stop;
} ds_gen_params;

typedef enum ds_seq_status
{
	DS_SEQ_RUNNING = 0,			/* queued, prefilling or decoding */
	DS_SEQ_DONE_EOS = 1,		/* the model produced an end-of-generation token */
	DS_SEQ_DONE_STOP = 2,		/* a stop string appeared (it is not in the text) */
	DS_SEQ_DONE_LENGTH = 3,		/* max_tokens reached */
	DS_SEQ_DONE_CONTEXT = 4,	/* the context window is full */
	DS_SEQ_FAILED = 5			/* see ds_engine_seq_error() */
} ds_seq_status;

/* Per-sequence counters. */
typedef struct ds_seq_stats
{
	int			n_prompt;		/* prompt tokens */
	int			n_generated;	/* tokens sampled so far */
} ds_seq_stats;

/* Load the model at path and set up the backend; err gets the reason on failure. */
int			ds_engine_create(const char *model_path, const ds_engine_config *cfg,
							 ds_engine **out, char *err);
void		ds_engine_free(ds_engine *e);

const ds_model_info *ds_engine_model_info(const ds_engine *e);
const ds_tokenizer *ds_engine_tokenizer(const ds_engine *e);
const char *ds_engine_device(const ds_engine *e);	/* e.g. "cpu (2 threads)" */
int			ds_engine_n_ctx(const ds_engine *e);
int			ds_engine_max_seqs(const ds_engine *e);

/*
 * Queue a sequence whose prompt is already tokenized (BOS included if wanted).
 * DS_ERR_CONTEXT if the prompt does not leave room for one token;
 * DS_ERR_BUSY if max_seqs sequences are already held; DS_ERR_ARG for bad params.
 */
int			ds_engine_submit(ds_engine *e, const int32_t *prompt, int n_prompt,
							 const ds_gen_params *params, int *seq_id, char *err);

/*
 * Advance every running sequence by one step.  All sequences share one pass
 * over the weights.  A failure of one sequence marks it DS_SEQ_FAILED; a
 * failure of the backend returns an error (the engine is then unusable).
 * *n_running gets the number of sequences still running after the step.
 */
int			ds_engine_step(ds_engine *e, int *n_running, char *err);

ds_seq_status ds_engine_seq_status(const ds_engine *e, int seq_id);
const char *ds_engine_seq_error(const ds_engine *e, int seq_id);
void		ds_engine_seq_stats(const ds_engine *e, int seq_id, ds_seq_stats *out);

/*
 * New output bytes of a sequence since the last call.  Bytes are handed out
 * only when they cannot be the start of a stop string and do not end inside
 * a UTF-8 character; when the sequence finishes, the rest is released.  The
 * pointer stays valid until the next engine call.
 */
void		ds_engine_seq_take_text(ds_engine *e, int seq_id, const char **text,
									size_t *len);

void		ds_engine_seq_release(ds_engine *e, int seq_id);

/* Largest number of sequences decoded in one step since creation. */
int			ds_engine_max_batch_seen(const ds_engine *e);

/*
 * Tokenizer (tokenizer.c).  Flags for ds_tokenize.  ids is malloc'd and the
 * caller frees it.
 */
#define DS_TOK_ADD_BOS			0x1	/* prepend BOS (if the vocabulary has one) */
#define DS_TOK_PARSE_SPECIAL	0x2	/* match special-token text as single tokens */

int			ds_tokenize(const ds_tokenizer *t, const char *text, size_t len, int flags,
						int32_t **ids, int *n_ids, char *err);

/*
 * Bytes of the token sequence; special (control) tokens contribute their text
 * only when DS_DETOK_SPECIAL is given.  *out is malloc'd and NUL-terminated.
 * DS_ERR_ARG if an id is outside the vocabulary.
 */
#define DS_DETOK_SPECIAL		0x1
int			ds_detokenize(const ds_tokenizer *t, const int32_t *ids, int n_ids, int flags,
						  char **out, size_t *len, char *err);

int			ds_tokenizer_n_vocab(const ds_tokenizer *t);
bool		ds_tokenizer_is_eog(const ds_tokenizer *t, int32_t id);	/* EOS, EOT, ... */

#endif							/* DS_ENGINE_H */
