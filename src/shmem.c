/*-------------------------------------------------------------------------
 *
 * shmem.c
 *		The control block in shared memory: worker state, model description,
 *		counters and the request slots.
 *
 * Locking
 * -------
 * One LWLock, ds_control->lock (tranche "deepseek"), guards every field of
 * DsControl and every field of every DsSlot.  It is held only to read or
 * write those fields: never while waiting, computing, sending or receiving.
 *
 * Who moves a slot from one state to the next (always under the lock):
 *
 *	FREE -> QUEUED				the owner, after filling in the request
 *	QUEUED -> RUNNING			the worker, setting slot->generation
 *	QUEUED/RUNNING -> DONE		the worker, after the last output byte is in
 *								the request's queue
 *	QUEUED/RUNNING -> FAILED	the worker (status, error), also from its exit
 *								callback for the requests it was serving
 *	QUEUED/DONE/FAILED -> FREE	the owner, when its call ends
 *	RUNNING -> CANCELLED		the owner, when its call ends early while the
 *								worker serves the request
 *	CANCELLED -> FREE			the worker, at its next step (or when it exits)
 *	RUNNING -> FREE				the owner, if the worker that admitted it is gone
 *
 * The variable-size data of a request (prompt, stop strings, output) lives
 * in a dynamic shared memory segment the owner creates (see request.c); the
 * output flows through a shm_mq in it, which has its own synchronization.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"

#include "deepseek.h"

DsControl  *ds_control = NULL;

/* Bytes of the control block with its slots. */
static Size
DsShmemSize(void)
{
	return add_size(offsetof(DsControl, slots),
					mul_size(ds_max_requests, sizeof(DsSlot)));
}

/* shmem_request_hook: reserve the control block and the lock. */
void
DsShmemRequest(void)
{
	RequestAddinShmemSpace(DsShmemSize());
	RequestNamedLWLockTranche("deepseek", 1);
}

/* shmem_startup_hook: create or attach to the control block. */
void
DsShmemStartup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	ds_control = ShmemInitStruct("deepseek", DsShmemSize(), &found);
	if (!found)
	{
		memset(ds_control, 0, DsShmemSize());
		ds_control->lock = &(GetNamedLWLockTranche("deepseek"))->lock;
		ds_control->state = DS_WORKER_STOPPED;
		ds_control->worker_procno = INVALID_PGPROCNO;
		ds_control->next_request_id = 1;
		ds_control->n_slots = ds_max_requests;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Every SQL function starts here: the shared memory must exist. */
void
DsCheckLoaded(void)
{
	if (ds_control == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("deepseek must be loaded via shared_preload_libraries"),
				 errhint("Add deepseek to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/* The slot at index, which must exist. */
DsSlot *
DsSlotGet(int index)
{
	Assert(index >= 0 && index < ds_control->n_slots);
	return &ds_control->slots[index];
}

/*
 * Set the worker's latch.  Read without the lock: a stale number sets some
 * other process's latch, which is harmless, and a worker that starts scans
 * every slot before it first waits.
 */
void
DsWakeWorker(void)
{
	int			procno = ds_control->worker_procno;

	if (procno != INVALID_PGPROCNO)
		SetLatch(&GetPGProcByNumber(procno)->procLatch);
}

/* Set the latch of a slot's owner; the caller holds the lock. */
void
DsWakeOwner(DsSlot *slot)
{
	if (slot->owner_procno != INVALID_PGPROCNO)
		SetLatch(&GetPGProcByNumber(slot->owner_procno)->procLatch);
}

/* Name of a worker state as deepseek_stat_worker shows it. */
const char *
DsWorkerStateName(DsWorkerState state)
{
	switch (state)
	{
		case DS_WORKER_STOPPED:
			return "stopped";
		case DS_WORKER_STARTING:
			return "starting";
		case DS_WORKER_LOADING:
			return "loading";
		case DS_WORKER_READY:
			return "ready";
		case DS_WORKER_FAILED:
			return "failed";
	}
	return "unknown";
}
