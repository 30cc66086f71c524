#!/usr/bin/env bash
# run_device.sh -- build, test and benchmark the CUDA kernels on a GPU
# machine in one go; logs go to $OUT (default build/gpu-out), the summary
# table is printed last.
#
#   bash test/gpu/run_device.sh [quick|small]
#     quick: tests only, no benchmark
#     small: tests, memcheck of the dp4a products only, and the benchmark at
#            n = 1, 2, 4, 8 (both small-batch kernels), time-boxed
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-build/gpu-out}
mkdir -p "$OUT"
mode=${1:-full}
status=0
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 )) s] $*"; }

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,power.draw \
	--format=csv > "$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"

# build (reuses up-to-date objects)
if ! make -j"$(nproc)" cuda build/kernels/test_kernels_gpu build/kernels/bench_kernels \
		> "$OUT/build.log" 2>&1; then
	tail -40 "$OUT/build.log"
	echo "run_device: build failed"
	exit 1
fi
stamp "built"

# are the weight streams 16-byte copies (LDGSTS ...128), does dp4a run as IDP.4A?
if command -v cuobjdump > /dev/null; then
	cuobjdump --dump-sass deepseek_cuda.so > "$OUT/sass.txt" 2>&1
	awk '/Function :/ { f = $3 } /LDGSTS/ { n[f]++; if ($0 ~ /\.128/) w[f]++ } /IDP/ { d[f]++ }
		/LDL|STL/ { l[f]++ }
		END { for (f in n) printf "%-80.80s LDGSTS %4d, 128-bit %4d, IDP4A %4d, local %d\n",
			f, n[f], w[f], d[f], l[f] }' "$OUT/sass.txt" | sort > "$OUT/ldgsts.txt"
	echo "SASS: $(grep -c . "$OUT/ldgsts.txt") kernels with cp.async; not 128-bit: " \
		"$(awk '$3 + 0 != $5 + 0' "$OUT/ldgsts.txt" | wc -l)"
	rm -f "$OUT/sass.txt"
fi

timeout 200 build/kernels/test_kernels_gpu > "$OUT/gpu-test.log" 2>&1 || status=1
grep -E "^FAIL" "$OUT/gpu-test.log" | head -40
tail -1 "$OUT/gpu-test.log"
stamp "gpu-test"

if [ "$mode" = small ]; then
	if command -v compute-sanitizer > /dev/null; then
		DS_TEST_ONLY=dp4a DS_TEST_SEED=12345 timeout 120 compute-sanitizer --tool memcheck \
			--print-limit 20 build/kernels/test_kernels_gpu > "$OUT/memcheck.log" 2>&1
		echo "memcheck (dp4a): $(grep -E 'ERROR SUMMARY|gpu-test' "$OUT/memcheck.log" | tail -2 | tr '\n' ' ')"
		stamp "memcheck"
	fi
	DS_BENCH_BATCHES=1,2,4,8 timeout 240 build/kernels/bench_kernels "$OUT/bench_full.txt" \
		> "$OUT/bench.txt" 2>&1 || status=1
	stamp "bench"
	cat "$OUT/bench.txt"
elif [ "$mode" != quick ]; then
	if command -v compute-sanitizer > /dev/null && [ "${DS_SANITIZE:-1}" = 1 ]; then
		DS_TEST_SEED=12345 timeout 300 compute-sanitizer --tool memcheck --print-limit 20 \
			build/kernels/test_kernels_gpu > "$OUT/memcheck.log" 2>&1
		echo "memcheck: $(grep -E 'ERROR SUMMARY|gpu-test:' "$OUT/memcheck.log" | tail -2 | tr '\n' ' ')"
	fi
	build/kernels/bench_kernels "$OUT/bench_full.txt" > "$OUT/bench.txt" 2>&1 || status=1
	cat "$OUT/bench.txt"
fi
exit $status
