-- The deepseek_stat_worker view.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS deepseek;
RESET client_min_messages;

SELECT attname, format_type(atttypid, atttypmod)
FROM pg_attribute
WHERE attrelid = 'deepseek_stat_worker'::regclass AND attnum > 0
ORDER BY attnum;

-- a call makes sure the worker is up
SELECT length(deepseek_generate('Hi', max_tokens => 1)) > 0 AS generated;

SELECT pid > 0 AS has_pid, state, error, model, arch, file_type,
	   device LIKE 'cpu%' AS on_cpu, n_ctx, slots, running, queued,
	   max_batch >= 1 AS batched, tokens_generated > 0 AS counted,
	   requests > 0 AS served, started_at <= now() AS started
FROM deepseek_stat_worker;
