#!/usr/bin/env bash
# demo.sh -- make demo: install what is missing, build, start a throwaway
# cluster with deepseek preloaded and the default model, and take a short
# tour.  The cluster is left running; "make demo-stop" (demo.sh stop)
# stops it and removes its files.
set -euo pipefail

DS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/common.sh
. "$DS_ROOT/scripts/common.sh"
# shellcheck source=scripts/cluster.sh
. "$DS_ROOT/scripts/cluster.sh"
cd "$DS_ROOT"

DIR=${DEEPSEEK_DEMO_DIR:-/tmp/deepseek-demo}
PORT=${DEEPSEEK_DEMO_PORT:-55432}

if [ "${1:-}" = "stop" ]; then
	ds_cluster_destroy "$DIR"
	echo "demo cluster in $DIR stopped and removed"
	exit 0
fi

ds_log "packages"
ds_install_packages
ds_log "model"
bash scripts/fetch-model.sh
ds_log "build and install"
ds_build
ds_log "cluster in $DIR (port $PORT, Unix socket only)"
ds_cluster_destroy "$DIR"
ds_cluster_start "$DIR" "$PORT"

psql_demo() {
	"$DS_PGBIN/psql" -X -h "$DIR" -p "$PORT" -U postgres -d postgres \
		-v ON_ERROR_STOP=1 --echo-queries "$@"
}
psql_demo -q -c "CREATE EXTENSION deepseek"
state=$(ds_wait_worker "$DIR" "$PORT")
if [ "$state" != ready ]; then
	psql_demo -c "SELECT state, error FROM deepseek_stat_worker"
	exit 1
fi

ds_log "tour"
psql_demo <<'SQL'
\pset pager off
-- a plain completion (greedy: the same text every time)
SELECT deepseek_generate('The capital of France is', max_tokens => 16);

-- an instruct prompt in the model's chat format
SELECT deepseek_generate(
	E'<|im_start|>user\nWhat is PostgreSQL? Answer in one sentence.<|im_end|>\n<|im_start|>assistant\n',
	max_tokens => 48);

-- sampling with a seed, stopped at the first newline
SELECT deepseek_generate('Three fruits: apple,', max_tokens => 24,
						 temperature => 0.7, top_p => 0.9, seed => 7,
						 stop => ARRAY[E'\n']);

-- tokens
SELECT deepseek_tokenize('Hello, PostgreSQL!');
SELECT deepseek_detokenize(deepseek_tokenize('Hello, PostgreSQL!'));

-- fill a column of a table from another column
CREATE TABLE questions (id int PRIMARY KEY, question text, answer text);
INSERT INTO questions (id, question) VALUES
	(1, 'What is the capital of France?'),
	(2, 'What color is the sky on a clear day?'),
	(3, 'How many days are in a week?');
UPDATE questions
   SET answer = deepseek_generate(
		 format(E'<|im_start|>user\n%s Answer in a few words.<|im_end|>\n<|im_start|>assistant\n',
				question),
		 max_tokens => 24);
SELECT id, question, answer FROM questions ORDER BY id;

-- the worker
SELECT state, model, arch, file_type, device, n_ctx, running, queued,
	   max_batch, tokens_generated
FROM deepseek_stat_worker;
SQL

cat <<EOF2

The demo cluster is running (data in $DIR/data, log in $DIR/server.log).
Connect:  psql -h $DIR -p $PORT -U postgres
Stop:     make demo-stop      (or: bash scripts/demo.sh stop)
EOF2
