/*
 * threadpool.c -- fixed pool of compute threads: spin, then sleep.
 *
 * A job is published by bumping `gen`.  Workers that notice it in time join
 * it; the caller runs its own share, then closes the job and waits only for
 * the workers that joined.  Jobs hand out their work dynamically (threads
 * claim chunks from a shared counter), so a worker that is descheduled or
 * late simply does not join and the others do its part: on a busy machine
 * the pool degrades to fewer threads instead of waiting on a sleeping one.
 *
 * `state` packs the job's generation (high 32 bits), a closed flag and the
 * number of workers inside the job, so a late worker can never join a job
 * that has been closed or replaced.
 *
 * A worker that has spun for a while without a new job registers in
 * `sleeping` and waits on the condition variable; the publisher broadcasts
 * only when someone sleeps.  Sequentially consistent atomics on both sides
 * mean either the publisher sees the sleeper or the sleeper sees the job.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "status.h"
#include "threadpool.h"

/* Spin iterations before a worker sleeps / before a waiter yields. */
#define SPIN_BEFORE_SLEEP 20000
#define SPIN_BEFORE_YIELD 2000

#define JOB_CLOSED ((uint64_t) 1 << 31)
#define JOB_COUNT ((uint64_t) JOB_CLOSED - 1)

struct ds_pool
{
	int			n;				/* threads, the caller included */
	pthread_t  *threads;		/* [n - 1] workers */
	int			n_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_uint gen;			/* job generation */
	atomic_uint_least64_t state;	/* gen << 32 | closed | workers inside */
	atomic_int	sleeping;		/* workers blocked on cv */
	atomic_bool stop;
	ds_task_fn	fn;
	void	   *arg;
};

typedef struct worker_arg
{
	ds_pool    *pool;
	int			ith;
} worker_arg;

/* A CPU-friendly pause inside spin loops. */
static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Wait until the generation differs from seen (or stop); returns false on stop. */
static bool
wait_for_job(ds_pool *p, unsigned seen)
{
	for (int i = 0; i < SPIN_BEFORE_SLEEP; i++)
	{
		if (atomic_load(&p->gen) != seen)
			return true;
		if (atomic_load(&p->stop))
			return false;
		cpu_relax();
	}
	pthread_mutex_lock(&p->mu);
	atomic_fetch_add(&p->sleeping, 1);
	while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
		pthread_cond_wait(&p->cv, &p->mu);
	atomic_fetch_sub(&p->sleeping, 1);
	pthread_mutex_unlock(&p->mu);
	return !atomic_load(&p->stop);
}

/* Enter job g if it is still open. */
static bool
join_job(ds_pool *p, unsigned g)
{
	uint64_t	s = atomic_load(&p->state);

	while ((unsigned) (s >> 32) == g && !(s & JOB_CLOSED))
		if (atomic_compare_exchange_weak(&p->state, &s, s + 1))
			return true;
	return false;
}

/* Worker loop: join each published job that is still open. */
static void *
worker_main(void *varg)
{
	worker_arg *wa = varg;
	ds_pool    *p = wa->pool;
	int			ith = wa->ith;
	unsigned	seen = 0;

	free(wa);
	for (;;)
	{
		if (!wait_for_job(p, seen))
			break;
		seen = atomic_load(&p->gen);
		if (!join_job(p, seen))
			continue;
		p->fn(p->arg, ith, p->n);
		atomic_fetch_sub(&p->state, 1);
	}
	return NULL;
}
/* Start worker i with every signal blocked. */
static int
start_worker(ds_pool *p, int ith, char *err)
{
	sigset_t	all,
				old;
	worker_arg *wa = malloc(sizeof(worker_arg));
	int			rc;

	if (wa == NULL)
		return ds_error(err, DS_ERR_NOMEM, "out of memory");
	wa->pool = p;
	wa->ith = ith;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&p->threads[ith - 1], NULL, worker_main, wa);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
	{
		free(wa);
		return ds_error(err, DS_ERR_INTERNAL, "could not start a compute thread: %s",
						strerror(rc));
	}
	p->n_started++;
	return DS_OK;
}

/* Create a pool of n_threads threads, the caller counted as one. */
int
ds_pool_create(int n_threads, ds_pool **out, char *err)
{
	ds_pool    *p;
	int			rc = DS_OK;

	*out = NULL;
	if (n_threads < 1 || n_threads > 1024)
		return ds_error(err, DS_ERR_ARG, "thread count %d is out of range", n_threads);
	p = calloc(1, sizeof(ds_pool));
	if (p == NULL || (p->threads = calloc((size_t) n_threads, sizeof(pthread_t))) == NULL)
	{
		free(p);
		return ds_error(err, DS_ERR_NOMEM, "out of memory");
	}
	p->n = n_threads;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	atomic_init(&p->gen, 0);
	atomic_init(&p->state, 0);
	atomic_init(&p->sleeping, 0);
	atomic_init(&p->stop, false);
	for (int i = 1; i < n_threads && rc == DS_OK; i++)
		rc = start_worker(p, i, err);
	if (rc != DS_OK)
	{
		ds_pool_free(p);
		return rc;
	}
	*out = p;
	return DS_OK;
}

/* Stop and join the workers. */
void
ds_pool_free(ds_pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->stop, true);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->n_started; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->threads);
	free(p);
}

/* Threads in the pool, the caller included. */
int
ds_pool_size(const ds_pool *p)
{
	return p->n;
}

/* Publish a job, run a share here, close it and wait for those who joined. */
void
ds_pool_run(ds_pool *p, ds_task_fn fn, void *arg)
{
	unsigned	g;
	long		spins = 0;

	if (p->n == 1)
	{
		fn(arg, 0, 1);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	g = atomic_load(&p->gen) + 1;
	atomic_store(&p->state, (uint64_t) g << 32);
	atomic_store(&p->gen, g);
	if (atomic_load(&p->sleeping) > 0)
	{
		pthread_mutex_lock(&p->mu);
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	fn(arg, 0, p->n);
	atomic_fetch_or(&p->state, JOB_CLOSED);
	while ((atomic_load(&p->state) & JOB_COUNT) != 0)
	{
		if (++spins > SPIN_BEFORE_YIELD)
			sched_yield();
		else
			cpu_relax();
	}
}

/* Online CPUs, at least one. */
int
ds_cpu_count(void)
{
	long		n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : (int) n;
}
