#!/usr/bin/env bash
# cluster.sh -- a throwaway PostgreSQL 15 cluster with deepseek preloaded.
#
#   scripts/cluster.sh start DIR PORT [-c name=value ...]   create (if new) and start
#   scripts/cluster.sh stop DIR                             stop, keep the files
#   scripts/cluster.sh destroy DIR                          stop and remove
#
# Sourced (by test.sh and demo.sh) it defines the same as functions.  The
# cluster runs as the postgres OS user (initdb and postgres refuse root),
# listens only on a Unix socket in DIR (no TCP port to clash with), and has
# shared_preload_libraries = 'deepseek', deepseek.model and
# deepseek.model_dir set.  If the postgres user cannot read the models
# directory where it is (for example under /root), the models are copied
# into DIR/models.

DS_ROOT=${DS_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
DS_PGBIN=${DS_PGBIN:-/usr/lib/postgresql/15/bin}
DS_MODEL_NAME=${DS_MODEL_NAME:-SmolLM2-135M-Instruct.Q4_1.gguf}

ds_as_pg() { (cd / && runuser -u postgres -- "$@"); }

# The models directory the server will use: the repository's if postgres
# can read it, otherwise a copy inside the cluster directory.
ds_model_dir_for() {
	local dir=$1 models=$DS_ROOT/models
	if ds_as_pg test -r "$models/$DS_MODEL_NAME"; then
		echo "$models"
	else
		rm -rf "$dir/models"
		cp -a "$models" "$dir/models"
		chown -R postgres: "$dir/models"
		echo "$dir/models"
	fi
}

ds_cluster_start() {
	local dir=$1 port=$2
	shift 2
	mkdir -p "$dir"
	chown postgres: "$dir"
	chmod 0755 "$dir"
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		ds_as_pg "$DS_PGBIN/initdb" -D "$dir/data" -A trust -U postgres --no-sync \
			-E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
			{ cat "$dir/initdb.log" >&2; return 1; }
		local models
		models=$(ds_model_dir_for "$dir")
		cat >>"$dir/data/postgresql.conf" <<CONF

# deepseek throwaway cluster
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
shared_preload_libraries = 'deepseek'
deepseek.model_dir = '$models'
deepseek.model = '$DS_MODEL_NAME'
deepseek.context = 2048
CONF
	fi
	ds_as_pg "$DS_PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 120 \
		-o "$*" start >/dev/null ||
		{ tail -n 30 "$dir/server.log" >&2; return 1; }
}

ds_cluster_stop() {
	local dir=$1
	[ -f "$dir/data/postmaster.pid" ] || return 0
	ds_as_pg "$DS_PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
}

ds_cluster_destroy() {
	ds_cluster_stop "$1"
	rm -rf "$1"
}

# Wait until the worker is ready (or failed); prints its state.
ds_wait_worker() {
	local dir=$1 port=$2 db=${3:-postgres} state="" i
	for i in $(seq 1 600); do
		state=$(psql -h "$dir" -p "$port" -U postgres -d "$db" -XAtq \
			-c "SELECT state FROM deepseek_stat_worker()" 2>/dev/null || true)
		case "$state" in
		ready | failed) break ;;
		esac
		sleep 0.2
	done
	echo "$state"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	cmd=${1:-}
	shift || true
	case "$cmd" in
	start) ds_cluster_start "$@" ;;
	stop) ds_cluster_stop "$@" ;;
	destroy) ds_cluster_destroy "$@" ;;
	*)
		echo "usage: $0 start DIR PORT [-c name=value ...] | stop DIR | destroy DIR" >&2
		exit 2
		;;
	esac
fi
