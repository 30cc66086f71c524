/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The inference worker's life: registration, start, loading the model
 *		once, the main loop, and exit.
 *
 * The worker is a static background worker.  It loads deepseek.model with
 * the engine; if that fails it logs why, publishes the reason and stays up,
 * answering every request with it (no restart loop).  A changed setting
 * (deepseek.model, device, threads, context) makes it exit with status 1
 * once idle, and the postmaster starts it again with the new values; an
 * engine failure does the same.  It never dies by a signal: SIGTERM goes
 * through die() and CHECK_FOR_INTERRUPTS to proc_exit(1).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <stdlib.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "deepseek.h"
#include "engine.h"
#include "serve.h"

/* Seconds the postmaster waits before starting an exited worker again. */
#define DS_RESTART_SECONDS	3
/* Longest sleep while output waits for a slow reader. */
#define DS_RETRY_MS			100

/* The settings the model was loaded with. */
typedef struct DsLoadedSettings
{
	char	   *model;
	char	   *device;
	int			threads;
	int			context;
} DsLoadedSettings;

static DsLoadedSettings ds_loaded;
static uint64 ds_my_generation = 0;
static bool ds_restart_pending = false;

/* Register the worker; called from _PG_init during preload. */
void
DsRegisterWorker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = DS_RESTART_SECONDS;
	strlcpy(worker.bgw_library_name, "deepseek", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "deepseek_worker_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "deepseek worker", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "deepseek worker", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* before_shmem_exit: say the worker is gone and fail what it served. */
static void
DsWorkerExit(int code, Datum arg)
{
	if (LWLockHeldByMe(ds_control->lock))
		LWLockRelease(ds_control->lock);
	LWLockAcquire(ds_control->lock, LW_EXCLUSIVE);
	if (ds_my_generation != 0 && ds_control->generation == ds_my_generation)
	{
		ds_control->state = DS_WORKER_STOPPED;
		ds_control->worker_pid = 0;
		ds_control->worker_procno = INVALID_PGPROCNO;
	}
	DsServeAbandon();
	LWLockRelease(ds_control->lock);
}

/* Publish a new worker generation: pid, latch, fresh counters. */
static void
DsWorkerAnnounce(void)
{
	DsControl  *c = ds_control;

	LWLockAcquire(c->lock, LW_EXCLUSIVE);
	ds_my_generation = ++c->generation;
	c->worker_pid = MyProcPid;
	c->worker_procno = MyProc->pgprocno;
	c->state = DS_WORKER_STARTING;
	c->started_at = GetCurrentTimestamp();
	c->error[0] = '\0';
	c->model_path[0] = c->model_name[0] = c->arch[0] = '\0';
	c->file_type[0] = c->device[0] = '\0';
	c->n_ctx = c->n_vocab = c->max_seqs = 0;
	c->tokens_generated = c->requests_done = 0;
	c->max_batch = 0;
	DsServeAbandon();
	LWLockRelease(c->lock);
}

/*
 * Resolve deepseek.model to a real path inside deepseek.model_dir.  A
 * relative setting is taken inside model_dir (or the data directory when
 * model_dir is empty).  Symbolic links are followed before the check.
 */
static bool
DsResolveModel(char *resolved, char *reason, size_t reasonlen)
{
	char		joined[MAXPGPATH];
	char	   *real;
	char	   *dir;

	if (ds_model == NULL || ds_model[0] == '\0')
	{
		snprintf(reason, reasonlen, "deepseek.model is not set.");
		return false;
	}
	if (is_absolute_path(ds_model))
		strlcpy(joined, ds_model, sizeof(joined));
	else
		join_path_components(joined, ds_model_dir[0] ? ds_model_dir : DataDir,
							 ds_model);
	real = realpath(joined, NULL);
	if (real == NULL)
	{
		snprintf(reason, reasonlen, "Could not open model file \"%s\": %s.",
				 joined, strerror(errno));
		return false;
	}
	strlcpy(resolved, real, MAXPGPATH);
	free(real);
	if (ds_model_dir[0] == '\0')
		return true;

	dir = realpath(ds_model_dir, NULL);
	if (dir == NULL || !path_is_prefix_of_path(dir, resolved) ||
		strcmp(dir, resolved) == 0)
	{
		snprintf(reason, reasonlen,
				 "Model file \"%s\" is not inside deepseek.model_dir \"%s\".",
				 resolved, ds_model_dir);
		free(dir);
		return false;
	}
	free(dir);
	return true;
}

/* Remember the settings the model is loaded with. */
static void
DsRememberSettings(void)
{
	ds_loaded.model = MemoryContextStrdup(TopMemoryContext, ds_model);
	ds_loaded.device = MemoryContextStrdup(TopMemoryContext, ds_device);
	ds_loaded.threads = ds_threads;
	ds_loaded.context = ds_context;
}

/* Did a setting the engine was built with change? */
static bool
DsSettingsChanged(void)
{
	return strcmp(ds_loaded.model, ds_model) != 0 ||
		strcmp(ds_loaded.device, ds_device) != 0 ||
		ds_loaded.threads != ds_threads ||
		ds_loaded.context != ds_context;
}

/* Publish the worker state. */
static void
DsSetState(DsWorkerState state, const char *error)
{
	LWLockAcquire(ds_control->lock, LW_EXCLUSIVE);
	ds_control->state = state;
	strlcpy(ds_control->error, error ? error : "", sizeof(ds_control->error));
	LWLockRelease(ds_control->lock);
}

/* Publish the loaded model and go ready. */
static void
DsPublishModel(ds_engine *e, const char *path)
{
	const ds_model_info *info = ds_engine_model_info(e);
	DsControl  *c = ds_control;

	LWLockAcquire(c->lock, LW_EXCLUSIVE);
	strlcpy(c->model_path, path, sizeof(c->model_path));
	strlcpy(c->model_name, info->name, sizeof(c->model_name));
	strlcpy(c->arch, info->arch, sizeof(c->arch));
	strlcpy(c->file_type, info->file_type, sizeof(c->file_type));
	strlcpy(c->device, ds_engine_device(e), sizeof(c->device));
	c->n_ctx = ds_engine_n_ctx(e);
	c->n_vocab = info->n_vocab;
	c->max_seqs = ds_engine_max_seqs(e);
	c->state = DS_WORKER_READY;
	LWLockRelease(c->lock);
	ereport(LOG,
			(errmsg("deepseek worker loaded model \"%s\" (%s, %s) on %s",
					info->name, info->arch, info->file_type,
					ds_engine_device(e))));
}

/* Load the model once; NULL (and state "failed" with the reason) on failure. */
static ds_engine *
DsLoadModel(void)
{
	char		path[MAXPGPATH];
	char		reason[2 * DS_ERRLEN];
	char		err[DS_ERRLEN];
	ds_engine_config cfg;
	ds_engine  *e = NULL;

	DsRememberSettings();
	DsSetState(DS_WORKER_LOADING, NULL);
	pgstat_report_activity(STATE_RUNNING, "loading model");
	if (DsResolveModel(path, reason, sizeof(reason)))
	{
		memset(&cfg, 0, sizeof(cfg));
		cfg.device = ds_device;
		cfg.lib_dir = pkglib_path;
		cfg.n_threads = ds_threads;
		cfg.max_seqs = ds_control->n_slots;
		cfg.n_ctx = ds_context;
		if (ds_engine_create(path, &cfg, &e, err) != DS_OK)
		{
			snprintf(reason, sizeof(reason), "Could not load model \"%s\": %s.",
					 path, err);
			e = NULL;
		}
	}
	pgstat_report_activity(STATE_IDLE, NULL);
	if (e != NULL)
	{
		DsPublishModel(e, path);
		return e;
	}
	ereport(LOG,
			(errmsg("deepseek worker could not load the model"),
			 errdetail("%s", reason)));
	DsSetState(DS_WORKER_FAILED, reason);
	return NULL;
}

/* SIGHUP: reread the settings; a changed model setting means a restart. */
static void
DsWorkerReload(void)
{
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	if (!ds_restart_pending && DsSettingsChanged())
	{
		ereport(LOG,
				(errmsg("deepseek worker restarts to apply changed settings")));
		ds_restart_pending = true;
	}
}

/* Sleep until a backend or a reader wakes the worker. */
static void
DsWorkerSleep(bool output_waiting)
{
	int			events = WL_LATCH_SET | WL_EXIT_ON_PM_DEATH;

	if (output_waiting)
		events |= WL_TIMEOUT;
	(void) WaitLatch(MyLatch, events, output_waiting ? DS_RETRY_MS : -1,
					 PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
}

/*
 * The main loop: retire, admit, one batched step, stream output; sleep on
 * the latch only when no sequence runs.
 */
static void
DsWorkerLoop(ds_engine *e)
{
	for (;;)
	{
		bool		running;
		bool		waiting;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
			DsWorkerReload();
		DsServeRetire(e);
		if (!ds_restart_pending)
			DsServeAdmit(e);
		running = e ? DsServeStep(e) : false;
		waiting = DsServeFlush(e);
		DsServePublish(e);
		if (ds_restart_pending && DsServeActive() == 0)
			proc_exit(1);
		if (!running)
			DsWorkerSleep(waiting);
	}
}

/* Entry point of the worker process. */
void
deepseek_worker_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	pqsignal(SIGINT, SIG_IGN);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	before_shmem_exit(DsWorkerExit, 0);
	DsWorkerAnnounce();
	DsServeInit(ds_my_generation);
	DsWorkerLoop(DsLoadModel());
}
