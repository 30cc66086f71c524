/*
 * threadpool.h -- a small fixed pool of compute threads.
 *
 * ds_pool_run(fn, arg) runs fn(arg, i, n) on the calling thread (i = 0) and
 * on every worker i that is free to join in time (n is the pool size), and
 * returns when all who joined are done.  A job must therefore hand out its
 * work dynamically (threads claim chunks from a shared counter) and never
 * assume that every i runs.  Workers spin briefly between jobs (a decode
 * step is many short jobs) and then sleep on a condition variable.  They are created with every signal
 * blocked and run nothing but the functions handed to them, so the engine
 * can live inside a PostgreSQL background worker.
 */
#ifndef DS_THREADPOOL_H
#define DS_THREADPOOL_H

typedef struct ds_pool ds_pool;

typedef void (*ds_task_fn) (void *arg, int ith, int nth);

/* A pool of n_threads (>= 1, the caller included). */
int			ds_pool_create(int n_threads, ds_pool **out, char *err);
void		ds_pool_free(ds_pool *p);
int			ds_pool_size(const ds_pool *p);

/* Run fn on the caller and on the workers that join; wait for them. */
void		ds_pool_run(ds_pool *p, ds_task_fn fn, void *arg);

/* Number of online CPUs (at least 1). */
int			ds_cpu_count(void);

#endif							/* DS_THREADPOOL_H */
