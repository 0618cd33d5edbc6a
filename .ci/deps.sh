#!/bin/sh
# Installs what a fresh Debian machine lacks for building, testing and
# linting bbllive. Idempotent: skips what is already there.
set -eu
need=""
command -v ffmpeg >/dev/null 2>&1 || need="$need ffmpeg"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
command -v rtmpdump >/dev/null 2>&1 || need="$need rtmpdump"
# The RTMP players of the interop suite (cmd/bbllive/interop_test.go):
# mpv, VLC (run as nobody when the tests run as root), and GStreamer's
# rtmp2src (plugins-bad) with flvdemux and flvmux (plugins-good).
command -v mpv >/dev/null 2>&1 || need="$need mpv"
command -v cvlc >/dev/null 2>&1 || need="$need vlc"
command -v gst-launch-1.0 >/dev/null 2>&1 || need="$need gstreamer1.0-tools"
if ! gst-inspect-1.0 rtmp2src >/dev/null 2>&1 || ! gst-inspect-1.0 flvdemux >/dev/null 2>&1; then
	need="$need gstreamer1.0-plugins-good gstreamer1.0-plugins-bad"
fi
command -v clang >/dev/null 2>&1 || need="$need clang llvm libbpf-dev"
# HTTP-FLV interop: GStreamer (souphttpsrc, flvdemux, libav decoders), VLC.
# Checked by element, not by command: gst-launch-1.0 can be there without
# the libav decoder (avdec_h264) or the HTTP source the tests use.
if ! gst-inspect-1.0 avdec_h264 >/dev/null 2>&1 || ! gst-inspect-1.0 souphttpsrc >/dev/null 2>&1; then
	need="$need gstreamer1.0-tools gstreamer1.0-plugins-good gstreamer1.0-libav"
fi
command -v cvlc >/dev/null 2>&1 || need="$need vlc-bin vlc-plugin-base"
# Browser tests: Debian's headless Chromium plays H.264+AAC through MSE;
# npm installs the web players (hls.js, mpegts.js) at test time.
[ -x /usr/lib/chromium/chromium-headless-shell ] || need="$need chromium-headless-shell"
command -v npm >/dev/null 2>&1 || need="$need npm"
# systemd-analyze verifies contrib/systemd/bbllive.service; setpriv and
# prlimit run the server with that unit's capabilities and limits.
command -v systemd-analyze >/dev/null 2>&1 || need="$need systemd"
{ command -v setpriv && command -v prlimit; } >/dev/null 2>&1 || need="$need util-linux"
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
