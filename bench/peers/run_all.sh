#!/usr/bin/env bash
# Run the peer harness: export seqrec's split, train every (library, model, config, seed) one job
# at a time (never two timed runs at once), then score them all with seqrec's evaluation.
#
# usage: bash bench/peers/run_all.sh [--cap-minutes 60] [--models sasrec,gru4rec,bert4rec]
#            [--seeds 0] [--configs defaults,matched] [--libraries seqrec,recbole,rectools]
#            [--threads 1] [--runs bench/peers/work/runs] [--out bench/results] [--name peers]
#            [--skip-existing]
#
# seqrec additionally runs its `bench` config (the one bench/neural_ml100k.py chose) and its
# `recipe` (configs/recipes/ml-100k.toml) unless --configs is given without them. The virtual environments are created on first use
# (setup_recbole.sh, setup_rectools.sh). Logs: <runs>/<run>.log.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cap=60
models="sasrec,gru4rec,bert4rec"
seeds="0"
configs="defaults,matched"
seqrec_configs=""
libraries="seqrec,recbole,rectools"
threads=1
runs="$here/work/runs"
out="$repo/bench/results"
name="peers"
skip_existing=0
while [ $# -gt 0 ]; do
    case "$1" in
        --cap-minutes) cap="$2"; shift 2 ;;
        --models) models="$2"; shift 2 ;;
        --seeds) seeds="$2"; shift 2 ;;
        --configs) configs="$2"; seqrec_configs="$2"; shift 2 ;;
        --libraries) libraries="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --name) name="$2"; shift 2 ;;
        --skip-existing) skip_existing=1; shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
seqrec_configs="${seqrec_configs:-$configs,bench,recipe}"
mkdir -p "$runs"
cd "$repo"
seqrec_python="$repo/.venv/bin/python"
"$seqrec_python" "$here/export.py"

python_for() {
    case "$1" in
        seqrec) echo "$seqrec_python" ;;
        recbole)
            [ -x "$here/.venv-recbole/bin/python" ] || bash "$here/setup_recbole.sh" >&2
            echo "$here/.venv-recbole/bin/python" ;;
        rectools)
            [ -x "$here/.venv-rectools/bin/python" ] || bash "$here/setup_rectools.sh" >&2
            echo "$here/.venv-rectools/bin/python" ;;
        *) echo "unknown library $1" >&2; exit 2 ;;
    esac
}

IFS=, read -r -a library_list <<< "$libraries"
IFS=, read -r -a model_list <<< "$models"
IFS=, read -r -a seed_list <<< "$seeds"
for library in "${library_list[@]}"; do
    python="$(python_for "$library")"
    library_configs="$configs"
    [ "$library" = seqrec ] && library_configs="$seqrec_configs"
    IFS=, read -r -a config_list <<< "$library_configs"
    for model in "${model_list[@]}"; do
        if [ "$library" = rectools ] && [ "$model" = gru4rec ]; then
            echo "skip rectools gru4rec: GRU4Rec is not in RecTools 0.19"
            continue
        fi
        for config in "${config_list[@]}"; do
            if { [ "$config" = bench ] || [ "$config" = recipe ]; } && [ "$library" != seqrec ]; then
                continue  # seqrec's own chosen configs; the peers have defaults and matched
            fi
            for seed in "${seed_list[@]}"; do
                run="${library}_${model}_${config}_seed${seed}"
                if [ "$skip_existing" = 1 ] && [ -f "$runs/$run/run.json" ]; then
                    echo "skip $run (exists)"
                    continue
                fi
                echo "== $run (cap $cap min, $threads thread(s)), load $(cut -d' ' -f1-3 /proc/loadavg)"
                "$python" "$here/${library}_run.py" --model "$model" --config "$config" --seed "$seed" \
                    --threads "$threads" --cap-minutes "$cap" --out "$runs/$run" 2>&1 | tee "$runs/$run.log" \
                    | grep -E "epoch|split check|wrote|Error|error" || true
                [ -f "$runs/$run/run.json" ] || { echo "$run failed: see $runs/$run.log" >&2; exit 1; }
            done
        done
    done
done
"$seqrec_python" "$here/score.py" --runs "$runs" --out "$out" --name "$name"
