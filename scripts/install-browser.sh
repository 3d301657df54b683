#!/usr/bin/env bash
# Debian's Chromium, which the real-browser tests drive through Playwright (its own browser
# download cannot work without the internet). Idempotent: installs only what is missing.
set -euo pipefail

log() { printf 'install-browser: %s\n' "$*" >&2; }

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ -n "${NUMERALOOP_CHROMIUM:-}" ] && [ -x "$NUMERALOOP_CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  log "error: chromium is not installed; run as root, or install Debian's chromium package, or set NUMERALOOP_CHROMIUM"
  exit 1
fi
log "installing Debian's chromium"
DEBIAN_FRONTEND=noninteractive apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
log "chromium ready: $(chromium --version 2>/dev/null || echo unknown)"
