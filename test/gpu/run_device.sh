#!/usr/bin/env bash
# run_device.sh -- build, test and benchmark the CUDA kernels on a GPU
# machine in one go; logs go to $OUT (default build/gpu-out), the summary
# table is printed last.
#
#   bash test/gpu/run_device.sh [quick|small|large]
#     quick: tests only, no benchmark
#     large: tests, memcheck of the wgmma GEMM, the benchmark at n = 16,
#            64, 256 (fused, wgmma, cuBLAS paths), the larger-batch table
#     small: tests, the benchmark at n = 1, 2, 4, 8 (the small-batch
#            kernels), a rows sweep for the fixed cost per call, memcheck
#            of the q8tma products, Nsight Compute profiles of q8tma if
#            time is left; at most 7 files in $OUT; time-boxed
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-build/gpu-out}
mkdir -p "$OUT"
mode=${1:-full}
status=0
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 )) s] $*"; }

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,power.draw \
	--format=csv > "$OUT/setup.log" 2>&1
cat "$OUT/setup.log"

# build (reuses up-to-date objects)
if ! make -j"$(nproc)" cuda build/kernels/test_kernels_gpu build/kernels/bench_kernels \
		>> "$OUT/setup.log" 2>&1; then
	tail -40 "$OUT/setup.log"
	echo "run_device: build failed"
	exit 1
fi
stamp "built"

# are the weight streams 16-byte copies (LDGSTS ...128), which tensor-core
# and dp4a instructions, any local memory?
if command -v cuobjdump > /dev/null; then
	cuobjdump --dump-sass deepseek_cuda.so > "$OUT/sass-full.tmp" 2>&1
	awk '/Function :/ { f = $3 } /LDGSTS/ { n[f]++; if ($0 ~ /\.128/) w[f]++ } /IDP/ { d[f]++ }
		/IMMA/ { im[f]++ } /HMMA/ { hm[f]++ } /LDL|STL/ { l[f]++ }
		END { for (f in n) printf "%-70.70s LDGSTS %4d, 128-bit %4d, IDP4A %4d, IMMA %3d, HMMA %3d, local %d\n",
			f, n[f], w[f], d[f], im[f], hm[f], l[f] }' "$OUT/sass-full.tmp" | sort > "$OUT/sass.txt"
	echo "SASS: $(grep -c . "$OUT/sass.txt") kernels with cp.async; not 128-bit: " \
		"$(awk '$3 + 0 != $5 + 0' "$OUT/sass.txt" | wc -l); with local memory: $(awk '$NF + 0 > 0' "$OUT/sass.txt" | wc -l)"
	rm -f "$OUT/sass-full.tmp"
fi

timeout 200 build/kernels/test_kernels_gpu > "$OUT/gpu-test.log" 2>&1 || status=1
grep -E "^FAIL" "$OUT/gpu-test.log" | head -40
tail -1 "$OUT/gpu-test.log"
stamp "gpu-test"

if [ "$mode" = small ]; then
	DS_BENCH_BATCHES=${DS_BENCH_BATCHES:-1,2,4,8} timeout 300 build/kernels/bench_kernels "$OUT/bench_full.txt" \
		> "$OUT/bench.txt" 2>&1 || status=1
	stamp "bench"
	# the fixed cost per call: Q4_0 at K = 3584 over a range of rows (appended to bench.txt)
	if [ -z "${DS_BENCH_MLIST:-}" ]; then
		env -u DS_BENCH_SHAPES DS_BENCH_MLIST=2368,9472,18944,37888,75776,152064 DS_BENCH_TYPES=Q4_0 \
			DS_BENCH_BATCHES=1 DS_BENCH_PATHS=dp4a,q8mma,q8tma,q8txs,read,tma128x304 timeout 120 \
			build/kernels/bench_kernels 2>&1 | grep -E '^sweep' >> "$OUT/bench.txt" || status=1
		stamp "rows sweep"
	fi
	if command -v compute-sanitizer > /dev/null; then
		DS_TEST_ONLY=q8tma DS_TEST_SEED=12345 timeout 120 compute-sanitizer --tool memcheck \
			--print-limit 20 build/kernels/test_kernels_gpu > "$OUT/memcheck.log" 2>&1
		echo "memcheck (q8tma): $(grep -E 'ERROR SUMMARY|gpu-test' "$OUT/memcheck.log" | tail -2 | tr '\n' ' ')"
		stamp "memcheck"
	fi
	# the bulk-copy int8 kernel under Nsight Compute: Q4_K 152064x3584 and 18944x3584, n = 1
	if command -v ncu > /dev/null && [ $(( $(date +%s) - t0 )) -lt ${DS_NCU_BEFORE:-330} ]; then
		for sh in 7 4; do
			echo "== k_q8tma Q4_K shape $sh n=1" >> "$OUT/ncu.txt"
			DS_BENCH_TYPES=Q4_K DS_BENCH_SHAPES=$sh DS_BENCH_BATCHES=1 timeout 60 ncu --clock-control none \
				-k regex:k_q8tma --launch-count 1 --section SpeedOfLight --section Occupancy \
				--section WarpStateStats --section SchedulerStats --section MemoryWorkloadAnalysis_Tables \
				--metrics smsp__inst_executed.sum,lts__t_sectors_srcunit_tex_op_read.sum,dram__bytes_read.sum,l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum,smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_wait_per_issue_active.ratio,smsp__average_warps_issue_stalled_math_pipe_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_mio_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_lg_throttle_per_issue_active.ratio \
				build/kernels/bench_kernels >> "$OUT/ncu.txt" 2>&1
		done
		grep -E "^== |Duration|DRAM Throughput|Compute \(SM\)|Achieved Occupancy|Theoretical Occupancy|Issue Slots Busy|No Eligible|Registers Per|bank_conflicts|dram__bytes|lts__t_sectors|inst_executed|stalled" \
			"$OUT/ncu.txt" | head -50
		stamp "ncu"
	fi
	head -3 "$OUT/bench.txt"
	grep -E "^bench:.*failed" "$OUT/bench.txt" | head
	# last: type, shape, best of the three kernels at n = 1/2/4/8 and t8/t1
	awk '/^small-batch/ { on = 1 } on && /\|/ { split($0, c, "|"); printf "%-20s|%s|%s\n", c[1], c[4], c[5] }' \
		"$OUT/bench.txt"
	sed -n '/^bulk-copy/,/^$/p' "$OUT/bench.txt"
	grep -E '^sweep' "$OUT/bench.txt"
elif [ "$mode" = large ]; then
	if command -v compute-sanitizer > /dev/null; then
		DS_TEST_ONLY=wgmma DS_TEST_SEED=12345 timeout 150 compute-sanitizer --tool memcheck \
			--print-limit 20 build/kernels/test_kernels_gpu > "$OUT/memcheck.log" 2>&1
		echo "memcheck (wgmma): $(grep -E 'ERROR SUMMARY|gpu-test' "$OUT/memcheck.log" | tail -2 | tr '\n' ' ')"
		stamp "memcheck"
	fi
	DS_BENCH_BATCHES=16,64,256 DS_BENCH_PATHS=${DS_BENCH_PATHS:-mma,fused,cublas,wgmma} timeout 300 \
		build/kernels/bench_kernels "$OUT/bench_full.txt" > "$OUT/bench.txt" 2>&1 || status=1
	stamp "bench"
	head -1 "$OUT/bench.txt"
	sed -n '/^larger batches/,$p' "$OUT/bench.txt"
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
