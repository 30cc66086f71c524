-- A worker that exits ends waiting calls with an error; new calls wait for
-- the restarted worker, up to deepseek.request_timeout.
\ir lib/helpers.psql
SELECT plan(11);

SELECT ok(pg_temp.wait_until($$(SELECT state = 'ready' FROM deepseek_stat_worker)$$),
		  'the worker is ready');
CREATE TEMP TABLE expected AS
	SELECT deepseek_generate('The capital of France is', max_tokens => 8) AS answer;

-- terminate the worker while another session waits on it
SELECT dblink_connect('waiter', pg_temp.connstr()) \g /dev/null
SELECT dblink_send_query('waiter', pg_temp.long_call()) \g /dev/null
SELECT ok(pg_temp.wait_until('(SELECT running = 1 FROM deepseek_stat_worker)', '30 s'),
		  'the other session''s generation is running');
CREATE TEMP TABLE old_worker AS SELECT pid, clock_timestamp() AS t0 FROM deepseek_stat_worker;
SELECT ok(pg_terminate_backend(pid), 'pg_terminate_backend signals the worker') FROM old_worker;
SELECT throws_ok($$SELECT * FROM dblink_get_result('waiter') AS t(r text)$$, '57000',
				 'deepseek worker exited during the request',
				 'the waiting call ends with an error');
SELECT cmp_ok(extract(epoch FROM clock_timestamp() - t0)::float8, '<', 2.0::float8,
			  'the waiting call ends within two seconds') FROM old_worker;
SELECT dblink_disconnect('waiter') \g /dev/null

-- a call made while no worker runs waits for the restarted one
SELECT is(deepseek_generate('The capital of France is', max_tokens => 8), answer,
		  'a new call is served by the restarted worker') FROM expected;
SELECT isnt(s.pid, o.pid, 'the worker was restarted')
FROM deepseek_stat_worker s, old_worker o;
SELECT is(state, 'ready', 'the restarted worker is ready') FROM deepseek_stat_worker;

-- no worker within deepseek.request_timeout: a clear error
SET deepseek.request_timeout = '500ms';
SELECT pg_terminate_backend(pid) FROM deepseek_stat_worker \g /dev/null
SELECT ok(pg_temp.wait_until('(SELECT pid IS NULL FROM deepseek_stat_worker)', '10 s'),
		  'the worker has exited');
SELECT throws_ok($$SELECT deepseek_generate('Hi', max_tokens => 1)$$, '55000',
				 'deepseek worker is not running',
				 'a call gives up after deepseek.request_timeout without a worker');
RESET deepseek.request_timeout;
SELECT ok(pg_temp.wait_until($$(SELECT state = 'ready' FROM deepseek_stat_worker)$$),
		  'the worker is back');

SELECT * FROM finish();
