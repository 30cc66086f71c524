-- Concurrent sessions each get their own answer, decoded in one batch.
\ir lib/helpers.psql
SELECT plan(9);

-- The answers of four prompts, each run alone (greedy).
CREATE TEMP TABLE prompts (i int, prompt text, alone text, together text);
INSERT INTO prompts (i, prompt) VALUES
	(1, 'The capital of France is'),
	(2, '1, 2, 3, 4, 5,'),
	(3, E'<|im_start|>user\nHow many days are in a week? Answer in a few words.<|im_end|>\n<|im_start|>assistant\n'),
	(4, 'PostgreSQL is a');

-- a fresh worker, so max_batch counts only this test
SELECT ok(pg_temp.restart_worker(), 'the worker restarts and is ready');
SELECT is(max_batch, 0, 'a fresh worker has decoded no batch yet') FROM deepseek_stat_worker;

UPDATE prompts SET alone = deepseek_generate(prompt, max_tokens => 24);

-- the same prompts at once, from four sessions
SELECT dblink_connect('c' || i, pg_temp.connstr()) FROM prompts \g /dev/null
SELECT dblink_send_query('c' || i,
		format('SELECT deepseek_generate(%L, max_tokens => 24)', prompt))
FROM prompts \g /dev/null
SELECT ok(pg_temp.wait_until(
		$$(SELECT bool_and(dblink_is_busy('c' || i) = 0) FROM prompts)$$, '120 s'),
		'all four concurrent calls finish');
UPDATE prompts SET together = (SELECT r FROM dblink_get_result('c' || i) AS t(r text));

SELECT is(together, alone, format('session %s gets the answer its prompt gets alone', i))
FROM prompts ORDER BY i;

SELECT cmp_ok(max_batch, '>', 1, 'the concurrent sequences were decoded together')
FROM deepseek_stat_worker;
SELECT ok(pg_temp.wait_until('(SELECT running = 0 AND queued = 0 FROM deepseek_stat_worker)'),
		  'no request is left running or queued');

SELECT dblink_disconnect('c' || i) FROM prompts \g /dev/null
SELECT * FROM finish();
