#!/usr/bin/env bash
# Install what rfm-stream needs on a Debian-like machine, then cache the Kafka class path.
# Safe to run again: apt-get runs only for a missing program, pip finds everything satisfied,
# and Maven is skipped once the class path in $RFM_CACHE_DIR (default ~/.cache/rfm-stream) is complete.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
command -v java >/dev/null || [ -n "${JAVA_HOME:-}" ] || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || missing+=(maven)
# the report test opens the HTML report in a real headless browser
command -v chromium >/dev/null || missing+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "setup: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # keep the package from starting a system redis on 6379: `rfm-stream stack up` runs its own
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
      trap 'rm -f "$policy"' EXIT
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing ${missing[*]}: install them (Debian: sudo apt-get install -y ${missing[*]}), or use docker compose" >&2
    exit 1
  fi
fi

python -m pip install -q -e '.[test,bench]'
rfm-stream stack fetch
