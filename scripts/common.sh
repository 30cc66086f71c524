#!/usr/bin/env bash
# common.sh -- sourced by test.sh and demo.sh: Debian packages, the model,
# and the build, each done only when missing.

DS_ROOT=${DS_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
DS_PACKAGES="postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap
	libtap-parser-sourcehandler-pgtap-perl libpcre2-dev make gcc g++"
DS_JOBS=${DS_JOBS:-2}

ds_log() { printf '\n==> %s\n' "$*"; }

# Install the Debian packages that are missing (apt-get update only then).
ds_install_packages() {
	local missing="" p
	for p in $DS_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	if [ -z "$missing" ]; then
		echo "packages: all present"
		return 0
	fi
	if [ "$(id -u)" != 0 ]; then
		echo "packages missing:$missing (run as root to install them)" >&2
		return 1
	fi
	echo "packages: installing$missing"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# Build and install the extension (kernels/kernels.mk adds the CUDA library
# to "all" and "install" when nvcc exists).
ds_build() {
	make -C "$DS_ROOT" -s -j"$DS_JOBS" all && make -C "$DS_ROOT" -s install
}

# Does the Makefile (with kernels.mk) define this target?
ds_has_target() {
	make -C "$DS_ROOT" -s --no-print-directory -n "$1" >/dev/null 2>&1
}
