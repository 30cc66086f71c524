/*
 * status.c -- error buffers and status names.
 */
#include <stdio.h>

#include "status.h"

/* Format a message into err (when given) and hand back the status code. */
int
ds_error(char *err, int code, const char *fmt,...)
{
	va_list		ap;

	if (err != NULL)
	{
		va_start(ap, fmt);
		vsnprintf(err, DS_ERRLEN, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* A short name for each status, for messages and logs. */
const char *
ds_status_name(int code)
{
	switch (code)
	{
		case DS_OK:
			return "ok";
		case DS_ERR_IO:
			return "i/o error";
		case DS_ERR_FORMAT:
			return "format error";
		case DS_ERR_UNSUPPORTED:
			return "unsupported";
		case DS_ERR_NOMEM:
			return "out of memory";
		case DS_ERR_ARG:
			return "invalid argument";
		case DS_ERR_CONTEXT:
			return "context exceeded";
		case DS_ERR_BUSY:
			return "busy";
		case DS_ERR_BACKEND:
			return "backend error";
		case DS_ERR_INTERNAL:
			return "internal error";
	}
	return "unknown error";
}
