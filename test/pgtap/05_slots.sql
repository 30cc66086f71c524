-- Every slot busy: a new call waits up to deepseek.request_timeout for one,
-- then fails clearly.  A session that dies mid-call gives its slot back.
\ir lib/helpers.psql
SELECT plan(7);

SELECT ok(pg_temp.wait_until($$(SELECT state = 'ready' FROM deepseek_stat_worker)$$),
		  'the worker is ready');
CREATE TEMP TABLE busy AS
	SELECT i, NULL::int AS pid
	FROM generate_series(1, (SELECT slots FROM deepseek_stat_worker)) AS i;
SELECT dblink_connect('busy' || i, pg_temp.connstr()) FROM busy \g /dev/null
UPDATE busy SET pid = (SELECT p FROM dblink('busy' || i, 'SELECT pg_backend_pid()') AS t(p int));
SELECT dblink_send_query('busy' || i, pg_temp.long_call()) FROM busy \g /dev/null
SELECT ok(pg_temp.wait_until('(SELECT running + queued = slots FROM deepseek_stat_worker)', '30 s'),
		  'every slot is taken');

SET deepseek.request_timeout = '300ms';
SELECT throws_ok($$SELECT deepseek_tokenize('Hi')$$, '53400', NULL,
				 'a call finds no free slot within deepseek.request_timeout');
RESET deepseek.request_timeout;

-- a session terminated mid-call gives its slot back
SELECT ok(pg_terminate_backend(pid), 'one busy session is terminated') FROM busy WHERE i = 1;
SELECT ok(pg_temp.wait_until('(SELECT running + queued < slots FROM deepseek_stat_worker)', '10 s'),
		  'its slot is free again');
SELECT is(deepseek_tokenize('Hi'), '{26843}'::int[], 'a new call gets that slot');

SELECT pg_cancel_backend(pid) FROM busy WHERE i > 1 \g /dev/null
SELECT ok(pg_temp.wait_until('(SELECT running = 0 AND queued = 0 FROM deepseek_stat_worker)', '30 s'),
		  'cancelling the others frees every slot');

SELECT dblink_disconnect('busy' || i) FROM busy WHERE i > 1 \g /dev/null
SELECT * FROM finish();
