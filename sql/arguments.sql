-- Arguments are checked before a request is queued, each with its errcode.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS deepseek;
RESET client_min_messages;

-- SQLSTATE and message of a statement, or 'ok'
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- NULL prompt gives NULL, whatever the other arguments
SELECT deepseek_generate(NULL) IS NULL AS null_prompt;
SELECT deepseek_generate(NULL, max_tokens => 0) IS NULL AS null_prompt_bad_args;
SELECT deepseek_tokenize(NULL) IS NULL AS null_tokenize;
SELECT deepseek_detokenize(NULL) IS NULL AS null_detokenize;

-- max_tokens
SELECT pg_temp.err($$SELECT deepseek_generate('Hi', max_tokens => 0)$$);
SELECT pg_temp.err($$SELECT deepseek_generate('Hi', max_tokens => -5)$$);

-- temperature
SELECT pg_temp.err($$SELECT deepseek_generate('Hi', temperature => -0.1)$$);
SELECT pg_temp.err($$SELECT deepseek_generate('Hi', temperature => 'NaN')$$);
SELECT pg_temp.err($$SELECT deepseek_generate('Hi', temperature => 'Infinity')$$);

-- top_p
SELECT pg_temp.err($$SELECT deepseek_generate('Hi', top_p => 0)$$);
SELECT pg_temp.err($$SELECT deepseek_generate('Hi', top_p => 1.5)$$);
SELECT pg_temp.err($$SELECT deepseek_generate('Hi', top_p => -1)$$);
SELECT pg_temp.err($$SELECT deepseek_generate('Hi', top_p => 'NaN')$$);

-- top_k
SELECT pg_temp.err($$SELECT deepseek_generate('Hi', top_k => -1)$$);

-- stop strings
SELECT pg_temp.err($$SELECT deepseek_generate('Hi', stop => ARRAY['x', NULL])$$);
SELECT pg_temp.err($$SELECT deepseek_generate('Hi', stop => ARRAY[''])$$);

-- token ids
SELECT pg_temp.err($$SELECT deepseek_detokenize(ARRAY[1, NULL])$$);
SELECT pg_temp.err($$SELECT deepseek_detokenize(ARRAY[-1])$$);
SELECT pg_temp.err($$SELECT deepseek_detokenize(ARRAY[49152])$$);
SELECT pg_temp.err($$SELECT deepseek_detokenize(ARRAY[2147483647])$$);

-- an empty prompt has no token to start from (this model adds no BOS)
SELECT pg_temp.err($$SELECT deepseek_generate('')$$);

-- a prompt longer than the context (deepseek.context = 2048)
SELECT pg_temp.err($$SELECT deepseek_generate(repeat('hello ', 3000))$$);
SELECT deepseek_generate(repeat('hello ', 3000));

-- NULL sampling arguments take their defaults (greedy, no top-p, no top-k)
SELECT deepseek_generate('The capital of France is', max_tokens => 4,
						 temperature => NULL, top_p => NULL, top_k => NULL,
						 stop => NULL)
	= deepseek_generate('The capital of France is', max_tokens => 4) AS null_defaults;

-- the argument errors leave no slot behind
SELECT running, queued FROM deepseek_stat_worker;
