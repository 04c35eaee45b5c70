#!/usr/bin/env bash
# Create bench/peers/.venv-recbole: RecBole 1.2.1 on the CPU torch build, with pinned versions.
#
# RecBole is installed with --no-deps and its needs are pinned here one by one, because its
# wheel's metadata asks for ray<=2.6.3 (imported only by recbole.quick_start, which the runner
# does not use: it drives Config/create_dataset/data_preparation/Trainer itself), thop and plotly
# (imported lazily by get_flops and the hyper-parameter tuner, also unused). What is imported on
# the runner's path is pinned:
#   numpy<2        recbole/config/configurator.py aliases np.float = np.float_ etc., gone in numpy 2
#   torch==2.13.0  the local CPU wheel (a looser pin pulls a multi-GB CUDA build)
#   tensorboard    recbole/utils/utils.py imports torch.utils.tensorboard at module level
#   colorlog, colorama  pinned to the versions RecBole's metadata names (==4.7.2, ==0.4.4)
#   texttable, pyyaml, tqdm, scipy, pandas, scikit-learn  imported at module level
#   polars         only for seqrec's own metric code (src/ on sys.path), used for early stopping
# Patches needed for current torch are applied at run time by recbole_run.py (see its header).
#
# usage: bash bench/peers/setup_recbole.sh [PYTHON]   (default python3.11)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-recbole"
python="${1:-python3.11}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/pip" install -q --upgrade "pip<26"
"$venv/bin/pip" install -q \
    "torch==2.13.0" \
    "numpy==1.26.4" \
    "scipy==1.13.1" \
    "pandas==2.2.3" \
    "scikit-learn==1.5.2" \
    "tqdm==4.67.1" \
    "pyyaml==6.0.2" \
    "colorlog==4.7.2" \
    "colorama==0.4.4" \
    "texttable==1.7.0" \
    "tensorboard==2.18.0" \
    "polars==2.1.0"
"$venv/bin/pip" install -q --no-deps "recbole==1.2.1"
"$venv/bin/python" - <<'PY'
import numpy, recbole, torch
assert numpy.__version__.startswith("1."), numpy.__version__
if not torch.__version__.endswith("+cpu"):
    print(f"warning: torch {torch.__version__} is not the CPU build")
print(f"recbole {recbole.__version__}, torch {torch.__version__}, numpy {numpy.__version__}")
PY
