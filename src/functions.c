/*-------------------------------------------------------------------------
 *
 * functions.c
 *		SQL-callable functions: deepseek_generate, deepseek_tokenize and
 *		deepseek_detokenize.  They check their arguments, convert text to and
 *		from UTF-8 (the engine's encoding), and hand the work to the worker
 *		through request.c.  Backends never touch the model.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "deepseek.h"

PG_FUNCTION_INFO_V1(deepseek_generate);
PG_FUNCTION_INFO_V1(deepseek_tokenize);
PG_FUNCTION_INFO_V1(deepseek_detokenize);

/* Defaults used for NULL arguments; the SQL declaration repeats them. */
#define DS_DEFAULT_MAX_TOKENS	256
#define DS_DEFAULT_TEMPERATURE	0.0
#define DS_DEFAULT_TOP_P		1.0
#define DS_DEFAULT_TOP_K		0

/* A text argument as NUL-terminated UTF-8. */
static char *
DsTextToUtf8(text *t)
{
	char	   *s = text_to_cstring(t);

	return pg_server_to_any(s, strlen(s), PG_UTF8);
}

/*
 * The bytes as valid UTF-8: a byte that does not start a complete, legal
 * character (such as the first byte of a token id that ends mid-character)
 * and a NUL byte, which text cannot hold, become U+FFFD.
 */
static void
DsMakeValidUtf8(StringInfo buf)
{
	StringInfoData out;
	const unsigned char *p = (const unsigned char *) buf->data;
	int			i = 0;

	if (pg_encoding_verifymbstr(PG_UTF8, buf->data, buf->len) == buf->len)
		return;
	initStringInfo(&out);
	while (i < buf->len)
	{
		int			n = pg_utf_mblen(p + i);

		if (p[i] != 0 && i + n <= buf->len && pg_utf8_islegal(p + i, n))
		{
			appendBinaryStringInfo(&out, (const char *) p + i, n);
			i += n;
		}
		else
		{
			appendStringInfoString(&out, "\xEF\xBF\xBD");
			i++;
		}
	}
	pfree(buf->data);
	*buf = out;
}

/* UTF-8 bytes from the worker as text in the database encoding. */
static text *
DsUtf8ToText(StringInfo buf)
{
	const char *s;
	int			len;
	char	   *conv;

	DsMakeValidUtf8(buf);
	s = buf->data;
	len = buf->len;
	conv = pg_any_to_server(s, len, PG_UTF8);

	if (conv == s)
		return cstring_to_text_with_len(s, len);
	return cstring_to_text(conv);
}

/* Raise an invalid-argument error. */
static void
DsBadArgument(const char *msg, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s", msg),
			 detail ? errdetail("%s", detail) : 0));
}

/* Sampling arguments 2-6 of deepseek_generate, checked; NULL takes the default. */
static void
DsGenArgs(FunctionCallInfo fcinfo, DsGenParams *p)
{
	p->max_tokens = PG_ARGISNULL(1) ? DS_DEFAULT_MAX_TOKENS : PG_GETARG_INT32(1);
	p->temperature = PG_ARGISNULL(2) ? DS_DEFAULT_TEMPERATURE : PG_GETARG_FLOAT8(2);
	p->top_p = PG_ARGISNULL(3) ? DS_DEFAULT_TOP_P : PG_GETARG_FLOAT8(3);
	p->top_k = PG_ARGISNULL(4) ? DS_DEFAULT_TOP_K : PG_GETARG_INT32(4);
	if (PG_ARGISNULL(5))
		p->seed = pg_prng_uint64(&pg_global_prng_state);
	else
		p->seed = (uint64) PG_GETARG_INT64(5);

	if (p->max_tokens < 1)
		DsBadArgument("max_tokens must be at least 1", NULL);
	if (isnan(p->temperature) || isinf(p->temperature))
		DsBadArgument("temperature must be a finite number", NULL);
	if (p->temperature < 0)
		DsBadArgument("temperature must be greater than or equal to 0",
					  "A temperature of 0 picks the most likely token (greedy decoding).");
	if (!(p->top_p > 0 && p->top_p <= 1))
		DsBadArgument("top_p must be greater than 0 and at most 1",
					  "A top_p of 1 turns nucleus sampling off.");
	if (p->top_k < 0)
		DsBadArgument("top_k must be greater than or equal to 0",
					  "A top_k of 0 turns top-k sampling off.");
}

/* The stop array as NUL-terminated UTF-8 strings, one after another. */
static int
DsStopArgs(ArrayType *arr, StringInfo out)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		char	   *s;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("stop strings must not be null")));
		s = DsTextToUtf8(DatumGetTextPP(elems[i]));
		if (s[0] == '\0')
			DsBadArgument("stop strings must not be empty", NULL);
		appendBinaryStringInfo(out, s, strlen(s) + 1);
	}
	return n;
}

/*
 * deepseek_generate(prompt, max_tokens, temperature, top_p, top_k, seed, stop)
 * The text the model generates after prompt.  A NULL prompt gives NULL.
 */
Datum
deepseek_generate(PG_FUNCTION_ARGS)
{
	DsGenParams params;
	StringInfoData stops;
	StringInfoData out;
	DsRequest  *req;
	char	   *prompt;
	int			n_stop = 0;

	DsCheckLoaded();
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	DsGenArgs(fcinfo, &params);
	initStringInfo(&stops);
	if (!PG_ARGISNULL(6))
		n_stop = DsStopArgs(PG_GETARG_ARRAYTYPE_P(6), &stops);
	prompt = DsTextToUtf8(PG_GETARG_TEXT_PP(0));

	req = DsRequestCreate(DS_REQ_GENERATE, prompt, strlen(prompt),
						  stops.data, stops.len, n_stop);
	initStringInfo(&out);
	DsRequestRun(req, &params, &out);
	PG_RETURN_TEXT_P(DsUtf8ToText(&out));
}

/*
 * deepseek_tokenize(text) -> int[]
 * The token ids of the text as deepseek_generate reads a prompt (special
 * token text such as <|im_start|> is one token), without BOS.
 */
Datum
deepseek_tokenize(PG_FUNCTION_ARGS)
{
	StringInfoData out;
	DsRequest  *req;
	char	   *input;
	int			n;
	Datum	   *elems;

	DsCheckLoaded();
	input = DsTextToUtf8(PG_GETARG_TEXT_PP(0));
	req = DsRequestCreate(DS_REQ_TOKENIZE, input, strlen(input), NULL, 0, 0);
	initStringInfo(&out);
	DsRequestRun(req, NULL, &out);

	if (out.len % sizeof(int32) != 0)
		elog(ERROR, "deepseek worker sent %d bytes of token ids", out.len);
	n = out.len / sizeof(int32);
	elems = palloc(sizeof(Datum) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		int32		id;

		memcpy(&id, out.data + i * sizeof(int32), sizeof(int32));
		elems[i] = Int32GetDatum(id);
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, INT4OID, sizeof(int32),
										  true, TYPALIGN_INT));
}

/* The ids of an int[] argument; NULL elements are an error. */
static int32 *
DsIdArgs(ArrayType *arr, int *n_ids)
{
	Datum	   *elems;
	bool	   *nulls;
	int32	   *ids;
	int			n;

	deconstruct_array(arr, INT4OID, sizeof(int32), true, TYPALIGN_INT,
					  &elems, &nulls, &n);
	ids = palloc(sizeof(int32) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("token ids must not be null")));
		ids[i] = DatumGetInt32(elems[i]);
		if (ids[i] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("token id %d is negative", ids[i])));
	}
	*n_ids = n;
	return ids;
}

/*
 * deepseek_detokenize(int[]) -> text
 * The text of the token ids; special tokens give their text.
 */
Datum
deepseek_detokenize(PG_FUNCTION_ARGS)
{
	StringInfoData out;
	DsRequest  *req;
	int32	   *ids;
	int			n;

	DsCheckLoaded();
	ids = DsIdArgs(PG_GETARG_ARRAYTYPE_P(0), &n);
	req = DsRequestCreate(DS_REQ_DETOKENIZE, (const char *) ids,
						  sizeof(int32) * n, NULL, 0, 0);
	initStringInfo(&out);
	DsRequestRun(req, NULL, &out);
	PG_RETURN_TEXT_P(DsUtf8ToText(&out));
}
