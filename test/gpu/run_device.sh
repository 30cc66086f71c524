#!/usr/bin/env bash
# run_device.sh -- build, test and benchmark the CUDA kernels on a GPU
# machine in one go; logs go to $OUT (default build/gpu-out), the summary
# table is printed last.
#
#   bash test/gpu/run_device.sh [quick]     quick: tests only, no benchmark
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-build/gpu-out}
mkdir -p "$OUT"
status=0

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

# are the weight streams 16-byte copies? (LDGSTS ...128 per kernel)
if command -v cuobjdump > /dev/null; then
	cuobjdump --dump-sass deepseek_cuda.so > "$OUT/sass.txt" 2>&1
	awk '/Function :/ { f = $3 } /LDGSTS/ { n[f]++; if ($0 ~ /\.128/) w[f]++ }
		END { for (f in n) printf "%-80.80s LDGSTS %4d, 128-bit %4d\n", f, n[f], w[f] }' \
		"$OUT/sass.txt" | sort > "$OUT/ldgsts.txt"
	echo "SASS: $(grep -c . "$OUT/ldgsts.txt") kernels with cp.async; not 128-bit: " \
		"$(awk '$3 + 0 != $5 + 0' "$OUT/ldgsts.txt" | wc -l)"
fi

build/kernels/test_kernels_gpu > "$OUT/gpu-test.log" 2>&1 || status=1
grep -E "^FAIL" "$OUT/gpu-test.log" | head -40
tail -1 "$OUT/gpu-test.log"

if [ "${1:-}" != quick ]; then
	if command -v compute-sanitizer > /dev/null && [ "${DS_SANITIZE:-1}" = 1 ]; then
		DS_TEST_SEED=12345 timeout 300 compute-sanitizer --tool memcheck --print-limit 20 \
			build/kernels/test_kernels_gpu > "$OUT/memcheck.log" 2>&1
		echo "memcheck: $(grep -E 'ERROR SUMMARY|gpu-test:' "$OUT/memcheck.log" | tail -2 | tr '\n' ' ')"
	fi
	build/kernels/bench_kernels "$OUT/bench_full.txt" > "$OUT/bench.txt" 2>&1 || status=1
	cat "$OUT/bench.txt"
fi
exit $status
