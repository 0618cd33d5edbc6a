#!/bin/sh
# Installs what a fresh Debian machine lacks for building, testing and
# linting bbllive. Idempotent: skips what is already there.
set -eu
need=""
command -v ffmpeg >/dev/null 2>&1 || need="$need ffmpeg"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
command -v rtmpdump >/dev/null 2>&1 || need="$need rtmpdump"
command -v clang >/dev/null 2>&1 || need="$need clang llvm libbpf-dev"
# Browser tests: Debian's headless Chromium plays H.264+AAC through MSE;
# npm installs the web players (hls.js, mpegts.js) at test time.
[ -x /usr/lib/chromium/chromium-headless-shell ] || need="$need chromium-headless-shell"
command -v npm >/dev/null 2>&1 || need="$need npm"
# HLS tests put a real nginx proxy_cache in front of the server.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need="$need nginx"
if [ -n "$need" ]; then
	echo "installing:$need"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
if ! command -v staticcheck >/dev/null 2>&1 && [ ! -x "$HOME/go/bin/staticcheck" ]; then
	echo "installing staticcheck"
	GOFLAGS= go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
