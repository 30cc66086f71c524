#!/usr/bin/env bash
# bench.sh -- CPU speed of the default model at batch 1 and 8 (make bench).
#
#   DS_MODEL        model file (default models/SmolLM2-135M-Instruct.Q4_1.gguf)
#   DS_THREADS      compute threads (default: all cores)
#   DS_TOKENS       decode steps per run (default 128); prompt is 512 tokens
#   DS_PEER_PYTHON  a python3 that can `import llama_cpp` (llama-cpp-python):
#                   when set, llama.cpp runs the same workload in the same
#                   run, alternating with ours, and the table shows ratios
set -eu
cd "$(dirname "$0")/.."

MODEL=${DS_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
THREADS=${DS_THREADS:-$(nproc)}
TOKENS=${DS_TOKENS:-128}
PEER=${DS_PEER_PYTHON:-}

if [ ! -f "$MODEL" ]; then
	echo "bench: model $MODEL not found (set DS_MODEL, or run make demo to fetch the default)" >&2
	exit 1
fi
[ -x ./deepseek-cli ] || make cli >/dev/null

declare -A pp tg ppp ptg
for b in 1 8; do
	out=$(./deepseek-cli bench "$MODEL" --batch "$b" --tokens "$TOKENS" --threads "$THREADS")
	[ "$b" = 1 ] && printf '%s\n' "$out" | grep -E '^(model|backend)'
	pp[$b]=$(printf '%s\n' "$out" | awk '/^prompt/ { print $(NF-1) }')
	tg[$b]=$(printf '%s\n' "$out" | awk '/^decode/ { for (i = 1; i <= NF; i++) if ($i == "tokens/s") { print $(i-1); exit } }')
	if [ -n "$PEER" ]; then
		out=$("$PEER" scripts/bench_llamacpp.py "$MODEL" --batch "$b" --tokens "$TOKENS" --threads "$THREADS" 2>/dev/null)
		ppp[$b]=$(printf '%s\n' "$out" | awk '/^prompt_tok_s/ { print $2 }')
		ptg[$b]=$(printf '%s\n' "$out" | awk '/^decode_tok_s/ { print $2 }')
	fi
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
echo
echo "threads $THREADS; prompt 512 tokens in one batch; decode $TOKENS steps, B sequences per step"
if [ -z "$PEER" ]; then
	printf '| %-5s | %-20s | %-24s | %-12s |\n' batch "prompt tok/s" "decode tok/s (aggregate)" "per sequence"
	printf '|-------|----------------------|--------------------------|--------------|\n'
	for b in 1 8; do
		printf '| %-5s | %-20s | %-24s | %-12s |\n' "$b" "${pp[$b]}" "${tg[$b]}" \
			"$(awk -v t="${tg[$b]}" -v b="$b" 'BEGIN { printf "%.1f", t / b }')"
	done
else
	printf '| %-5s | %-12s | %-12s | %-6s | %-12s | %-12s | %-6s |\n' batch "prompt ours" "llama.cpp" ratio "decode ours" "llama.cpp" ratio
	printf '|-------|--------------|--------------|--------|--------------|--------------|--------|\n'
	for b in 1 8; do
		printf '| %-5s | %-12s | %-12s | %-6s | %-12s | %-12s | %-6s |\n' "$b" "${pp[$b]}" "${ppp[$b]}" \
			"$(ratio "${pp[$b]}" "${ppp[$b]}")" "${tg[$b]}" "${ptg[$b]}" "$(ratio "${tg[$b]}" "${ptg[$b]}")"
	done
fi
