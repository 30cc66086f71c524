/*
 * status.h -- status codes and error buffers shared by the whole engine.
 *
 * Engine functions never exit, abort or print.  They return a ds_status and,
 * on failure, write a one-line lower-case message (no trailing period) into a
 * caller-supplied buffer of DS_ERRLEN bytes.  The PostgreSQL side maps the
 * status to an errcode; the command-line driver prints the message.
 */
#ifndef DS_STATUS_H
#define DS_STATUS_H

#include <stdarg.h>

#define DS_ERRLEN 256

typedef enum ds_status
{
	DS_OK = 0,
	DS_ERR_IO = 1,				/* file cannot be opened, read or mapped */
	DS_ERR_FORMAT = 2,			/* malformed, truncated or inconsistent input file */
	DS_ERR_UNSUPPORTED = 3,		/* valid but not supported (arch, type, tokenizer) */
	DS_ERR_NOMEM = 4,			/* allocation failed */
	DS_ERR_ARG = 5,				/* invalid argument from the caller */
	DS_ERR_CONTEXT = 6,			/* does not fit in the context window */
	DS_ERR_BUSY = 7,			/* no free sequence slot or KV space right now */
	DS_ERR_BACKEND = 8,			/* compute backend failure (e.g. a CUDA error) */
	DS_ERR_INTERNAL = 9			/* a bug: an invariant did not hold */
} ds_status;

/* Write a formatted message into err (may be NULL) and return code. */
int			ds_error(char *err, int code, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* Static name of a status ("format error", ...). */
const char *ds_status_name(int code);

#endif							/* DS_STATUS_H */
