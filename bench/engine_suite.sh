#!/usr/bin/env bash
# Times the engine suite as CI runs it, vLLM's start included (the figure docs/benchmarks.md quotes).
#   bash bench/engine_suite.sh          # with vLLM's and torch's compile caches as they are
#   bash bench/engine_suite.sh --cold   # with empty compile caches, as on a new machine
# Installs the engine first if needed (not timed). Prints one line: wall time, cores, cache.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="warm"
if [[ "${1:-}" == "--cold" ]]; then
  cache="cold"
  empty="$(mktemp -d)"
  export VLLM_CACHE_ROOT="$empty/vllm" TORCHINDUCTOR_CACHE_DIR="$empty/torchinductor"
  trap 'rm -rf "$empty"' EXIT
fi

bash tests/engine/setup.sh >/dev/null
started=$(date +%s)
uv run pytest -q -m engine
elapsed=$(($(date +%s) - started))
printf 'engine suite: %d s wall (%d:%02d), %s cores, %s compile cache\n' \
  "$elapsed" $((elapsed / 60)) $((elapsed % 60)) "$(nproc)" "$cache"
