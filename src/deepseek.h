/*-------------------------------------------------------------------------
 *
 * deepseek.h
 *		Declarations shared by the PostgreSQL side of the extension: the
 *		settings, the shared-memory control block with its request slots,
 *		the per-request dynamic shared memory layout, and the entry points
 *		of the worker and of the backend side of a request.
 *
 * The engine (src/engine/) has its own headers and no PostgreSQL headers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEEPSEEK_H
#define DEEPSEEK_H

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "storage/dsm.h"
#include "storage/lwlock.h"
#include "storage/shm_mq.h"

#include "status.h"

/* Settings (deepseek.c) */
extern char *ds_model;
extern char *ds_model_dir;
extern int	ds_max_requests;
extern int	ds_threads;
extern int	ds_context;
extern char *ds_device;
extern int	ds_request_timeout;

#define DS_NAMELEN 128

/* What the worker is doing; shown by deepseek_stat_worker. */
typedef enum DsWorkerState
{
	DS_WORKER_STOPPED = 0,		/* no worker process (not started, or exited) */
	DS_WORKER_STARTING,			/* process up, not yet loading */
	DS_WORKER_LOADING,			/* ds_engine_create() in progress */
	DS_WORKER_READY,			/* serving requests */
	DS_WORKER_FAILED			/* the model did not load; see error */
} DsWorkerState;

/* Life of a request slot; see the comment at the top of shmem.c. */
typedef enum DsSlotState
{
	DS_SLOT_FREE = 0,
	DS_SLOT_QUEUED,				/* filled by a backend, not yet admitted */
	DS_SLOT_RUNNING,			/* admitted by the worker */
	DS_SLOT_DONE,				/* all output written, status DS_OK */
	DS_SLOT_FAILED,				/* status and error say why */
	DS_SLOT_CANCELLED			/* owner gone; the worker frees it */
} DsSlotState;

typedef enum DsRequestKind
{
	DS_REQ_GENERATE = 0,
	DS_REQ_TOKENIZE,
	DS_REQ_DETOKENIZE
} DsRequestKind;

/*
 * Request outcomes beyond the engine's ds_status codes (status.h), set by
 * the worker in DsSlot.status.
 */
#define DS_REQ_NO_MODEL		100 /* the worker could not load the model */
#define DS_REQ_WORKER_EXIT	101 /* the worker exited while serving it */
#define DS_REQ_SEQ_FAILED	102 /* the engine failed this sequence */

/* Generation parameters, copied into the slot by the backend. */
typedef struct DsGenParams
{
	int32		max_tokens;
	float8		temperature;
	float8		top_p;
	int32		top_k;
	uint64		seed;
} DsGenParams;

/* One request slot in shared memory. */
typedef struct DsSlot
{
	DsSlotState state;
	DsRequestKind kind;
	uint64		request_id;		/* unique per request, 0 while free */
	uint64		generation;		/* worker generation that admitted it */
	int			owner_procno;	/* owner's PGPROC number, for its latch */
	int			owner_pid;
	Oid			roleid;
	Oid			dbid;
	TimestampTz queued_at;
	dsm_handle	handle;			/* the owner's per-request segment */
	DsGenParams params;
	int			n_stop;			/* stop strings in the segment */
	/* outcome, written by the worker */
	int			status;			/* DS_OK, a ds_status or a DS_REQ_* code */
	int			n_prompt;		/* prompt tokens (generate) */
	int			n_ctx;			/* context size the prompt was checked against */
	char		error[DS_ERRLEN];
} DsSlot;

/* The control block: one per cluster, from shmem_request_hook. */
typedef struct DsControl
{
	LWLock	   *lock;			/* guards everything below; see shmem.c */
	DsWorkerState state;
	int			worker_pid;		/* 0 while no worker runs */
	int			worker_procno;	/* worker's PGPROC number, for its latch */
	uint64		generation;		/* incremented at each worker start */
	TimestampTz started_at;		/* when the current worker started */
	char		error[2 * DS_ERRLEN];	/* why the model did not load */
	/* the loaded model */
	char		model_path[MAXPGPATH];
	char		model_name[DS_NAMELEN];
	char		arch[32];
	char		file_type[32];
	char		device[64];
	int			n_ctx;
	int			n_vocab;
	int			max_seqs;
	/* counters since the current worker started */
	uint64		tokens_generated;
	uint64		requests_done;
	int			max_batch;
	/* request slots */
	uint64		next_request_id;
	int			n_slots;
	DsSlot		slots[FLEXIBLE_ARRAY_MEMBER];
} DsControl;

extern DsControl *ds_control;

/*
 * Per-request dynamic shared memory segment, created by the backend.  It
 * holds a shm_toc with these entries.
 */
#define DS_SEG_MAGIC		0x44534b31	/* "DSK1" */
#define DS_KEY_HEADER		1
#define DS_KEY_INPUT		2	/* prompt text, or int32 token ids */
#define DS_KEY_STOPS		3	/* n_stop NUL-terminated strings */
#define DS_KEY_QUEUE		4	/* shm_mq, worker -> backend */
#define DS_QUEUE_SIZE		(64 * 1024)

typedef struct DsSegHeader
{
	uint64		request_id;
	Size		input_len;
	Size		stops_len;
} DsSegHeader;

/* shmem.c */
extern void DsShmemRequest(void);
extern void DsShmemStartup(void);
extern void DsCheckLoaded(void);
extern DsSlot *DsSlotGet(int index);
extern void DsWakeWorker(void);
extern void DsWakeOwner(DsSlot *slot);
extern const char *DsWorkerStateName(DsWorkerState state);

/* request.c: the backend side of one request */
typedef struct DsRequest DsRequest;
extern DsRequest *DsRequestCreate(DsRequestKind kind, const char *input,
								  Size input_len, const char *stops,
								  Size stops_len, int n_stop);
extern void DsRequestRun(DsRequest *req, const DsGenParams *params,
						 StringInfo result);
extern void DsRequestEnd(DsRequest *req);

/* worker.c */
extern void DsRegisterWorker(void);
extern PGDLLEXPORT void deepseek_worker_main(Datum main_arg);

#endif							/* DEEPSEEK_H */
