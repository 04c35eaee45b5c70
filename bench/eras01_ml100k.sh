#!/usr/bin/env bash
# Eras 0-1 on ML-100K: tune every model on the validation split (trial 0 = its defaults), then
# benchmark the tuned configs on the test split (leave-one-out, full ranking, history excluded).
# Usage: bash bench/eras01_ml100k.sh [TRIALS] [THREADS]
set -euo pipefail
trials=${1:-12}
threads=${2:-1}
models="popularity als markov markov-k seq-rules item-knn sknn v-sknn item2vec bpr fpmc fossil transrec"
for model in $models; do
  seqrec tune "$model" --dataset ml-100k --split loo --trials "$trials" --threads "$threads"
done
seqrec benchmark --dataset ml-100k --split loo --tuned --threads "$threads" --models "$(echo $models | tr ' ' ',')"
seqrec benchmark --dataset ml-100k --split temporal --threads "$threads" --models "$(echo $models | tr ' ' ',')" \
  --tuned
