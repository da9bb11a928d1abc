#!/usr/bin/env bash
# One prepared GPU check, about 8 minutes on one GPU (each step has its own time limit):
#   1. the CUDA parametrisations of the model tests (pytest -k cuda);
#   2. the benchmark tables of the compact and the paper model on cuda: fp32, bf16 and the
#      onnxruntime backend (CUDA / TensorRT execution providers where onnxruntime-gpu has them);
#   3. the ROS node end to end with device cuda (dualposenet benchmark --node);
#   4. training throughput (instances/s) of both models on a small synthetic set.
# JSON goes into docs/benchmarks/ (gpu_*.json; GPU_CHECK_OUT=folder elsewhere), with gpu_check.json
# listing each step's exit status and seconds. Without a CUDA GPU it says so and exits 0.
#   source tools/env.sh && tools/gpu_check.sh
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
if [[ -z "${VIRTUAL_ENV:-}" && -f tools/env.sh ]]; then
  # shellcheck disable=SC1091
  source tools/env.sh >/dev/null 2>&1 || true
fi
PYTHON=${PYTHON:-python}
OUT=${GPU_CHECK_OUT:-docs/benchmarks}

# GPU_CHECK_DEVICE=cpu: the same steps on the CPU, to check the script itself (no GPU numbers); with
# GPU_CHECK_STEP_SECONDS=N each step stops after N s (a quick check that every command line parses).
DEVICE=${GPU_CHECK_DEVICE:-cuda}
if [[ $DEVICE == cpu ]]; then
  gpu="cpu (dry run of the GPU check)"
elif ! gpu=$("$PYTHON" -c "import sys, torch
if not torch.cuda.is_available():
    sys.exit(1)
print(torch.cuda.get_device_name(0))" 2>/dev/null); then
  echo "gpu_check: no CUDA GPU on this machine (torch.cuda.is_available() is false): nothing checked"
  exit 0
fi
echo "gpu_check: $gpu"
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$((150 + RANDOM % 80))}
STEPS=()
failed=0

DEADLINE=${GPU_CHECK_SECONDS:-470}  # the whole check, seconds: each step gets at most what is left

# step NAME SECONDS COMMAND...: run with a time limit, record exit status and duration.
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((DEADLINE - SECONDS))
  (( limit > left )) && limit=$left
  [[ -n ${GPU_CHECK_STEP_SECONDS:-} ]] && (( limit > GPU_CHECK_STEP_SECONDS )) && limit=$GPU_CHECK_STEP_SECONDS
  if (( limit < 5 )); then
    echo "== $name: skipped (the check's ${DEADLINE}s are used up)"
    STEPS+=("{\"step\": \"$name\", \"exit\": null, \"seconds\": 0}")
    failed=1
    return
  fi
  echo "== $name (at most ${limit}s)"
  local start=$SECONDS
  timeout --kill-after=10 "$limit" "$@"
  local rc=$?
  local took=$((SECONDS - start))
  echo "== $name: exit $rc after ${took}s"
  STEPS+=("{\"step\": \"$name\", \"exit\": $rc, \"seconds\": $took}")
  [[ $rc -eq 0 ]] || failed=1
}

DPN=("$PYTHON" -m dualposenet_ros.cli)

step "cuda tests" 70 "$PYTHON" -m pytest -q -p no:cacheprovider -k cuda \
  test/test_network.py test/test_pipeline.py test/test_spherical.py
for preset in compact paper; do
  step "benchmark $preset" 40 "${DPN[@]}" benchmark --preset "$preset" --device "$DEVICE" --repeats 20 \
    --json "$OUT/gpu_$preset.json"
  step "options $preset" 55 "${DPN[@]}" benchmark --options fp32 bf16 onnxruntime --preset "$preset" --device "$DEVICE" \
    --repeats 20 --json "$OUT/options_${preset}_cuda.json"
done
step "node $DEVICE" 70 "${DPN[@]}" benchmark --node --device "$DEVICE" --repeats 20 --node-instances 1 6 \
  --json "$OUT/gpu_node.json"

# Training throughput: a small synthetic set, prepared once per map size, 60 steps per model.
step "train data" 30 "${DPN[@]}" synth --out "$WORK/synth" --train-scenes 24 --val-scenes 0 --images-per-scene 2 --quiet
for preset in compact paper; do
  step "prepare $preset" 25 "${DPN[@]}" prepare --data "$WORK/synth" --dataset CAMERA25 --split train \
    --out "$WORK/store_$preset" --config "$preset" --no-progress
  step "train $preset" 35 "${DPN[@]}" train --data "$WORK/store_$preset" --out "$WORK/run_$preset" --config "$preset" \
    --max-steps 60 --log-every 20 --batch-size 32 --device "$DEVICE" --no-progress
done
"$PYTHON" - "$WORK" "$OUT/gpu_train.json" "$gpu" <<'EOF'
import json, sys
from pathlib import Path
work, out, gpu = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
report = {"device": gpu, "batch_size": 32, "runs": {}}
for preset in ("compact", "paper"):
    path = work / f"run_{preset}" / "metrics.jsonl"
    if path.is_file():
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        rates = [line["instances_per_s"] for line in lines if line.get("kind") == "train"][1:]  # first: warm-up
        report["runs"][preset] = {"instances_per_s": rates, "steps": lines[-1]["step"] if lines else 0}
out.write_text(json.dumps(report, indent=2) + "\n")
print(f"wrote {out}")
EOF

summary=$(IFS=,; echo "${STEPS[*]}")
printf '{"device": "%s", "steps": [%s]}\n' "$gpu" "$summary" > "$OUT/gpu_check.json"
echo "gpu_check: wrote $OUT/gpu_check.json; $([[ $failed -eq 0 ]] && echo 'every step passed' || echo 'some step FAILED')"
exit $failed
