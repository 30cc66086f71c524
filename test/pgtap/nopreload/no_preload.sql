-- Without shared_preload_libraries every function raises a clear error.
\ir ../lib/helpers.psql
SELECT plan(6);

SELECT throws_ok($$SELECT deepseek_generate('Hi')$$, '55000',
				 'deepseek must be loaded via shared_preload_libraries',
				 'deepseek_generate needs the preload');
SELECT throws_ok($$SELECT deepseek_generate(NULL)$$, '55000',
				 'deepseek must be loaded via shared_preload_libraries',
				 'deepseek_generate needs the preload even for a NULL prompt');
SELECT throws_ok($$SELECT deepseek_tokenize('Hi')$$, '55000',
				 'deepseek must be loaded via shared_preload_libraries',
				 'deepseek_tokenize needs the preload');
SELECT throws_ok($$SELECT deepseek_detokenize(ARRAY[1])$$, '55000',
				 'deepseek must be loaded via shared_preload_libraries',
				 'deepseek_detokenize needs the preload');
SELECT throws_ok($$SELECT * FROM deepseek_stat_worker$$, '55000',
				 'deepseek must be loaded via shared_preload_libraries',
				 'deepseek_stat_worker needs the preload');
SELECT is(pg_temp.error_hint($$SELECT deepseek_tokenize('Hi')$$),
		  'Add deepseek to shared_preload_libraries in postgresql.conf and restart the server.',
		  'the hint says what to do');

SELECT * FROM finish();
