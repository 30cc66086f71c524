#!/usr/bin/env bash
# profile.sh -- Nsight Compute sections for one launch of each matrix kernel
# (small batch n=1 and n=8, fused GEMM n=256) on one weight type and shape,
# through the benchmark.  Needs ncu with counters (Firecracker machines).
#
#   bash test/gpu/profile.sh [TYPE] [SHAPE-INDEX]      default Q4_K 4 (18944x3584)
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-build/gpu-out}
mkdir -p "$OUT"
make -j"$(nproc)" build/kernels/bench_kernels > "$OUT/build-profile.log" 2>&1 || exit 1
export DS_BENCH_TYPES=${1:-Q4_K} DS_BENCH_SHAPES=${2:-4}
for spec in "1 k_matvec" "8 k_matvec" "256 k_gemm_fused"; do
	set -- $spec
	DS_BENCH_BATCHES=$1 timeout 240 ncu --clock-control none -k "regex:$2" --launch-count 1 \
		--section SpeedOfLight --section Occupancy --section LaunchStats \
		--section WarpStateStats --section SchedulerStats --section MemoryWorkloadAnalysis \
		--section ComputeWorkloadAnalysis --section InstructionStats \
		--metrics smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio,smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_wait_per_issue_active.ratio,smsp__average_warps_issue_stalled_math_pipe_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_mio_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_lg_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_not_selected_per_issue_active.ratio,smsp__average_warps_issue_stalled_selected_per_issue_active.ratio,smsp__average_warps_issue_stalled_dispatch_stall_per_issue_active.ratio,smsp__average_warps_issue_stalled_membar_per_issue_active.ratio,smsp__average_warps_issue_stalled_no_instruction_per_issue_active.ratio,smsp__average_warps_issue_stalled_branch_resolving_per_issue_active.ratio,smsp__average_warps_issue_stalled_drain_per_issue_active.ratio,smsp__average_warps_issue_stalled_tex_throttle_per_issue_active.ratio \
		build/kernels/bench_kernels > "$OUT/ncu-$2-n$1.txt" 2>&1
	echo "== $2 n=$1"
	grep -E "Duration|DRAM Throughput|Memory Throughput|Compute \(SM\)|Achieved Occupancy|Theoretical Occupancy|Registers Per|Shared Memory Configuration|Dynamic Shared|Block Limit|Issue Slots Busy|No Eligible|Active Warps Per|Eligible Warps|Executed Ipc A|stalled|Bank" \
		"$OUT/ncu-$2-n$1.txt" | head -40
done
