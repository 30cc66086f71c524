/*-------------------------------------------------------------------------
 *
 * serve.c
 *		The worker's side of the requests: admit queued slots, run one
 *		batched engine step for every running sequence, stream new text to
 *		each request's queue, and retire finished or cancelled requests.
 *
 * The worker keeps one DsActive per slot it serves, indexed like the slots.
 * Output is sent on the request's shm_mq without blocking: what the queue
 * cannot take yet waits in "inflight" (to be sent again unchanged, as
 * shm_mq_send requires) and "pending" (produced since), so one slow reader
 * never stalls the batch.  A request is complete once all its output is
 * in the queue; only then does its slot become DONE or FAILED.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shm_toc.h"
#include "utils/memutils.h"

#include "deepseek.h"
#include "engine.h"
#include "serve.h"

typedef struct DsActive
{
	bool		in_use;
	uint64		request_id;
	DsRequestKind kind;
	dsm_segment *seg;
	shm_mq_handle *mqh;
	/* generate: the engine sequence, or the prompt waiting for one */
	int			seq_id;			/* -1 if none */
	bool		awaiting_seq;	/* tokenized, the engine had no room yet */
	int32	   *prompt;			/* malloc'd by the tokenizer; kept while the
								 * sequence lives */
	int			n_prompt;
	ds_gen_params gen;
	const char **stops;			/* point into the segment */
	int			n_generated;	/* tokens counted into the totals */
	/* output not yet in the queue */
	StringInfoData inflight;
	StringInfoData pending;
	bool		detached;		/* the owner left the queue */
	/* outcome */
	bool		finished;
	int			status;
	int			n_ctx;
	char		error[DS_ERRLEN];
} DsActive;

static DsActive *ds_active = NULL;
static int	ds_n_active = 0;
static int *ds_scratch = NULL;	/* slot indexes, reused by each pass */
static uint64 ds_generation = 0;
static uint64 ds_new_tokens = 0;
static uint64 ds_new_done = 0;

/* Set up one DsActive per slot. */
void
DsServeInit(uint64 generation)
{
	ds_generation = generation;
	ds_active = MemoryContextAllocZero(TopMemoryContext,
									   mul_size(ds_control->n_slots,
												sizeof(DsActive)));
	ds_scratch = MemoryContextAlloc(TopMemoryContext,
									mul_size(ds_control->n_slots, sizeof(int)));
	for (int i = 0; i < ds_control->n_slots; i++)
	{
		initStringInfo(&ds_active[i].inflight);
		initStringInfo(&ds_active[i].pending);
		ds_active[i].seq_id = -1;
	}
}

/* Record the outcome of a request; it completes once its output is sent. */
static void
DsFinish(DsActive *a, int status, const char *error)
{
	a->finished = true;
	a->status = status;
	strlcpy(a->error, error ? error : "", sizeof(a->error));
}

/* Drop everything the worker holds for a request. */
static void
DsDeactivate(ds_engine *e, DsActive *a)
{
	if (a->seq_id >= 0)
		ds_engine_seq_release(e, a->seq_id);
	free(a->prompt);
	if (a->stops)
		pfree(a->stops);
	if (a->mqh)
		shm_mq_detach(a->mqh);
	if (a->seg)
		dsm_detach(a->seg);
	resetStringInfo(&a->inflight);
	resetStringInfo(&a->pending);
	a->in_use = false;
	a->awaiting_seq = false;
	a->seq_id = -1;
	a->prompt = NULL;
	a->stops = NULL;
	a->mqh = NULL;
	a->seg = NULL;
	ds_n_active--;
}

/* Publish a complete request in its slot and let its owner know. */
static void
DsComplete(ds_engine *e, int index)
{
	DsActive   *a = &ds_active[index];
	DsSlot	   *slot = DsSlotGet(index);

	LWLockAcquire(ds_control->lock, LW_EXCLUSIVE);
	if (slot->request_id == a->request_id && slot->state == DS_SLOT_CANCELLED)
	{
		slot->state = DS_SLOT_FREE;
		slot->request_id = 0;
	}
	else if (slot->request_id == a->request_id &&
			 slot->state == DS_SLOT_RUNNING)
	{
		slot->state = (a->status == DS_OK) ? DS_SLOT_DONE : DS_SLOT_FAILED;
		slot->status = a->status;
		slot->n_prompt = a->n_prompt;
		slot->n_ctx = a->n_ctx;
		strlcpy(slot->error, a->error, sizeof(slot->error));
		DsWakeOwner(slot);
	}
	LWLockRelease(ds_control->lock);
	ds_new_done++;
	DsDeactivate(e, a);
}

/*
 * Free cancelled slots and drop what the worker holds for them; the engine
 * sequence of a cancelled request is released here, before the next step.
 */
void
DsServeRetire(ds_engine *e)
{
	int			n_drop = 0;

	LWLockAcquire(ds_control->lock, LW_EXCLUSIVE);
	for (int i = 0; i < ds_control->n_slots; i++)
	{
		DsSlot	   *slot = DsSlotGet(i);
		bool		drop = false;

		if (slot->state == DS_SLOT_CANCELLED)
		{
			slot->state = DS_SLOT_FREE;
			slot->request_id = 0;
			drop = ds_active[i].in_use;
		}
		else if (ds_active[i].in_use &&
				 slot->request_id != ds_active[i].request_id)
			drop = true;
		if (drop)
			ds_scratch[n_drop++] = i;
	}
	LWLockRelease(ds_control->lock);

	for (int i = 0; i < n_drop; i++)
		DsDeactivate(e, &ds_active[ds_scratch[i]]);
}

/* Attach to a request's segment and queue; false (request failed) if not. */
static bool
DsAttach(DsActive *a, dsm_handle handle, const char **input, Size *input_len,
		 const char **stops)
{
	shm_toc    *toc;
	DsSegHeader *header;
	shm_mq	   *mq;

	a->seg = dsm_attach(handle);
	if (a->seg == NULL)
	{
		DsFinish(a, DS_ERR_INTERNAL, "the request's shared memory is gone");
		return false;
	}
	dsm_pin_mapping(a->seg);
	toc = shm_toc_attach(DS_SEG_MAGIC, dsm_segment_address(a->seg));
	header = toc ? shm_toc_lookup(toc, DS_KEY_HEADER, true) : NULL;
	if (header == NULL || header->request_id != a->request_id)
	{
		DsFinish(a, DS_ERR_INTERNAL, "the request's shared memory does not match its slot");
		return false;
	}
	*input = shm_toc_lookup(toc, DS_KEY_INPUT, false);
	*input_len = header->input_len;
	*stops = shm_toc_lookup(toc, DS_KEY_STOPS, false);
	mq = shm_toc_lookup(toc, DS_KEY_QUEUE, false);
	shm_mq_set_sender(mq, MyProc);
	a->mqh = shm_mq_attach(mq, a->seg, NULL);
	return true;
}

/* TOKENIZE: the ids of the text, special tokens parsed, no BOS. */
static void
DsServeTokenize(ds_engine *e, DsActive *a, const char *input, Size len)
{
	char		err[DS_ERRLEN];
	int32_t    *ids = NULL;
	int			n = 0;
	int			rc;

	rc = ds_tokenize(ds_engine_tokenizer(e), input, len, DS_TOK_PARSE_SPECIAL,
					 &ids, &n, err);
	if (rc == DS_OK)
		appendBinaryStringInfo(&a->pending, (const char *) ids,
							   n * sizeof(int32_t));
	free(ids);
	DsFinish(a, rc, rc == DS_OK ? NULL : err);
}

/* DETOKENIZE: the text of the ids, special tokens included. */
static void
DsServeDetokenize(ds_engine *e, DsActive *a, const char *input, Size len)
{
	char		err[DS_ERRLEN];
	char	   *text = NULL;
	size_t		n = 0;
	int			rc;

	rc = ds_detokenize(ds_engine_tokenizer(e), (const int32_t *) input,
					   (int) (len / sizeof(int32_t)), DS_DETOK_SPECIAL,
					   &text, &n, err);
	if (rc == DS_OK)
		appendBinaryStringInfo(&a->pending, text, n);
	free(text);
	DsFinish(a, rc, rc == DS_OK ? NULL : err);
}

/* Hand a tokenized prompt to the engine; false if it did not take it. */
static bool
DsSubmit(ds_engine *e, DsActive *a)
{
	char		err[DS_ERRLEN];
	int			rc;

	rc = ds_engine_submit(e, a->prompt, a->n_prompt, &a->gen, &a->seq_id, err);
	a->awaiting_seq = (rc == DS_ERR_BUSY);
	if (rc == DS_OK)
		return true;
	a->seq_id = -1;
	if (rc != DS_ERR_BUSY)
		DsFinish(a, rc, err);
	return false;
}

/* GENERATE: tokenize the prompt and start a sequence. */
static void
DsServeGenerate(ds_engine *e, DsActive *a, const DsSlot *req,
				const char *input, Size len, const char *stops)
{
	const ds_model_info *info = ds_engine_model_info(e);
	int			flags = DS_TOK_PARSE_SPECIAL | (info->add_bos ? DS_TOK_ADD_BOS : 0);
	char		err[DS_ERRLEN];
	int			rc;

	a->n_ctx = ds_engine_n_ctx(e);
	rc = ds_tokenize(ds_engine_tokenizer(e), input, len, flags,
					 &a->prompt, &a->n_prompt, err);
	if (rc != DS_OK)
	{
		DsFinish(a, rc, err);
		return;
	}
	if (a->n_prompt == 0)
	{
		DsFinish(a, DS_ERR_ARG, "the prompt is empty");
		return;
	}
	a->stops = palloc(sizeof(char *) * Max(req->n_stop, 1));
	for (int i = 0; i < req->n_stop; i++)
	{
		a->stops[i] = stops;
		stops += strlen(stops) + 1;
	}
	a->gen.max_tokens = req->params.max_tokens;
	a->gen.temperature = (float) req->params.temperature;
	a->gen.top_p = (float) req->params.top_p;
	a->gen.top_k = req->params.top_k;
	a->gen.seed = req->params.seed;
	a->gen.stop = a->stops;
	a->gen.n_stop = req->n_stop;
	(void) DsSubmit(e, a);
}

/* Take one queued slot: mark it running and start serving it. */
static void
DsAdmitOne(ds_engine *e, int index)
{
	DsSlot	   *slot = DsSlotGet(index);
	DsActive   *a = &ds_active[index];
	DsSlot		req;
	const char *input;
	const char *stops;
	Size		len;

	LWLockAcquire(ds_control->lock, LW_EXCLUSIVE);
	if (slot->state != DS_SLOT_QUEUED || a->in_use)
	{
		LWLockRelease(ds_control->lock);
		return;
	}
	slot->state = DS_SLOT_RUNNING;
	slot->generation = ds_generation;
	req = *slot;
	LWLockRelease(ds_control->lock);

	a->in_use = true;
	a->request_id = req.request_id;
	a->kind = req.kind;
	a->finished = false;
	a->detached = false;
	a->n_generated = 0;
	a->n_prompt = 0;
	a->n_ctx = 0;
	ds_n_active++;
	if (!DsAttach(a, req.handle, &input, &len, &stops))
		return;
	if (req.kind == DS_REQ_TOKENIZE)
		DsServeTokenize(e, a, input, len);
	else if (req.kind == DS_REQ_DETOKENIZE)
		DsServeDetokenize(e, a, input, len);
	else
		DsServeGenerate(e, a, &req, input, len, stops);
}

/* Answer a queued slot with the model error; the caller holds the lock. */
static void
DsRefuseLocked(DsSlot *slot)
{
	slot->state = DS_SLOT_FAILED;
	slot->status = DS_REQ_NO_MODEL;
	strlcpy(slot->error, ds_control->error, sizeof(slot->error));
	DsWakeOwner(slot);
}

/* Order of admission: oldest request first. */
static int
DsCompareRequest(const void *a, const void *b)
{
	uint64		ra = DsSlotGet(*(const int *) a)->request_id;
	uint64		rb = DsSlotGet(*(const int *) b)->request_id;

	return (ra > rb) - (ra < rb);
}

/*
 * Admit every queued slot, oldest first.  Without a model (e is NULL) each
 * is answered at once with the reason.
 */
void
DsServeAdmit(ds_engine *e)
{
	int		   *queued = ds_scratch;
	int			n = 0;

	LWLockAcquire(ds_control->lock, LW_EXCLUSIVE);
	for (int i = 0; i < ds_control->n_slots; i++)
	{
		DsSlot	   *slot = DsSlotGet(i);

		if (slot->state != DS_SLOT_QUEUED)
			continue;
		if (e == NULL)
			DsRefuseLocked(slot);
		else
			queued[n++] = i;
	}
	qsort(queued, n, sizeof(int), DsCompareRequest);
	LWLockRelease(ds_control->lock);

	for (int i = 0; i < n; i++)
		DsAdmitOne(e, queued[i]);
}

/* After a step: take a sequence's new text, count its tokens, retire it if done. */
static void
DsCollect(ds_engine *e, DsActive *a)
{
	ds_seq_status status = ds_engine_seq_status(e, a->seq_id);
	ds_seq_stats stats;
	const char *text;
	size_t		len;

	ds_engine_seq_take_text(e, a->seq_id, &text, &len);
	if (len > 0 && !a->detached)
		appendBinaryStringInfo(&a->pending, text, len);
	ds_engine_seq_stats(e, a->seq_id, &stats);
	ds_new_tokens += stats.n_generated - a->n_generated;
	a->n_generated = stats.n_generated;
	if (status == DS_SEQ_RUNNING)
		return;
	if (status == DS_SEQ_FAILED)
		DsFinish(a, DS_REQ_SEQ_FAILED, ds_engine_seq_error(e, a->seq_id));
	else
		DsFinish(a, DS_OK, NULL);
	ds_engine_seq_release(e, a->seq_id);
	a->seq_id = -1;
}

/*
 * One batched step over every running sequence; true if sequences are
 * still running after it.  A backend failure leaves the engine unusable:
 * the worker exits with status 1 and the postmaster starts a new one.
 */
bool
DsServeStep(ds_engine *e)
{
	char		err[DS_ERRLEN];
	int			n_running = 0;
	int			n_seqs = 0;

	for (int i = 0; i < ds_control->n_slots; i++)
	{
		DsActive   *a = &ds_active[i];

		if (a->in_use && a->awaiting_seq)
			(void) DsSubmit(e, a);
		n_seqs += (a->in_use && a->seq_id >= 0);
	}
	if (n_seqs == 0)
		return false;
	if (ds_engine_step(e, &n_running, err) != DS_OK)
	{
		ereport(LOG,
				(errmsg("deepseek worker: engine step failed: %s", err),
				 errdetail("The worker exits and is restarted.")));
		proc_exit(1);
	}
	n_seqs = 0;
	for (int i = 0; i < ds_control->n_slots; i++)
	{
		DsActive   *a = &ds_active[i];

		if (a->in_use && a->seq_id >= 0)
		{
			DsCollect(e, a);
			n_seqs += (a->seq_id >= 0);
		}
	}
	return n_seqs > 0;
}

/* Put what the queue takes of a request's output into it. */
static void
DsSend(DsActive *a)
{
	while (!a->detached)
	{
		shm_mq_result res;

		if (a->inflight.len == 0)
		{
			StringInfoData tmp;

			if (a->pending.len == 0)
				return;
			tmp = a->inflight;
			a->inflight = a->pending;
			a->pending = tmp;
		}
		res = shm_mq_send(a->mqh, a->inflight.len, a->inflight.data, true, true);
		if (res == SHM_MQ_WOULD_BLOCK)
			return;
		if (res == SHM_MQ_DETACHED)
			a->detached = true;
		resetStringInfo(&a->inflight);
	}
	resetStringInfo(&a->pending);
}

/*
 * Send every request's new output and complete the finished ones; true if
 * some output still waits for its reader or some prompt for the engine.
 */
bool
DsServeFlush(ds_engine *e)
{
	bool		waiting = false;

	for (int i = 0; i < ds_control->n_slots; i++)
	{
		DsActive   *a = &ds_active[i];

		if (!a->in_use)
			continue;
		if (a->mqh != NULL)
			DsSend(a);
		if (a->inflight.len > 0 || a->pending.len > 0 || a->awaiting_seq)
			waiting = true;
		else if (a->finished)
			DsComplete(e, i);
	}
	return waiting;
}

/* Requests the worker holds. */
int
DsServeActive(void)
{
	return ds_n_active;
}

/* Publish the counters of the last steps. */
void
DsServePublish(ds_engine *e)
{
	int			max_batch = e ? ds_engine_max_batch_seen(e) : 0;

	if (ds_new_tokens == 0 && ds_new_done == 0 &&
		max_batch == ds_control->max_batch)
		return;
	LWLockAcquire(ds_control->lock, LW_EXCLUSIVE);
	ds_control->tokens_generated += ds_new_tokens;
	ds_control->requests_done += ds_new_done;
	ds_control->max_batch = max_batch;
	LWLockRelease(ds_control->lock);
	ds_new_tokens = 0;
	ds_new_done = 0;
}

/*
 * Exit callback of the worker: the requests it was serving fail with a
 * clear reason, and cancelled slots become free.
 */
void
DsServeAbandon(void)
{
	for (int i = 0; i < ds_control->n_slots; i++)
	{
		DsSlot	   *slot = DsSlotGet(i);

		if (slot->state == DS_SLOT_CANCELLED)
		{
			slot->state = DS_SLOT_FREE;
			slot->request_id = 0;
		}
		else if (slot->state == DS_SLOT_RUNNING)
		{
			slot->state = DS_SLOT_FAILED;
			slot->status = DS_REQ_WORKER_EXIT;
			strlcpy(slot->error,
					"The worker stopped while it served this request.",
					sizeof(slot->error));
			DsWakeOwner(slot);
		}
	}
}
