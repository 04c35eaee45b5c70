#!/usr/bin/env bash
# Use it for real, from nothing: a clean clone of HEAD, a fresh virtual environment with a plain
# `pip install .`, then `seqrec train sasrec --dataset ml-100k --out m`, `seqrec recommend m
# --history h.csv`, and `seqrec serve m` answering /health and /recommend on 127.0.0.1.
# Output goes to bench/results/fresh_train_serve.log.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
log="$root/bench/results/fresh_train_serve.log"
{
  echo "# fresh train/recommend/serve: $(date -u +%FT%TZ) on $(hostname) ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)), commit $(git -C "$root" rev-parse --short HEAD)"
  echo "# command: bash bench/fresh_train_serve.sh"
  git clone -q "$root" "$work/seqrec"
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install -q "$work/seqrec" 2>&1 | grep -v "^WARNING: Location" || true
  seqrec="$work/venv/bin/seqrec"
  cd "$work/seqrec"   # configs/ml-100k.toml is read from here
  start=$(date +%s)
  COLUMNS=120 "$seqrec" train sasrec --dataset ml-100k --out "$work/m" --threads 1 2>&1 | grep -v "epoch .*/" | tail -5
  echo "seqrec train sasrec --dataset ml-100k --out m took $(( $(date +%s) - start )) s; artifact: $(du -sh "$work/m" | cut -f1)"
  printf 'item,timestamp\n"Star Wars (1977)",1\n"Empire Strikes Back, The (1980)",2\n"Return of the Jedi (1983)",3\n' > "$work/h.csv"
  COLUMNS=120 "$seqrec" recommend "$work/m" --history "$work/h.csv" -k 5 --exclude-seen
  "$seqrec" serve "$work/m" --port 0 > "$work/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 1 120); do grep -q "^seqrec serving" "$work/serve.log" && break; sleep 0.5; done
  url=$(grep "^seqrec serving" "$work/serve.log" | awk '{print $3}')
  echo "server: $url"
  "$work/venv/bin/python" - "$url" <<'PY'
import json, sys, urllib.request
url = sys.argv[1]
print("GET /health ->", urllib.request.urlopen(f"{url}/health", timeout=10).status)
body = json.dumps({"history": ["Star Wars (1977)", "Return of the Jedi (1983)"], "k": 3}).encode()
request = urllib.request.Request(f"{url}/recommend", body, {"Content-Type": "application/json"})
answer = json.loads(urllib.request.urlopen(request, timeout=10).read())
print("POST /recommend ->", [(entry["rank"], entry["title"]) for entry in answer["items"]])
PY
} 2>&1 | tee "$log.tmp"
mv "$log.tmp" "$log"
