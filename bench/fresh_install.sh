#!/usr/bin/env bash
# The base install works: a clean clone of HEAD, a fresh virtual environment, a plain
# `pip install .` (no extras), then the main job on the tiny shop world. Output and timing go
# to bench/results/fresh_install.log.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
log="$root/bench/results/fresh_install.log"
{
  echo "# fresh install check: $(date -u +%FT%TZ) on $(hostname) ($(nproc) cores), commit $(git -C "$root" rev-parse --short HEAD)"
  echo "# command: bash bench/fresh_install.sh"
  git clone -q "$root" "$work/seqrec"
  python3 -m venv "$work/venv"
  start=$(date +%s)
  "$work/venv/bin/pip" install -q "$work/seqrec" 2>&1 | grep -v "^WARNING: Location" || true
  echo "pip install . took $(( $(date +%s) - start )) s"
  "$work/venv/bin/pip" list 2>/dev/null | grep -iE "^(seqrec|implicit|torch) " || true
  cd "$work"
  start=$(date +%s)
  COLUMNS=120 "$work/venv/bin/seqrec" walkthrough --size tiny --out "$work/out" --threads 1
  echo "seqrec walkthrough --size tiny took $(( $(date +%s) - start )) s; files: $(ls "$work/out" | tr '\n' ' ')"
  start=$(date +%s)
  COLUMNS=120 "$work/venv/bin/seqrec" benchmark --dataset shop:tiny --models popularity,als,markov --out "$work/out" --threads 1
  echo "seqrec benchmark --dataset shop:tiny took $(( $(date +%s) - start )) s"
} 2>&1 | tee "$log.tmp"
mv "$log.tmp" "$log"
