#!/usr/bin/env bash
# Install Debian's Chromium for the real-browser tests (tests/browser).
#
# Idempotent: exits at once when the browser is already there. Used by `make test`
# and CI (root on Debian 12); uses sudo when not root and sudo is available.
# Playwright's own browser download (`playwright install`) is deliberately NOT used:
# only the Debian package registry is reachable from this project's machines.
#
# Environment:
#   SAMPLEVAE_CHROMIUM   path of the browser binary (default /usr/bin/chromium)
set -euo pipefail

CHROMIUM="${SAMPLEVAE_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
    echo "install_browser: $CHROMIUM already present: $("$CHROMIUM" --version 2>/dev/null || echo 'version unknown')"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: $CHROMIUM is missing and apt-get is not available;" \
         "install Chromium by hand or set SAMPLEVAE_CHROMIUM to its path" >&2
    exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "install_browser: not root and sudo is not available; run as root:" \
             "apt-get update && apt-get install -y chromium" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive

# `apt-get update` only when the package lists do not know the chromium package yet
# (fresh containers ship without lists).
if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    echo "install_browser: apt-get update"
    "${SUDO[@]}" apt-get update -q
fi

echo "install_browser: apt-get install -y chromium"
"${SUDO[@]}" apt-get install -y -q --no-install-recommends chromium fonts-liberation

if [ ! -x "$CHROMIUM" ]; then
    echo "install_browser: apt-get finished but $CHROMIUM does not exist" >&2
    exit 1
fi
echo "install_browser: installed $("$CHROMIUM" --version 2>/dev/null)"
