/*
 * backend.h -- the compute interface under the engine.
 *
 * A backend runs ONE batched forward step: a list of sequences, each with
 * its new tokens (many during prefill, one during decode), the position of
 * the first of them, and the table of KV blocks that holds (and will hold)
 * its keys and values.  All tokens of all sequences go through each weight
 * matrix together, so a step costs one pass over the weights however many
 * sequences it carries.
 *
 * The engine owns the block allocator (which block ids a sequence holds);
 * the backend owns the memory behind the ids (host RAM for the CPU, device
 * memory for CUDA).  Block b holds positions of one sequence; position p of
 * a sequence lives in block blocks[p / block_size] at slot p % block_size.
 *
 * A backend is a table of functions.  The CPU backend is built in; others
 * (CUDA) live in a shared library loaded at run time that exports
 *     const ds_backend_ops *ds_backend_entry(void);
 * so that a CPU-only server never maps the CUDA runtime.
 */
#ifndef DS_BACKEND_H
#define DS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* What the engine asks of a backend at creation. */
typedef struct ds_backend_config
{
	int			n_threads;		/* CPU compute threads (>= 1) */
	int			max_seqs;		/* most sequences in one step */
	int			max_tokens;		/* most new tokens in one step, all sequences */
	int			n_ctx;			/* most positions of one sequence */
	int			n_blocks;		/* KV blocks in the pool */
	int			block_size;		/* positions per KV block */
	bool		kv_f16;			/* store K and V as half precision (else float) */
	bool		exact;			/* F32 math on exactly dequantized weights */
} ds_backend_config;

/* One sequence's part of a step. */
typedef struct ds_batch_seq
{
	const int32_t *tokens;		/* [n_tokens] new tokens */
	int			n_tokens;		/* >= 1 */
	int			pos;			/* position of tokens[0] (= tokens already cached) */
	const int32_t *blocks;		/* block table covering pos + n_tokens positions */
	float	   *logits;			/* [n_vocab] for the last new token, or NULL */
} ds_batch_seq;

typedef struct ds_backend_ops
{
	const char *name;
	int			(*init) (const ds_model *m, const ds_backend_config *cfg, void **state,
						 char *err);
	int			(*step) (void *state, const ds_batch_seq *seqs, int n_seqs, char *err);
	void		(*free) (void *state);
	/* "cpu (2 threads, avx512-vnni)" */
	void		(*describe) (void *state, char *buf, size_t len);
} ds_backend_ops;

/* The built-in CPU backend. */
extern const ds_backend_ops ds_backend_cpu;

/*
 * The backend for a device name: "cpu" is built in; any other name loads
 * <lib_dir>/deepseek_<name>.so.  DS_ERR_UNSUPPORTED when it cannot be found.
 */
int			ds_backend_find(const char *device, const char *lib_dir,
							const ds_backend_ops **ops, char *err);

#endif							/* DS_BACKEND_H */
