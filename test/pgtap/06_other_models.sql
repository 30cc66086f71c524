-- Any llama or qwen2 GGUF works through deepseek.model: the tiny reference
-- models of ../shared/fixtures/reference (random weights, GPT-2 vocabulary)
-- are loaded in turn, and their tokens and greedy output through SQL must
-- equal llama.cpp's (tokens.txt, greedy.txt).  test.sh copies them into
-- models/reference/; without ../shared every assertion is skipped, loudly.
\ir lib/helpers.psql
SELECT plan(13);

\set have_ref `test -f models/reference/tiny-llama-F16.gguf && echo 1 || echo 0`
\if :have_ref

\set prompt `cat models/reference/p1.txt`
\set llama_tokens `cat models/reference/tiny-llama-F16.p1.tokens.txt`
\set llama_greedy `head -n 1 models/reference/tiny-llama-F16.p1.greedy.txt`
\set qwen_tokens `cat models/reference/tiny-qwen2-Q8_0.p1.tokens.txt`
\set qwen_greedy `head -n 1 models/reference/tiny-qwen2-Q8_0.p1.greedy.txt`

-- Wait until a worker other than old has reached state want.
CREATE FUNCTION pg_temp.new_worker(old int, want text) RETURNS boolean
LANGUAGE sql AS $$
	SELECT pg_temp.wait_until(format(
		$c$(SELECT pid IS NOT NULL AND pid <> %s AND state = %L FROM deepseek_stat_worker)$c$,
		old, want))
$$;

-- The first n ids of a space-separated list.
CREATE FUNCTION pg_temp.ids(list text, n int) RETURNS int[] LANGUAGE sql AS $$
	SELECT (string_to_array(list, ' ')::int[])[1:n]
$$;

SELECT ok(pg_temp.wait_until($$(SELECT state = 'ready' FROM deepseek_stat_worker)$$),
		  'the worker is ready');

-- llama: adjacent-pair RoPE with rope_freqs, tied output, F16 weights
SELECT pid AS old FROM deepseek_stat_worker \gset
ALTER SYSTEM SET deepseek.model = 'reference/tiny-llama-F16.gguf';
SELECT pg_reload_conf() AS reloaded \gset
SELECT ok(pg_temp.new_worker(:old, 'ready'), 'the tiny llama model loads');
SELECT is(arch || ' ' || file_type, 'llama F16', 'the view shows its architecture and type')
FROM deepseek_stat_worker;
SELECT is(deepseek_tokenize(:'prompt'), pg_temp.ids(:'llama_tokens', 100),
		  'its prompt tokens are llama.cpp''s');
-- every greedy step of this file has a top-1 margin of at least 0.19
SELECT is(deepseek_generate(:'prompt', max_tokens => 32),
		  deepseek_detokenize(pg_temp.ids(:'llama_greedy', 32)),
		  'its 32 greedy tokens are llama.cpp''s');
SELECT is(tokens_generated >= 32, true, 'the view counts them') FROM deepseek_stat_worker;

-- qwen2: NEOX RoPE, QKV bias, untied output, Q8_0 weights
SELECT pid AS old FROM deepseek_stat_worker \gset
ALTER SYSTEM SET deepseek.model = 'reference/tiny-qwen2-Q8_0.gguf';
SELECT pg_reload_conf() AS reloaded \gset
SELECT ok(pg_temp.new_worker(:old, 'ready'), 'the tiny qwen2 model loads');
SELECT is(arch || ' ' || file_type, 'qwen2 Q8_0', 'the view shows its architecture and type')
FROM deepseek_stat_worker;
SELECT is(deepseek_tokenize(:'prompt'), pg_temp.ids(:'qwen_tokens', 100),
		  'its prompt tokens are llama.cpp''s');
-- step 9 of this file has a top-1 margin under 0.1: compare the first 9
SELECT is(deepseek_generate(:'prompt', max_tokens => 9),
		  deepseek_detokenize(pg_temp.ids(:'qwen_greedy', 9)),
		  'its first 9 greedy tokens are llama.cpp''s');
SELECT is(deepseek_generate(:'prompt', max_tokens => 9, temperature => 0.8, seed => 42),
		  deepseek_generate(:'prompt', max_tokens => 9, temperature => 0.8, seed => 42),
		  'the same seed gives the same sample');

-- back to the configured model
SELECT pid AS old FROM deepseek_stat_worker \gset
ALTER SYSTEM RESET deepseek.model;
SELECT pg_reload_conf() AS reloaded \gset
SELECT ok(pg_temp.new_worker(:old, 'ready'), 'the worker loads the configured model again');
SELECT is(arch, 'llama', 'the default model is back') FROM deepseek_stat_worker;

\else
\echo 'SKIP: ../shared/fixtures/reference not found: other-model tests skipped'
SELECT skip('../shared/fixtures/reference not found', 13);
\endif

SELECT * FROM finish();
