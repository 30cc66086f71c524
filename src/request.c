/*-------------------------------------------------------------------------
 *
 * request.c
 *		The backend side of one request: build its segment, take a slot,
 *		wait for the output, release everything on every exit path.
 *
 * The backend creates a dynamic shared memory segment holding a shm_toc:
 * a header, the input (prompt text or token ids), the stop strings and a
 * shm_mq on which the worker sends the output.  The backend is the
 * queue's receiver and reads it without blocking between waits on its
 * latch, so statement_timeout and pg_cancel_backend act at once.  The
 * outcome (done, or failed with a status and a message) is in the slot;
 * the worker sets it only after the last output byte is in the queue.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shm_toc.h"
#include "utils/timestamp.h"

#include "deepseek.h"

/* How often a waiting backend looks at the worker even without a wakeup. */
#define DS_POLL_MS			1000
/* How often a backend looks for a free slot. */
#define DS_SLOT_POLL_MS		100

struct DsRequest
{
	DsRequestKind kind;
	dsm_segment *seg;
	shm_mq_handle *mqh;
	DsSegHeader *header;
	int			n_stop;
	int			slot;			/* -1 while the request holds none */
	uint64		request_id;
};

/* The slot this backend holds, released by DsReleaseAtExit on FATAL. */
static int	ds_held_slot = -1;
static uint64 ds_held_request_id = 0;
static bool ds_exit_callback_registered = false;

/* Give back a slot; the caller holds the lock. */
static void
DsReleaseSlotLocked(int index, uint64 request_id)
{
	DsSlot	   *slot = DsSlotGet(index);

	if (slot->request_id != request_id)
		return;
	if (slot->state == DS_SLOT_RUNNING &&
		slot->generation == ds_control->generation &&
		ds_control->worker_pid != 0)
	{
		/* the worker holds an engine sequence for it: it frees the slot */
		slot->state = DS_SLOT_CANCELLED;
		DsWakeWorker();
		return;
	}
	slot->state = DS_SLOT_FREE;
	slot->request_id = 0;
}

/* Give back the slot this backend holds, if any. */
static void
DsReleaseHeldSlot(void)
{
	if (ds_held_slot < 0)
		return;
	LWLockAcquire(ds_control->lock, LW_EXCLUSIVE);
	DsReleaseSlotLocked(ds_held_slot, ds_held_request_id);
	LWLockRelease(ds_control->lock);
	ds_held_slot = -1;
	ds_held_request_id = 0;
}

/* before_shmem_exit: a backend that exits mid-call gives its slot back. */
static void
DsReleaseAtExit(int code, Datum arg)
{
	if (ds_held_slot >= 0 && LWLockHeldByMe(ds_control->lock))
		LWLockRelease(ds_control->lock);
	DsReleaseHeldSlot();
}

/* Build the request's segment: header, input, stop strings, queue. */
DsRequest *
DsRequestCreate(DsRequestKind kind, const char *input, Size input_len,
				const char *stops, Size stops_len, int n_stop)
{
	DsRequest  *req = palloc0(sizeof(DsRequest));
	shm_toc_estimator e;
	shm_toc    *toc;
	shm_mq	   *mq;
	Size		size;
	char	   *p;

	shm_toc_initialize_estimator(&e);
	shm_toc_estimate_chunk(&e, sizeof(DsSegHeader));
	shm_toc_estimate_chunk(&e, Max(input_len, 1));
	shm_toc_estimate_chunk(&e, Max(stops_len, 1));
	shm_toc_estimate_chunk(&e, DS_QUEUE_SIZE);
	shm_toc_estimate_keys(&e, 4);
	size = shm_toc_estimate(&e);

	req->kind = kind;
	req->n_stop = n_stop;
	req->slot = -1;
	req->seg = dsm_create(size, 0);
	toc = shm_toc_create(DS_SEG_MAGIC, dsm_segment_address(req->seg), size);

	req->header = shm_toc_allocate(toc, sizeof(DsSegHeader));
	req->header->request_id = 0;
	req->header->input_len = input_len;
	req->header->stops_len = stops_len;
	shm_toc_insert(toc, DS_KEY_HEADER, req->header);

	p = shm_toc_allocate(toc, Max(input_len, 1));
	if (input_len > 0)
		memcpy(p, input, input_len);
	shm_toc_insert(toc, DS_KEY_INPUT, p);

	p = shm_toc_allocate(toc, Max(stops_len, 1));
	if (stops_len > 0)
		memcpy(p, stops, stops_len);
	shm_toc_insert(toc, DS_KEY_STOPS, p);

	mq = shm_mq_create(shm_toc_allocate(toc, DS_QUEUE_SIZE), DS_QUEUE_SIZE);
	shm_toc_insert(toc, DS_KEY_QUEUE, mq);
	shm_mq_set_receiver(mq, MyProc);
	req->mqh = shm_mq_attach(mq, req->seg, NULL);
	return req;
}

/* The first free slot, or -1; the caller holds the lock. */
static int
DsFindFreeSlot(void)
{
	for (int i = 0; i < ds_control->n_slots; i++)
	{
		if (DsSlotGet(i)->state == DS_SLOT_FREE)
			return i;
	}
	return -1;
}

/* Fill a free slot with the request and queue it; the caller holds the lock. */
static void
DsFillSlot(DsRequest *req, int index, const DsGenParams *params)
{
	DsSlot	   *slot = DsSlotGet(index);

	req->slot = index;
	req->request_id = ds_control->next_request_id++;
	req->header->request_id = req->request_id;

	slot->kind = req->kind;
	slot->request_id = req->request_id;
	slot->generation = 0;
	slot->owner_procno = MyProc->pgprocno;
	slot->owner_pid = MyProcPid;
	slot->roleid = GetUserId();
	slot->dbid = MyDatabaseId;
	slot->queued_at = GetCurrentTimestamp();
	slot->handle = dsm_segment_handle(req->seg);
	if (params)
		slot->params = *params;
	else
		memset(&slot->params, 0, sizeof(DsGenParams));
	slot->n_stop = req->n_stop;
	slot->status = DS_OK;
	slot->n_prompt = 0;
	slot->n_ctx = 0;
	slot->error[0] = '\0';
	slot->state = DS_SLOT_QUEUED;

	ds_held_slot = index;
	ds_held_request_id = req->request_id;
}

/* Raise "model not loaded" with the worker's reason. */
static void
DsRaiseNoModel(const char *reason)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("model not loaded"),
			 errdetail("%s", reason),
			 errhint("Check deepseek.model and the server log, then reload the configuration.")));
}

/* Raise the model error if the worker could not load the model; lock held. */
static void
DsCheckModelLocked(void)
{
	char		reason[sizeof(ds_control->error)];

	if (ds_control->state != DS_WORKER_FAILED)
		return;
	strlcpy(reason, ds_control->error, sizeof(reason));
	LWLockRelease(ds_control->lock);
	DsRaiseNoModel(reason);
}

/* Sleep on the latch until woken or for timeout_ms. */
static void
DsWait(long timeout_ms)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 timeout_ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
}

/* Take a free slot, waiting up to deepseek.request_timeout for one. */
static void
DsRequestQueue(DsRequest *req, const DsGenParams *params)
{
	TimestampTz start = GetCurrentTimestamp();

	if (!ds_exit_callback_registered)
	{
		before_shmem_exit(DsReleaseAtExit, 0);
		ds_exit_callback_registered = true;
	}
	for (;;)
	{
		int			index;

		CHECK_FOR_INTERRUPTS();
		LWLockAcquire(ds_control->lock, LW_EXCLUSIVE);
		DsCheckModelLocked();
		index = DsFindFreeSlot();
		if (index >= 0)
			DsFillSlot(req, index, params);
		LWLockRelease(ds_control->lock);
		if (index >= 0)
			break;
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(),
									   ds_request_timeout))
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("all %d deepseek request slots are in use",
							ds_control->n_slots),
					 errdetail("No slot became free within %d ms.",
							   ds_request_timeout),
					 errhint("Raise deepseek.max_requests or deepseek.request_timeout.")));
		DsWait(DS_SLOT_POLL_MS);
	}
	DsWakeWorker();
}

/* Append the messages the queue holds to result. */
static void
DsDrainQueue(DsRequest *req, StringInfo result)
{
	Size		nbytes;
	void	   *data;

	while (shm_mq_receive(req->mqh, &nbytes, &data, true) == SHM_MQ_SUCCESS)
		appendBinaryStringInfo(result, data, (int) nbytes);
}

/* What a waiting backend sees of its slot and the worker. */
typedef struct DsProgress
{
	DsSlotState state;
	bool		worker_gone;	/* its worker is no longer there */
	bool		worker_up;		/* a worker with a loaded model is there */
	DsWorkerState worker_state;
	TimestampTz queued_at;
	int			status;
	int			n_prompt;
	int			n_ctx;
	char		error[DS_ERRLEN];
	char		model_error[2 * DS_ERRLEN];
} DsProgress;

/* Read the slot and the worker under the lock. */
static void
DsReadProgress(DsRequest *req, DsProgress *p)
{
	DsSlot	   *slot = DsSlotGet(req->slot);

	LWLockAcquire(ds_control->lock, LW_SHARED);
	p->state = slot->state;
	p->worker_gone = (slot->state == DS_SLOT_RUNNING &&
					  (slot->generation != ds_control->generation ||
					   ds_control->worker_pid == 0));
	p->worker_state = ds_control->state;
	p->worker_up = (ds_control->worker_pid != 0 &&
					ds_control->state == DS_WORKER_READY);
	p->queued_at = slot->queued_at;
	p->status = slot->status;
	p->n_prompt = slot->n_prompt;
	p->n_ctx = slot->n_ctx;
	p->error[0] = p->model_error[0] = '\0';
	if (p->state == DS_SLOT_FAILED)
		strlcpy(p->error, slot->error, sizeof(p->error));
	if (p->worker_state == DS_WORKER_FAILED)
		strlcpy(p->model_error, ds_control->error, sizeof(p->model_error));
	LWLockRelease(ds_control->lock);
}

/* Raise the error a failed request carries. */
static void
DsRaiseFailure(const DsProgress *p)
{
	switch (p->status)
	{
		case DS_REQ_NO_MODEL:
			DsRaiseNoModel(p->error);
			break;
		case DS_REQ_WORKER_EXIT:
			ereport(ERROR,
					(errcode(ERRCODE_OPERATOR_INTERVENTION),
					 errmsg("deepseek worker exited during the request"),
					 errdetail("%s", p->error),
					 errhint("The worker restarts by itself; retry the call.")));
			break;
		case DS_ERR_CONTEXT:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("prompt is too long for the context window"),
					 errdetail("The prompt has %d tokens; the context holds %d tokens, and at least one must be left for the output.",
							   p->n_prompt, p->n_ctx),
					 errhint("Shorten the prompt or raise deepseek.context.")));
			break;
		case DS_ERR_ARG:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s", p->error)));
			break;
		case DS_ERR_NOMEM:
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("deepseek worker is out of memory"),
					 errdetail("%s", p->error)));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("deepseek request failed"),
					 errdetail("%s", p->error)));
	}
}

/*
 * Is the request over?  Raises when its worker went away, when no worker
 * came up in time, or when the model is not loaded.
 */
static bool
DsRequestOver(DsRequest *req, DsProgress *p)
{
	DsReadProgress(req, p);
	if (p->state == DS_SLOT_DONE || p->state == DS_SLOT_FAILED)
		return true;
	if (p->worker_gone)
		ereport(ERROR,
				(errcode(ERRCODE_OPERATOR_INTERVENTION),
				 errmsg("deepseek worker exited during the request"),
				 errhint("The worker restarts by itself; retry the call.")));
	if (p->state == DS_SLOT_QUEUED && p->worker_state == DS_WORKER_FAILED)
		DsRaiseNoModel(p->model_error);
	if (p->state == DS_SLOT_QUEUED && !p->worker_up &&
		TimestampDifferenceExceeds(p->queued_at, GetCurrentTimestamp(),
								   ds_request_timeout))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("deepseek worker is not running"),
				 errdetail("The worker was not ready within %d ms; its state is \"%s\".",
						   ds_request_timeout,
						   DsWorkerStateName(p->worker_state)),
				 errhint("Check the server log, or raise deepseek.request_timeout.")));
	return false;
}

/* Wait until the worker is done, collecting the output into result. */
static void
DsRequestWait(DsRequest *req, StringInfo result)
{
	DsProgress	p;

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		DsDrainQueue(req, result);
		if (DsRequestOver(req, &p))
			break;
		DsWait(DS_POLL_MS);
	}
	/* the worker finished writing before it set the slot's state */
	DsDrainQueue(req, result);
	if (p.state == DS_SLOT_FAILED)
		DsRaiseFailure(&p);
}

/*
 * Run a request to its end: queue it, wait, collect the output.  The slot
 * and the segment are given back on every exit path.
 */
void
DsRequestRun(DsRequest *req, const DsGenParams *params, StringInfo result)
{
	PG_TRY();
	{
		DsRequestQueue(req, params);
		DsRequestWait(req, result);
	}
	PG_FINALLY();
	{
		DsRequestEnd(req);
	}
	PG_END_TRY();
}

/* Give back the slot and detach from the segment. */
void
DsRequestEnd(DsRequest *req)
{
	if (req->slot >= 0)
	{
		DsReleaseHeldSlot();
		req->slot = -1;
	}
	if (req->mqh != NULL)
	{
		shm_mq_detach(req->mqh);
		req->mqh = NULL;
	}
	if (req->seg != NULL)
	{
		dsm_detach(req->seg);
		req->seg = NULL;
	}
}
