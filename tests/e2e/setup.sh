#!/usr/bin/env bash
# Installs what the browser end-to-end test needs, outside the uv project:
#   - Debian's chromium (a test tool's own browser download cannot work here) and nginx (the UI
#     host's reverse proxy, which the browser goes through),
#   - a separate venv with the open-webui package at the pinned image's version, CPU torch first
#     (so pip does not pull a CUDA build of several GB), and playwright to drive chromium.
# Idempotent: a second run only checks. Prints the venv path on its last line.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv="${OPENWEBUI_E2E_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/sagemaker-llm/openwebui-e2e}"
# The version of the pinned image in Pulumi.yaml (ghcr.io/open-webui/open-webui:vX.Y.Z).
version="$(sed -n 's|.*ghcr.io/open-webui/open-webui:v\{0,1\}\([0-9][0-9.]*\).*|\1|p' Pulumi.yaml | head -n 1)"
if [[ -z "$version" ]]; then
  echo "setup.sh: no pinned openWebUiImage version found in Pulumi.yaml" >&2
  exit 1
fi

# nginx: the browser reaches OpenWebUI through the UI host's reverse proxy, as it does when deployed.
missing=()
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
PATH="$PATH:/usr/sbin" command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
if ((${#missing[@]})); then
  # root here and in CI; sudo where a runner works as another user
  as_root=()
  if [[ $EUID -ne 0 ]]; then as_root=(sudo); fi
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Asked of the venv's own metadata: `pip show | grep -q` fails under pipefail (pip exits 120 on the closed pipe).
installed() {
  [[ -x "$venv/bin/open-webui" ]] &&
    "$venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("open-webui") != sys.argv[1])' \
      "$version" 2>/dev/null
}

if ! installed; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  # CPU torch first: open-webui's own requirement would take a CUDA build. +cpu: here the wheel on disk
  # (pip find-links); on GitHub the PyTorch CPU index ci.yml adds.
  "$venv/bin/python" -m pip install --quiet "torch==2.13.0+cpu"
  "$venv/bin/python" -m pip install --quiet "open-webui==$version" "playwright>=1.45"
fi

"$venv/bin/open-webui" --help >/dev/null
"$venv/bin/python" -c "import playwright.sync_api"
echo "$venv"
