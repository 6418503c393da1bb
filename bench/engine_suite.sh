#!/usr/bin/env bash
# Times the engine suite as CI runs it, vLLM's start included (the figure README quotes).
#   bash bench/engine_suite.sh          # with vLLM's compile cache as it is (~/.cache/vllm)
#   bash bench/engine_suite.sh --cold   # with an empty compile cache, as on a new machine
# Installs the engine first if needed (not timed). Prints one line: wall time, cores, cache.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="warm"
if [[ "${1:-}" == "--cold" ]]; then
  cache="cold"
  VLLM_CACHE_ROOT="$(mktemp -d)"
  export VLLM_CACHE_ROOT
  trap 'rm -rf "$VLLM_CACHE_ROOT"' EXIT
fi

bash tests/engine/setup.sh >/dev/null
started=$(date +%s)
uv run pytest -q -m engine tests/engine
elapsed=$(($(date +%s) - started))
printf 'engine suite: %d s wall (%d:%02d), %s cores, %s compile cache\n' \
  "$elapsed" $((elapsed / 60)) $((elapsed % 60)) "$(nproc)" "$cache"
