-- statement_timeout and pg_cancel_backend end a call at once and free its slot.
\ir lib/helpers.psql
SELECT plan(12);

SELECT ok(pg_temp.wait_until($$(SELECT state = 'ready' FROM deepseek_stat_worker)$$),
		  'the worker is ready');

-- statement_timeout
SET statement_timeout = '1s';
SELECT is(pg_temp.error_of(pg_temp.long_call()),
		  '57014: canceling statement due to statement timeout',
		  'statement_timeout cancels a running generation');
RESET statement_timeout;
SET statement_timeout = '1s';
SELECT cmp_ok(pg_temp.seconds_to_finish(pg_temp.long_call()), '<', 3.0::float8,
			  'the timed-out call returns within two seconds of the timeout');
RESET statement_timeout;
SELECT ok(pg_temp.wait_until('(SELECT running = 0 AND queued = 0 FROM deepseek_stat_worker)', '10 s'),
		  'the timed-out requests leave no slot running or queued');
SELECT ok(pg_temp.wait_until('pg_temp.worker_idle()', '5 s'), 'the worker stops generating for them');

-- pg_cancel_backend from another session
SELECT dblink_connect('victim', pg_temp.connstr()) \g /dev/null
CREATE TEMP TABLE victim AS
	SELECT pid FROM dblink('victim', 'SELECT pg_backend_pid()') AS t(pid int);
SELECT dblink_send_query('victim', pg_temp.long_call()) \g /dev/null
SELECT ok(pg_temp.wait_until('(SELECT running = 1 FROM deepseek_stat_worker)', '30 s'),
		  'the other session''s generation is running');
SELECT ok(pg_cancel_backend(pid), 'pg_cancel_backend signals the session') FROM victim;
CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t0;
SELECT is(pg_temp.error_of($$SELECT * FROM dblink_get_result('victim') AS t(r text)$$),
		  '57014: canceling statement due to user request',
		  'the cancelled call ends with the cancel error');
SELECT cmp_ok(extract(epoch FROM clock_timestamp() - t0)::float8, '<', 2.0::float8,
			  'the cancelled call ends within two seconds') FROM t0;
SELECT ok(pg_temp.wait_until('(SELECT running = 0 AND queued = 0 FROM deepseek_stat_worker)', '10 s'),
		  'the cancelled request leaves no slot running or queued');
SELECT ok(pg_temp.wait_until('pg_temp.worker_idle()', '5 s'), 'the worker stops generating for it');
SELECT dblink_disconnect('victim') \g /dev/null

-- the slots work afterwards
SELECT is(deepseek_generate('The capital of France is', max_tokens => 8),
		  deepseek_generate('The capital of France is', max_tokens => 8),
		  'a later call works');

SELECT * FROM finish();
