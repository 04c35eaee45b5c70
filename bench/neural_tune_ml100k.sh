#!/usr/bin/env bash
# Era 2 on ML-100K: tune each network with `seqrec tune` (Optuna TPE on the validation split only,
# trial 0 = the base config of configs/ml-100k.toml) under the same wall-time budget per model,
# then train the tuned config with 3 seeds and report test metrics (bench/neural_ml100k.py --tuned).
# Two streams run side by side, one thread each (the machine has 2 cores).
# Usage: bash bench/neural_tune_ml100k.sh [BUDGET_SECONDS] [MAX_TRIALS]
set -euo pipefail
budget=${1:-480}
trials=${2:-12}
cd "$(dirname "$0")/.."
logs=bench/results/tune_logs
mkdir -p "$logs"
stream() {
  for model in "$@"; do
    # One model failing must not stop the others in its stream: say so and go on.
    seqrec tune "$model" --dataset ml-100k --split loo --trials "$trials" --timeout "$budget" --threads 1 \
      > "$logs/$model.log" 2>&1 || echo "tune $model failed: see $logs/$model.log" >&2
  done
}
stream sasrec bert4rec narm caser cl4srec &
stream gru4rec nextitnet srgnn duorec &
wait
python bench/neural_ml100k.py --tuned --models sasrec,bert4rec,narm,caser,cl4srec --seeds 0,1,2 \
  --ablation-seeds '' --threads 1 --name neural_ml100k_tuned > "$logs/final_a.log" 2>&1 &
python bench/neural_ml100k.py --tuned --models gru4rec,nextitnet,srgnn,duorec --seeds 0,1,2 \
  --ablation-seeds '' --threads 1 --name neural_ml100k_tuned > "$logs/final_b.log" 2>&1 &
wait
python bench/neural_ml100k.py --assemble --name neural_ml100k_tuned
