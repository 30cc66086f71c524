#!/usr/bin/env bash
# test.sh -- every test suite, from a fresh machine (make test).
#
# Installs what is missing (Debian packages, the model), builds the
# extension, the command-line driver and (when nvcc exists) the CUDA
# library, then runs: the engine tests, the kernels' CPU tests if the
# Makefile has them, pg_regress against a throwaway cluster, pgTAP
# behaviour tests on that cluster, and the no-preload pgTAP tests on a
# second cluster.  The last line is "N passed, N failed", summed over the
# suites; the exit status is non-zero on any failure.
set -uo pipefail

DS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/common.sh
. "$DS_ROOT/scripts/common.sh"
# shellcheck source=scripts/cluster.sh
. "$DS_ROOT/scripts/cluster.sh"
cd "$DS_ROOT"

PORT=${DEEPSEEK_TEST_PORT:-55441}
PORT_NOPRELOAD=$((PORT + 1))
WORK=$(mktemp -d /tmp/deepseek-test.XXXXXX)
chmod 0755 "$WORK"
MAIN=$WORK/main
NOPRELOAD=$WORK/nopreload
PSQL="$DS_PGBIN/psql -X -q -v ON_ERROR_STOP=1 -U postgres"
PASSED=0
FAILED=0
SUMMARY=""

cleanup() {
	ds_cluster_stop "$MAIN"
	ds_cluster_stop "$NOPRELOAD"
	if [ "$FAILED" -eq 0 ]; then
		rm -rf "$WORK"
		return
	fi
	for log in "$WORK"/*/server.log; do
		[ -f "$log" ] || continue
		ds_log "last lines of $log"
		tail -n 40 "$log"
	done
}
trap cleanup EXIT

# The per-suite counts, then the one line CI reads; always the last line.
finish() {
	trap - EXIT
	cleanup
	ds_log "summary"
	printf '%b' "$SUMMARY"
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit
}

# Add a suite's counts to the totals.
record() {
	local name=$1 passed=$2 failed=$3
	PASSED=$((PASSED + passed))
	FAILED=$((FAILED + failed))
	SUMMARY="$SUMMARY$(printf '  %-22s %4d passed, %d failed' "$name" "$passed" "$failed")\n"
}

# A suite whose output ends with "[name: ]N passed, N failed".
run_counted() {
	local name=$1 out rc p f
	shift
	ds_log "$name"
	out=$("$@" 2>&1)
	rc=$?
	echo "$out"
	p=$(echo "$out" | sed -n 's/^\(.*[^0-9]\)\?\([0-9]\+\) passed, \([0-9]\+\) failed$/\2/p' | tail -n 1)
	f=$(echo "$out" | sed -n 's/^\(.*[^0-9]\)\?\([0-9]\+\) passed, \([0-9]\+\) failed$/\3/p' | tail -n 1)
	if [ -z "$p" ]; then
		p=0
		f=1
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	record "$name" "$p" "$f"
}

# pg_regress through make installcheck; diffs are printed on failure.
run_regress() {
	local out rc p f
	ds_log "pg_regress (make installcheck)"
	rm -rf build/regress
	mkdir -p build/regress
	out=$(make -s installcheck PGHOST="$MAIN" PGPORT="$PORT" PGUSER=postgres 2>&1)
	rc=$?
	echo "$out"
	p=$(echo "$out" | grep -cE '\.\.\. ok( |$)')
	f=$(echo "$out" | grep -cE '\.\.\. FAILED')
	if [ "$rc" -ne 0 ]; then
		[ -f build/regress/regression.diffs ] && cat build/regress/regression.diffs
		[ "$f" -eq 0 ] && f=1
	fi
	record "pg_regress" "$p" "$f"
}

# pg_prove on some files.  Passed: assertions run and passed; failed:
# assertions that failed or that a file planned but never ran.
run_pgtap() {
	local name=$1 host=$2 port=$3 out rc total ran_failed f
	shift 3
	ds_log "$name (pg_prove)"
	out=$(pg_prove --psql-bin "$DS_PGBIN/psql" -h "$host" -p "$port" -U postgres \
		-d deepseek_tap "$@" 2>&1)
	rc=$?
	echo "$out"
	total=$(echo "$out" | sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' | tail -n 1)
	ran_failed=$(echo "$out" | sed -n 's/.*Tests: [0-9]* Failed: \([0-9]*\)).*/\1/p' |
		awk '{ s += $1 } END { print s + 0 }')
	f=$(echo "$out" | sed -n 's/.*Failed \([0-9]*\)\/[0-9]* subtests.*/\1/p' |
		awk '{ s += $1 } END { print s + 0 }')
	[ -z "$total" ] && total=0
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	record "$name" $((total - ran_failed)) "$f"
}

# The broken model files 04_bad_model.sql loads.
make_broken_models() {
	local dir=$DS_ROOT/models/broken good=$DS_ROOT/models/$DS_MODEL_NAME
	mkdir -p "$dir"
	head -c 4000000 "$good" >"$dir/truncated.gguf"
	{
		printf 'GGUF\003\000\000\000'
		head -c 65536 /dev/zero | tr '\0' '\377'
	} >"$dir/corrupt.gguf"
	ln -sfn /etc/passwd "$dir/escape.gguf"
	chmod -R a+rX "$dir"
}

# The reference models 06_other_models.sql loads, from ../shared when present.
copy_reference_models() {
	local ref=${DS_SHARED:-$DS_ROOT/../shared}/fixtures/reference dir=$DS_ROOT/models/reference
	if [ ! -d "$ref" ]; then
		echo "SKIP: $ref not found: the other-model pgTAP tests will be skipped"
		return 0
	fi
	mkdir -p "$dir"
	cp "$ref/models/tiny-llama-F16.gguf" "$ref/models/tiny-qwen2-Q8_0.gguf" \
		"$ref/prompts/p1.txt" "$dir/"
	cp "$ref"/logits/tiny-llama-F16.p1.{tokens,greedy}.txt \
		"$ref"/logits/tiny-qwen2-Q8_0.p1.{tokens,greedy}.txt "$dir/"
	chmod -R a+rX "$dir"
}

# A database with pgTAP (and the extensions a suite needs).
make_tap_db() {
	local host=$1 port=$2
	shift 2
	$PSQL -h "$host" -p "$port" -d postgres -c "CREATE DATABASE deepseek_tap" &&
		for ext in pgtap "$@"; do
			$PSQL -h "$host" -p "$port" -d deepseek_tap -c "CREATE EXTENSION $ext" || return 1
		done
}

ds_log "packages"
ds_install_packages || { record "packages" 0 1; finish; }
ds_log "model"
bash scripts/fetch-model.sh || { record "model" 0 1; finish; }
ds_log "build"
if ! ds_build || ! make -s -j"$DS_JOBS" cli; then
	record "build" 0 1
	finish
fi

run_counted "engine" make -s engine-test
if ds_has_target kernels-test-cpu; then
	run_counted "kernels (cpu)" make -s kernels-test-cpu
fi

ds_log "clusters"
make_broken_models
copy_reference_models
if ds_cluster_start "$MAIN" "$PORT" &&
	ds_cluster_start "$NOPRELOAD" "$PORT_NOPRELOAD" "-c shared_preload_libraries=" &&
	make_tap_db "$MAIN" "$PORT" dblink deepseek &&
	make_tap_db "$NOPRELOAD" "$PORT_NOPRELOAD" deepseek; then
	run_regress
	run_pgtap "pgtap" "$MAIN" "$PORT" test/pgtap/*.sql
	run_pgtap "pgtap (no preload)" "$NOPRELOAD" "$PORT_NOPRELOAD" test/pgtap/nopreload/*.sql
else
	record "clusters" 0 1
fi

finish
