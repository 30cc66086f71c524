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
	# one dp4a launch under Nsight Compute: Q4_0 152064x3584, n = 1
	if command -v ncu > /dev/null; then
		DS_BENCH_TYPES=Q4_0 DS_BENCH_SHAPES=7 DS_BENCH_BATCHES=1 timeout 120 ncu --clock-control none \
			-k regex:k_matvec_dp4a --launch-count 1 --section SpeedOfLight --section Occupancy \
			--section WarpStateStats --section SchedulerStats --section MemoryWorkloadAnalysis_Tables \
			--metrics l1tex__data_pipe_lsu_wavefronts_mem_shared.sum,l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum,l1tex__data_pipe_lsu_wavefronts.sum,l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum,lts__t_sectors_srcunit_tex_op_read.sum,smsp__inst_executed.sum,smsp__average_warps_issue_stalled_mio_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_lg_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_wait_per_issue_active.ratio,smsp__average_warps_issue_stalled_math_pipe_throttle_per_issue_active.ratio \
			build/kernels/bench_kernels > "$OUT/ncu-dp4a.txt" 2>&1
		grep -E "Duration|DRAM Throughput|Memory Throughput|L1/TEX Cache Throughput|Compute \(SM\)|Achieved Occupancy|Theoretical Occupancy|Issue Slots Busy|No Eligible|Eligible Warps|Registers Per|wavefronts|bank_conflicts|sectors|inst_executed|stalled|Mem Pipes|Shared" \
			"$OUT/ncu-dp4a.txt" | head -40 > "$OUT/ncu-short.txt"
		stamp "ncu"
	fi
	cat "$OUT/ncu-short.txt" 2>/dev/null
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
