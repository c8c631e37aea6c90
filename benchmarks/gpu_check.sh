#!/usr/bin/env bash
# The GPU check of the local model paths, for a lent H100/H200 (about 10 minutes there):
# random weights of a Qwen2.5-0.5B-shaped model, a star of 5 agents over 2 rounds on 200
# arithmetic items, <= 64 new tokens a call (every call makes all 64), and one ratio table:
#   (c) agentlab's engine,  (a) one call at a time (timed on 10 items, scaled),
#   flat: transformers' generate_batch on the engine's calls,  vllm: the engine on kind: vllm.
#
#   bash benchmarks/gpu_check.sh --prepare   # here, with the network: the tokenizer and wheels to carry
#   bash benchmarks/gpu_check.sh             # there: carry .gpu (and .whl) along
#   bash benchmarks/gpu_check.sh --dry       # anywhere: the same arms at a tiny size, on a CPU too
#
# The lent machine has torch and transformers but not agentlab's other dependencies, nor the
# embedded model's package (its tokenizer is copied into .gpu/tokenizer), nor vLLM (too large to
# carry: its arm then says it is left out).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  --prepare)
    mkdir -p .gpu/tokenizer .whl
    python -c "
from transformers import AutoTokenizer
from agentlab.models.embedded import converted_path
AutoTokenizer.from_pretrained(converted_path()).save_pretrained('.gpu/tokenizer')"
    # the lent machine's Python is 3.12; these are what agentlab imports that it lacks
    python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
      langchain-core langsmith jsonpatch jsonpointer tenacity pydantic pydantic-core annotated-types \
      typing-inspection orjson requests-toolbelt zstandard ipywidgets traitlets comm widgetsnbextension \
      jupyterlab-widgets datasets dill multiprocess pyarrow xxhash math-verify latex2sympy2-extended \
      antlr4-python3-runtime sqlite-vec 2>/dev/null || true
    du -sh .gpu .whl
    exit 0 ;;
  --dry)
    exec python benchmarks/throughput.py --items 2 --agents 2 --rounds 2 --max-new-tokens 4 \
      --batch-size 8 --arms c,a,flat,vllm --a-items 1 ;;
esac
if [ -d .whl ] && ! python -c "import langchain_core" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
timeout 560 python benchmarks/throughput.py --shape qwen2.5-0.5b --tokenizer .gpu/tokenizer \
  --items 200 --agents 5 --rounds 2 --max-new-tokens 64 --arms c,a,flat,vllm --a-items 10
