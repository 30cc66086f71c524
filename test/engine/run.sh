#!/usr/bin/env bash
# run.sh -- run every engine test program (build/test/test_*) and the
# command-line checks; one PASS/FAIL/SKIP line each, then "N passed, N failed".
#
# Built by `make engine-test`.  Fixtures come from $DS_SHARED or ../shared;
# the real model from $DS_MODEL (default models/SmolLM2-135M-Instruct.Q4_1.gguf).
set -u
cd "$(dirname "$0")/../.."

SHARED=${DS_SHARED:-../shared}
MODEL=${DS_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
CLI=./deepseek-cli
REF=$SHARED/fixtures/reference
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0
skipped=0

pass() { echo "PASS $1${2:+  ($2)}"; passed=$((passed + 1)); }
fail() { echo "FAIL $1${2:+  ($2)}"; failed=$((failed + 1)); }
skip() { echo "SKIP $1  ($2)"; skipped=$((skipped + 1)); }

# Test programs: exit 0 pass, 77 skipped, anything else fails.
for t in build/test/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	"$t" >"$TMP/out" 2>&1
	rc=$?
	summary=$(tail -n 1 "$TMP/out")
	grep '^SKIP' "$TMP/out" | sed "s/^/    $name: /"
	case $rc in
	0) pass "$name" "$summary" ;;
	77) skip "$name" "$summary" ;;
	*)
		fail "$name" "exit $rc"
		tail -n 30 "$TMP/out" | sed 's/^/    /'
		;;
	esac
done

# Largest absolute difference between two float32 files (same length), or "size".
maxdiff() {
	if [ "$(stat -c %s "$1")" != "$(stat -c %s "$2")" ]; then
		echo size
		return
	fi
	paste <(od -An -v -f -w4 "$1") <(od -An -v -f -w4 "$2") |
		awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d } END { printf "%.6g\n", m + 0 }'
}

# within VALUE LIMIT: is VALUE a number <= LIMIT?
within() {
	awk -v v="$1" -v l="$2" 'BEGIN { exit !(v != "size" && v + 0 <= l + 0) }'
}

# CLI checks against the reference models.
if [ ! -x "$CLI" ]; then
	fail "cli-built" "$CLI missing: run make cli"
elif [ ! -d "$REF" ]; then
	skip "cli-reference" "fixtures not found at $REF (set DS_SHARED)"
else
	ids=$(cat "$REF/logits/tiny-llama-F16.p1.tokens.txt")
	if $CLI logits "$REF/models/tiny-llama-F16.gguf" --ids "$ids" --exact >"$TMP/l" 2>"$TMP/err"; then
		d=$(maxdiff "$TMP/l" "$REF/logits/tiny-llama-F16.p1.deq.logits.f32")
		if within "$d" 1e-3; then pass cli-logits-exact "max diff $d"; else fail cli-logits-exact "max diff $d"; fi
	else
		fail cli-logits-exact "$(cat "$TMP/err")"
	fi
	ids=$(cat "$REF/logits/tiny-llama-Q8_0.p2.tokens.txt")
	if $CLI logits "$REF/models/tiny-llama-Q8_0.gguf" --ids "$ids" >"$TMP/l" 2>"$TMP/err"; then
		d=$(maxdiff "$TMP/l" "$REF/logits/tiny-llama-Q8_0.p2.logits.f32")
		if within "$d" 0.825; then pass cli-logits-q8_0 "max diff $d vs llama.cpp"; else fail cli-logits-q8_0 "max diff $d"; fi
	else
		fail cli-logits-q8_0 "$(cat "$TMP/err")"
	fi
	want=$(cat "$REF/logits/tiny-qwen2-F16.p2.tokens.txt")
	got=$($CLI tokenize "$SHARED/fixtures/tokenizer/ggml-vocab-gpt-2.gguf" <"$REF/prompts/p2.txt" 2>&1)
	if [ "$got" = "$want" ]; then pass cli-tokenize; else fail cli-tokenize "got: ${got:0:80}"; fi
	if $CLI generate "$REF/models/tiny-qwen2-Q4_K_M.gguf" --prompt "Hello" --max-tokens 3 \
		--temperature 0.8 --seed 1 >"$TMP/g1" 2>"$TMP/err" &&
		$CLI generate "$REF/models/tiny-qwen2-Q4_K_M.gguf" --prompt "Hello" --max-tokens 3 \
			--temperature 0.8 --seed 1 >"$TMP/g2" 2>>"$TMP/err" && cmp -s "$TMP/g1" "$TMP/g2"; then
		pass cli-generate-seeded
	else
		fail cli-generate-seeded "$(cat "$TMP/err")"
	fi
	if $CLI bench "$REF/models/tiny-llama-Q6_K.gguf" --batch 2 --tokens 4 --prompt-tokens 8 \
		>"$TMP/b" 2>&1 && grep -q '^decode.*tokens/s' "$TMP/b"; then
		pass cli-bench
	else
		fail cli-bench "$(tail -n 1 "$TMP/b")"
	fi
fi

# CLI errors: non-zero exit and a message on stderr, nothing on stdout.
$CLI generate /nonexistent/model.gguf --prompt x >"$TMP/o" 2>"$TMP/e"
rc=$?
if [ $rc -ne 0 ] && [ -s "$TMP/e" ] && [ ! -s "$TMP/o" ]; then pass cli-missing-model; else fail cli-missing-model "exit $rc"; fi
$CLI bench "$MODEL" --batch nope >"$TMP/o" 2>"$TMP/e"
rc=$?
if [ $rc -eq 2 ] && [ -s "$TMP/e" ]; then pass cli-bad-option; else fail cli-bad-option "exit $rc"; fi

# The real model, when present: a sensible greedy answer.
if [ -f "$MODEL" ]; then
	out=$($CLI generate "$MODEL" --prompt "The capital of France is" --max-tokens 8 2>&1)
	if printf '%s' "$out" | grep -q Paris; then pass cli-generate-real "$(printf "%s" "${out:0:40}" | tr "\n" " ")"; else fail cli-generate-real "$out"; fi
else
	skip cli-generate-real "$MODEL not found (set DS_MODEL)"
fi

echo "$skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
