#!/usr/bin/env bash
# bench.sh -- CPU speed of the default model at batch 1 and 8 (make bench).
#
#   DS_MODEL    model file (default models/SmolLM2-135M-Instruct.Q4_1.gguf)
#   DS_THREADS  compute threads (default: all cores)
#   DS_TOKENS   decode steps per run (default 128); prompt is 512 tokens
set -eu
cd "$(dirname "$0")/.."

MODEL=${DS_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
THREADS=${DS_THREADS:-$(nproc)}
TOKENS=${DS_TOKENS:-128}

if [ ! -f "$MODEL" ]; then
	echo "bench: model $MODEL not found (set DS_MODEL, or run make demo to fetch the default)" >&2
	exit 1
fi
[ -x ./deepseek-cli ] || make cli >/dev/null

declare -A pp tg
for b in 1 8; do
	out=$(./deepseek-cli bench "$MODEL" --batch "$b" --tokens "$TOKENS" --threads "$THREADS")
	[ "$b" = 1 ] && printf '%s\n' "$out" | grep -E '^(model|backend)'
	pp[$b]=$(printf '%s\n' "$out" | awk '/^prompt/ { print $(NF-1) }')
	tg[$b]=$(printf '%s\n' "$out" | awk '/^decode/ { for (i = 1; i <= NF; i++) if ($i == "tokens/s") { print $(i-1); exit } }')
done
echo
printf '| %-5s | %-22s | %-24s | %-16s |\n' batch "prompt tok/s (512)" "decode tok/s (aggregate)" "per sequence"
printf '|-------|------------------------|--------------------------|------------------|\n'
for b in 1 8; do
	per=$(awk -v t="${tg[$b]}" -v b="$b" 'BEGIN { printf "%.1f", t / b }')
	printf '| %-5s | %-22s | %-24s | %-16s |\n' "$b" "${pp[$b]}" "${tg[$b]}" "$per"
done
