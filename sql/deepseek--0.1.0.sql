/* deepseek--0.1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION deepseek" to load this file. \quit

-- Roles: deepseek_user may run the model, deepseek_admin is also a user.
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'deepseek_user') THEN
		CREATE ROLE deepseek_user NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'deepseek_admin') THEN
		CREATE ROLE deepseek_admin NOLOGIN;
	END IF;
	IF NOT pg_catalog.pg_has_role('deepseek_admin', 'deepseek_user', 'MEMBER') THEN
		GRANT deepseek_user TO deepseek_admin;
	END IF;
END
$$;

CREATE FUNCTION @extschema@.deepseek_generate(
	prompt text,
	max_tokens int DEFAULT 256,
	temperature float8 DEFAULT 0,
	top_p float8 DEFAULT 1,
	top_k int DEFAULT 0,
	seed bigint DEFAULT NULL,
	stop text[] DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'deepseek_generate'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.deepseek_generate(text, int, float8, float8, int, bigint, text[]) IS
'text the model generates after prompt; greedy when temperature is 0; NULL prompt gives NULL';

CREATE FUNCTION @extschema@.deepseek_tokenize(text)
RETURNS int[]
AS 'MODULE_PATHNAME', 'deepseek_tokenize'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.deepseek_tokenize(text) IS
'token ids of the text as deepseek_generate reads a prompt, without BOS';

CREATE FUNCTION @extschema@.deepseek_detokenize(int[])
RETURNS text
AS 'MODULE_PATHNAME', 'deepseek_detokenize'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.deepseek_detokenize(int[]) IS
'text of the token ids, special tokens included';

CREATE FUNCTION @extschema@.deepseek_stat_worker(
	OUT pid int,
	OUT state text,
	OUT error text,
	OUT model text,
	OUT arch text,
	OUT file_type text,
	OUT device text,
	OUT n_ctx int,
	OUT slots int,
	OUT running int,
	OUT queued int,
	OUT max_batch int,
	OUT tokens_generated bigint,
	OUT requests bigint,
	OUT started_at timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'deepseek_stat_worker'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW @extschema@.deepseek_stat_worker AS
	SELECT * FROM @extschema@.deepseek_stat_worker();

COMMENT ON VIEW @extschema@.deepseek_stat_worker IS
'the inference worker: state, model, device, requests and counters';

REVOKE ALL ON FUNCTION @extschema@.deepseek_generate(text, int, float8, float8, int, bigint, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.deepseek_tokenize(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.deepseek_detokenize(int[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.deepseek_stat_worker() FROM PUBLIC;
REVOKE ALL ON @extschema@.deepseek_stat_worker FROM PUBLIC;

GRANT EXECUTE ON FUNCTION @extschema@.deepseek_generate(text, int, float8, float8, int, bigint, text[]) TO deepseek_user;
GRANT EXECUTE ON FUNCTION @extschema@.deepseek_tokenize(text) TO deepseek_user;
GRANT EXECUTE ON FUNCTION @extschema@.deepseek_detokenize(int[]) TO deepseek_user;
GRANT EXECUTE ON FUNCTION @extschema@.deepseek_stat_worker() TO deepseek_user;
GRANT SELECT ON @extschema@.deepseek_stat_worker TO deepseek_user;
