#!/usr/bin/env bash
# The GPU check of the local model paths, for a lent H100/H200, unattended in under 8 minutes:
#   1. the model tests on CUDA (tests/models, fast ones, and the static-generation ones);
#   2. random weights of the Qwen2.5-0.5B and -1.5B shapes, a star of 5 agents over 2 rounds on
#      200 (0.5B) and 100 (1.5B) arithmetic items, <= 64 new tokens a call (every call makes all
#      64), every arm with its own time limit, one table per shape:
#        (c) agentlab's engine,  (a) one call at a time (timed on 10 items, scaled),
#        flat: transformers' generate_batch on the engine's calls,  vllm: the engine on kind: vllm,
#        (s, 0.5B only) the engine on generation="static" (CUDA graphs; its compiling pass apart).
#
#   bash benchmarks/gpu_check.sh --prepare   # here, with the network: the tokenizer and the wheels to carry
#   bash benchmarks/gpu_check.sh             # there: carry .gpu (the tokenizer and the wheels) along
#   bash benchmarks/gpu_check.sh --dry       # anywhere: every arm at a tiny size, on a CPU too (CI runs it)
#
# The lent machine has torch (CUDA), an older transformers and a few of the rest (pyarrow,
# xxhash, aiohttp, torch-geometric); it lacks langchain-core and pydantic, and cannot download.
# --prepare fetches, for its Python 3.12, what agentlab imports that such a machine lacks (under
# 40 MB: the torch stack and the packages every Python install has are left out); there they are
# installed into a virtual environment that sees the machine's own packages. vLLM is too large to
# carry: where it is missing its arm says so.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=.gpu/wheels
case "${1:-}" in
  --prepare)
    mkdir -p .gpu/tokenizer "$WHEELS"
    python -c "
from transformers import AutoTokenizer
from agentlab.models.embedded import converted_path
AutoTokenizer.from_pretrained(converted_path()).save_pretrained('.gpu/tokenizer')"
    python -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
      --platform any -d "$WHEELS" \
      "transformers==5.25.0" "huggingface-hub>=2.4" "langchain-core==1.8.3" "pydantic>=2.7" pyyaml tqdm \
      "accelerate>=1.0" gguf pytest
    # what any CUDA machine with torch has already: its CUDA stack, numpy and the common ones
    for name in torch nvidia_ triton numpy sympy mpmath networkx jinja2 markupsafe fsspec filelock \
        setuptools typing_extensions psutil packaging certifi idna urllib3 charset_normalizer requests \
        xxhash pyarrow aiohttp; do
      rm -f "$WHEELS"/${name}*-*.whl
    done
    du -sh .gpu "$WHEELS"
    exit 0 ;;
  --dry)
    python benchmarks/throughput.py --items 2 --agents 2 --rounds 2 --max-new-tokens 4 \
      --batch-size 8 --arms c,a,flat,vllm,s --a-items 1 --arm-seconds 300
    exit 0 ;;
esac
if [ -d "$WHEELS" ] && ! python3 -c "import langchain_core" 2>/dev/null; then
  python3 -m venv --system-site-packages /tmp/agentlab-gpu
  /tmp/agentlab-gpu/bin/pip install -q --no-index --find-links "$WHEELS" \
    "transformers==5.25.0" "langchain-core==1.8.3" "pydantic>=2.7" pyyaml tqdm "accelerate>=1.0" gguf pytest
  export PATH="/tmp/agentlab-gpu/bin:$PATH"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader || true
python -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
echo "== model tests on $(python -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')"
timeout 80 python -m pytest -q -x -m "not slow" -p no:cacheprovider tests/models 2>&1 | tail -15 || echo "model tests: stopped (exit $?)"
echo "== static generation on $(python -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")') (compiled: CUDA graphs)"
timeout 60 python -m pytest -q -x -p no:cacheprovider tests/models/test_static_decode.py 2>&1 | tail -5 || echo "static tests: stopped (exit $?)"
# shape, items, arms, the shape's own time limit (s: up to 3 x 40 s, compiling its steps included)
for shape in "qwen2.5-0.5b 200 c,flat,a,vllm,s 210" "qwen2.5-1.5b 100 c,flat,a,vllm 110"; do
  set -- $shape
  echo "== $1, $2 items"
  timeout "$4" python benchmarks/throughput.py --shape "$1" --tokenizer .gpu/tokenizer --items "$2" \
    --agents 5 --rounds 2 --max-new-tokens 64 --arms "$3" --a-items 10 --arm-seconds 40 \
    || echo "$1: stopped (exit $?)"
done
