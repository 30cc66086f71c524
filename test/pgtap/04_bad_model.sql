-- A missing, truncated or corrupt model file, or one outside
-- deepseek.model_dir: the worker stays up, and every call says
-- "model not loaded" with the reason.  test.sh puts the broken files in
-- models/broken/.  ALTER SYSTEM runs outside a transaction and a function,
-- so each switch is three statements: ALTER SYSTEM, reload, wait.
\ir lib/helpers.psql
SELECT plan(19);

-- Wait until a worker other than old has reached state want.
CREATE FUNCTION pg_temp.new_worker(old int, want text) RETURNS boolean
LANGUAGE sql AS $$
	SELECT pg_temp.wait_until(format(
		$c$(SELECT pid IS NOT NULL AND pid <> %s AND state = %L FROM deepseek_stat_worker)$c$,
		old, want))
$$;

SELECT ok(pg_temp.wait_until($$(SELECT state = 'ready' FROM deepseek_stat_worker)$$),
		  'the worker is ready');

-- missing file
SELECT pid AS old FROM deepseek_stat_worker \gset
ALTER SYSTEM SET deepseek.model = 'missing.gguf';
SELECT pg_reload_conf() AS reloaded \gset
SELECT ok(pg_temp.new_worker(:old, 'failed'), 'a missing model file fails to load');
SELECT throws_ok($$SELECT deepseek_generate('Hi')$$, '55000', 'model not loaded',
				 'generate says model not loaded');
SELECT matches(pg_temp.error_detail($$SELECT deepseek_generate('Hi')$$),
			   'missing\.gguf.*No such file', 'the detail names the file and the reason');
SELECT throws_ok($$SELECT deepseek_tokenize('Hi')$$, '55000', 'model not loaded',
				 'tokenize says model not loaded');
SELECT matches(error, 'missing\.gguf', 'the view shows the reason') FROM deepseek_stat_worker;

-- truncated file
SELECT pid AS old FROM deepseek_stat_worker \gset
ALTER SYSTEM SET deepseek.model = 'broken/truncated.gguf';
SELECT pg_reload_conf() AS reloaded \gset
SELECT ok(pg_temp.new_worker(:old, 'failed'), 'a truncated model file fails to load');
SELECT throws_ok($$SELECT deepseek_generate('Hi')$$, '55000', 'model not loaded',
				 'generate says model not loaded');
SELECT matches(pg_temp.error_detail($$SELECT deepseek_generate('Hi')$$),
			   '^Could not load model ".*truncated\.gguf": .+', 'the detail gives the loader''s reason');

-- corrupt file
SELECT pid AS old FROM deepseek_stat_worker \gset
ALTER SYSTEM SET deepseek.model = 'broken/corrupt.gguf';
SELECT pg_reload_conf() AS reloaded \gset
SELECT ok(pg_temp.new_worker(:old, 'failed'), 'a corrupt model file fails to load');
SELECT throws_ok($$SELECT deepseek_detokenize(ARRAY[1])$$, '55000', 'model not loaded',
				 'detokenize says model not loaded');
SELECT matches(pg_temp.error_detail($$SELECT deepseek_generate('Hi')$$),
			   '^Could not load model ".*corrupt\.gguf": .+', 'the detail gives the loader''s reason');
SELECT cmp_ok(pid, '>', 0, 'the worker stays up after a failed load') FROM deepseek_stat_worker;

-- outside deepseek.model_dir
SELECT pid AS old FROM deepseek_stat_worker \gset
ALTER SYSTEM SET deepseek.model = 'broken/escape.gguf';
SELECT pg_reload_conf() AS reloaded \gset
SELECT ok(pg_temp.new_worker(:old, 'failed'),
		  'a symbolic link out of deepseek.model_dir is refused');
SELECT matches(pg_temp.error_detail($$SELECT deepseek_generate('Hi')$$),
			   'is not inside deepseek\.model_dir', 'the detail says why');
\set ON_ERROR_STOP 0
ALTER SYSTEM SET deepseek.model = '../models/x.gguf';
\set ON_ERROR_STOP 1
SELECT is(:'LAST_ERROR_SQLSTATE'::text, '22023',
		  'a path with ".." is refused by the setting itself');

-- back to the configured model
SELECT pid AS old FROM deepseek_stat_worker \gset
ALTER SYSTEM RESET deepseek.model;
SELECT pg_reload_conf() AS reloaded \gset
SELECT ok(pg_temp.new_worker(:old, 'ready'), 'the worker loads the configured model again');
SELECT is(error, NULL, 'the view shows no error') FROM deepseek_stat_worker;
SELECT isnt(deepseek_generate('Hi', max_tokens => 1), NULL, 'calls work again');

SELECT * FROM finish();
