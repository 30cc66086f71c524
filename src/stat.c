/*-------------------------------------------------------------------------
 *
 * stat.c
 *		deepseek_stat_worker(): one row about the inference worker, read
 *		from the control block under its lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "deepseek.h"

PG_FUNCTION_INFO_V1(deepseek_stat_worker);

#define DS_STAT_COLS 15

/* Text column, NULL when empty. */
static void
DsSetText(Datum *values, bool *nulls, int i, const char *s)
{
	nulls[i] = (s[0] == '\0');
	if (!nulls[i])
		values[i] = CStringGetTextDatum(s);
}

/* Count the slots in a state; the caller holds the lock. */
static int
DsCountSlots(DsSlotState state)
{
	int			n = 0;

	for (int i = 0; i < ds_control->n_slots; i++)
		n += (DsSlotGet(i)->state == state);
	return n;
}

/* Fill the row from the control block; the caller holds the lock. */
static void
DsStatRow(Datum *values, bool *nulls)
{
	DsControl  *c = ds_control;

	values[0] = Int32GetDatum(c->worker_pid);
	nulls[0] = (c->worker_pid == 0);
	values[1] = CStringGetTextDatum(DsWorkerStateName(c->state));
	DsSetText(values, nulls, 2, c->error);
	DsSetText(values, nulls, 3, c->model_name);
	DsSetText(values, nulls, 4, c->arch);
	DsSetText(values, nulls, 5, c->file_type);
	DsSetText(values, nulls, 6, c->device);
	values[7] = Int32GetDatum(c->n_ctx);
	nulls[7] = (c->state != DS_WORKER_READY);
	values[8] = Int32GetDatum(c->n_slots);
	values[9] = Int32GetDatum(DsCountSlots(DS_SLOT_RUNNING));
	values[10] = Int32GetDatum(DsCountSlots(DS_SLOT_QUEUED));
	values[11] = Int32GetDatum(c->max_batch);
	values[12] = Int64GetDatum((int64) c->tokens_generated);
	values[13] = Int64GetDatum((int64) c->requests_done);
	values[14] = TimestampTzGetDatum(c->started_at);
	nulls[14] = (c->started_at == 0);
}

/*
 * deepseek_stat_worker() -> record
 * pid, state, error, model, arch, file_type, device, n_ctx, slots, running,
 * queued, max_batch, tokens_generated, requests, started_at.
 */
Datum
deepseek_stat_worker(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[DS_STAT_COLS];
	bool		nulls[DS_STAT_COLS];

	DsCheckLoaded();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (tupdesc->natts != DS_STAT_COLS)
		elog(ERROR, "deepseek_stat_worker returns %d columns, expected %d",
			 tupdesc->natts, DS_STAT_COLS);

	memset(nulls, 0, sizeof(nulls));
	LWLockAcquire(ds_control->lock, LW_SHARED);
	DsStatRow(values, nulls);
	LWLockRelease(ds_control->lock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
