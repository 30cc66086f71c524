/*-------------------------------------------------------------------------
 *
 * deepseek.c
 *		Module load: settings, shared-memory hooks and the inference worker.
 *
 * The library must be in shared_preload_libraries: only then does it define
 * its settings, get its shared memory and register its worker.  Loaded any
 * other way (CREATE EXTENSION, LOAD) it does nothing, and every SQL
 * function raises a clear error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"

#include "deepseek.h"

PG_MODULE_MAGIC;

char	   *ds_model = NULL;
char	   *ds_model_dir = NULL;
int			ds_max_requests = 16;
int			ds_threads = 0;
int			ds_context = 0;
char	   *ds_device = NULL;
int			ds_request_timeout = 60000;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void		_PG_init(void);

/* A model path may not climb out of its directory with "..". */
static bool
check_model(char **newval, void **extra, GucSource source)
{
	const char *p = *newval;

	if (p == NULL)
		return true;
	while ((p = strstr(p, "..")) != NULL)
	{
		bool		starts = (p == *newval || p[-1] == '/');
		bool		ends = (p[2] == '\0' || p[2] == '/');

		if (starts && ends)
		{
			GUC_check_errdetail("A model path may not contain a \"..\" component.");
			return false;
		}
		p += 2;
	}
	return true;
}

/* The devices the engine knows. */
static bool
check_device(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL &&
		strcmp(*newval, "cpu") != 0 && strcmp(*newval, "cuda") != 0)
	{
		GUC_check_errdetail("Valid values are \"cpu\" and \"cuda\".");
		return false;
	}
	return true;
}

/* Settings for the model and where it runs. */
static void
DsDefineModelSettings(void)
{
	DefineCustomStringVariable("deepseek.model",
							   "GGUF model file the worker loads.",
							   "A relative path is taken inside deepseek.model_dir. "
							   "The worker reloads when it changes.",
							   &ds_model, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   check_model, NULL, NULL);
	DefineCustomStringVariable("deepseek.model_dir",
							   "Directory that every model file must lie inside.",
							   "Empty means no restriction.",
							   &ds_model_dir, "",
							   PGC_POSTMASTER, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("deepseek.device",
							   "Device the worker computes on: cpu or cuda.",
							   NULL,
							   &ds_device, "cpu",
							   PGC_SIGHUP, 0,
							   check_device, NULL, NULL);
	DefineCustomIntVariable("deepseek.threads",
							"CPU compute threads of the worker; 0 uses every core.",
							NULL,
							&ds_threads, 0, 0, 1024,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("deepseek.context",
							"Tokens per sequence, prompt and output together; 0 takes the model's default.",
							NULL,
							&ds_context, 0, 0, 1024 * 1024,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
}

/* Settings for the request path. */
static void
DsDefineRequestSettings(void)
{
	DefineCustomIntVariable("deepseek.max_requests",
							"Request slots: calls served or queued at once.",
							NULL,
							&ds_max_requests, 16, 1, 1024,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("deepseek.request_timeout",
							"How long a call waits for the worker to come up or for a free slot.",
							NULL,
							&ds_request_timeout, 60000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/* Chain to the next shmem_request_hook and ask for our share. */
static void
ds_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	DsShmemRequest();
}

/* Chain to the next shmem_startup_hook and set up the control block. */
static void
ds_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	DsShmemStartup();
}

/* Module entry point. */
void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;

	DsDefineModelSettings();
	DsDefineRequestSettings();
	MarkGUCPrefixReserved("deepseek");

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ds_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ds_shmem_startup;

	DsRegisterWorker();
}
