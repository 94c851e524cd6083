#!/usr/bin/env bash
# Installs what fleetpipe needs on Debian 12 (only what is missing) and builds it.
#   scripts/setup.sh            release build in build/
#   scripts/setup.sh asan       also an ASan+UBSan build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."

# Build and runtime: compiler, cmake, pkg-config and the C libraries (see docs/dependencies.md).
# Tests and benchmarks: cmocka, kcat, jq, Node.js, the mosquitto broker and its clients,
# prometheus (promtool lints /metrics, the scrape config and the alert rules), the PostgreSQL
# server (the warehouse tests run a throwaway initdb cluster), wrk (bench/serve.sh), chromium (the
# web console's browser tests, bench/web.sh and the load-test report's PNG, driven headless).
PKGS=(build-essential cmake pkg-config librdkafka-dev libjansson-dev libzstd-dev
      libmosquitto-dev libssl-dev libcmocka-dev kcat jq zstd bc clang-format
      mosquitto mosquitto-clients openssl libcurl4-openssl-dev
      libhiredis-dev redis-server redis-tools libsnappy-dev curl
      libmicrohttpd-dev prometheus libpq-dev postgresql wrk chromium)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from elsewhere than Debian (with its own npm): only install when absent.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Test-only servers from npm, pinned by tests/servers/package-lock.json (s3rver, dynalite, and
# aws4 as an independent SigV4 verifier); reinstalled only when the lock file changes.
# Independent Parquet readers (DuckDB, hyparquet) pinned by tests/verify/package-lock.json, the
# same way.
for dir in tests/servers tests/verify; do
  lock=$dir/package-lock.json
  if ! cmp -s "$lock" "$dir/node_modules/.fleetpipe-lock" 2>/dev/null; then
    echo "setup: npm ci in $dir"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
    cp "$lock" "$dir/node_modules/.fleetpipe-lock"
  fi
done

# The web console (web/, pinned by web/package-lock.json; esbuild bundles it into web/dist), built
# before cmake, which compiles web/dist into the binary: npm ci when the lock changed, the bundle
# when the lock, build.mjs or a source file changed (web/dist/.fleetpipe-src is their hash).
if ! cmp -s web/package-lock.json web/node_modules/.fleetpipe-lock 2>/dev/null; then
  echo "setup: npm ci in web"
  npm ci --prefix web --no-audit --no-fund --loglevel=error
  cp web/package-lock.json web/node_modules/.fleetpipe-lock
fi
web_src=$(cd web && cat build.mjs package-lock.json | sha256sum | cut -c1-16)-$(cd web && for f in $(ls src | sort); do
  [[ -f src/$f ]] && printf '%s' "src/$f" && cat "src/$f"; done | sha256sum | cut -c1-16)
if [[ ! -s web/dist/index.html || $(cat web/dist/.fleetpipe-setup 2>/dev/null) != "$web_src" ]]; then
  echo "setup: building the web console"
  npm run --prefix web --silent build
  echo "$web_src" >web/dist/.fleetpipe-setup
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"
if [[ "${1:-}" == asan ]]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DFP_SANITIZE=ON >/dev/null
  cmake --build build-asan -j "$jobs"
fi
