#!/usr/bin/env bash
# Create bench/peers/.venv-rectools: RecTools 0.19.0 with its torch extra (SASRecModel,
# BERT4RecModel on pytorch-lightning), pinned versions, the CPU torch build.
#   torch==2.13.0  the local CPU wheel (a looser pin pulls a multi-GB CUDA build)
#   numpy<2        RecTools 0.19 asks for numpy<2 on Python < 3.12
#   pytorch-lightning==2.5.2  the newest RecTools 0.19 allows
#   polars         only for seqrec's own metric code (src/ on sys.path), used for early stopping
#
# usage: bash bench/peers/setup_rectools.sh [PYTHON]   (default python3.11)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-rectools"
python="${1:-python3.11}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/pip" install -q --upgrade "pip<26"
"$venv/bin/pip" install -q \
    "torch==2.13.0" \
    "numpy==1.26.4" \
    "pandas==2.2.3" \
    "pytorch-lightning==2.5.2" \
    "polars==2.1.0" \
    "rectools[torch]==0.19.0"
"$venv/bin/python" - <<'PY'
import numpy, rectools, torch, pytorch_lightning
if not torch.__version__.endswith("+cpu"):
    print(f"warning: torch {torch.__version__} is not the CPU build")
print(
    f"rectools {rectools.__version__}, pytorch-lightning {pytorch_lightning.__version__}, "
    f"torch {torch.__version__}, numpy {numpy.__version__}"
)
PY
