#!/usr/bin/env bash
# ab.sh -- the benchmark of the working tree against another commit, on the
# same GPU in the same run (machines differ by a few points, so only a
# same-run comparison shows a change of a few percent).
#
#   bash test/gpu/ab.sh prepare [REF]     here: REF's tree (default HEAD)
#                                         into build/ab/base
#   DS_BENCH_TYPES=Q4_K DS_BENCH_SHAPES=4,7 DS_BENCH_BATCHES=1,8 \
#   DS_BENCH_PATHS=q8tma bash test/gpu/ab.sh run
#                                         on the GPU machine (carry
#                                         build/ab): builds both, runs the
#                                         benchmark alternately (new, base,
#                                         new, base), prints the table
#   bash test/gpu/ab.sh table NEW1 BASE1 [NEW2 BASE2]
#                                         the table from bench_full files
#
# Table: per type, shape, n and path the times (us) of each run and
# new / base of the best of each, with the cells that moved by more than
# 3% marked.  The DS_BENCH_* variables narrow both runs alike.
set -u
cd "$(dirname "$0")/../.."
AB=build/ab

table() {
	awk '
	FNR == 1 { f++ }
	/^#/ || $1 == "type" || $1 == "bf16" { next }
	{
		# type, two words of shape name, M, K, n, path, time
		i = 2; while ($i !~ /^[0-9]+$/) i++
		key = sprintf("%-5s %6sx%-6s %3d %-8s", $1, $i, $(i + 1), $(i + 2), $(i + 3))
		side = (f % 2 == 1) ? "new" : "base"
		t[key, side] = t[key, side] sprintf(" %8.2f", $(i + 4))
		if (!((key, side) in best) || $(i + 4) < best[key, side])
			best[key, side] = $(i + 4)
		if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
	}
	END {
		printf "%-31s %-19s %-19s %7s\n", "type  shape          n path", "new (us)", "base (us)", "new/base"
		for (k = 1; k <= nk; k++) {
			key = order[k]
			if (!((key, "new") in best) || !((key, "base") in best))
				continue
			r = best[key, "new"] / best[key, "base"]
			mark = (r < 0.97) ? "  faster" : ((r > 1.03) ? "  SLOWER" : "")
			printf("%-31s %-19s %-19s %7.3f%s\n", key, t[key, "new"], t[key, "base"], r, mark)
		}
	}' "$@"
}

case "${1:-}" in
	prepare)
		ref=${2:-HEAD}
		rm -rf "$AB/base"
		mkdir -p "$AB/base"
		git archive "$ref" | tar -x -C "$AB/base"
		git rev-parse "$ref" > "$AB/base/.ref"
		echo "ab: $(cat "$AB/base/.ref") in $AB/base ($(du -sh "$AB/base" | cut -f1))"
		;;
	run)
		[ -f "$AB/base/.ref" ] || { echo "ab: no $AB/base (run 'ab.sh prepare REF' first and carry $AB)"; exit 1; }
		OUT=${OUT:-$AB/out}
		mkdir -p "$OUT"
		jobs=$(nproc)
		make -j$(( jobs / 2 > 1 ? jobs / 2 : 1 )) cuda build/kernels/bench_kernels > "$OUT/build_new.log" 2>&1 &
		p1=$!
		( cd "$AB/base" && make -j$(( jobs / 2 > 1 ? jobs / 2 : 1 )) cuda build/kernels/bench_kernels ) \
			> "$OUT/build_base.log" 2>&1 &
		p2=$!
		wait $p1 || { tail -20 "$OUT/build_new.log"; echo "ab: build of the working tree failed"; exit 1; }
		wait $p2 || { tail -20 "$OUT/build_base.log"; echo "ab: build of the base failed"; exit 1; }
		for r in 1 2; do
			build/kernels/bench_kernels "$OUT/new_$r.txt" > /dev/null 2>&1 || echo "ab: new run $r failed"
			"$AB/base/build/kernels/bench_kernels" "$OUT/base_$r.txt" > /dev/null 2>&1 ||
				echo "ab: base run $r failed"
		done
		echo "ab: working tree against $(cat "$AB/base/.ref")"
		table "$OUT/new_1.txt" "$OUT/base_1.txt" "$OUT/new_2.txt" "$OUT/base_2.txt"
		;;
	table)
		shift
		table "$@"
		;;
	*)
		sed -n '2,20p' "$0"
		exit 1
		;;
esac
