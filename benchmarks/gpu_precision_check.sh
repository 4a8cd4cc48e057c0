#!/bin/bash
# Every network on one GPU in each precision, then its full-scene map on the GPU:
# `mssfe train --device cuda --precision P` (real Salinas-A, random 10%, seed 0, a short budget)
# and `mssfe predict RUN --device cuda`. Prints, per (model, precision), the test OA the run
# recorded, its training seconds and whether the map was written; a failure prints its error.
#
#   OUT=gpu_out EPOCHS=10 bash benchmarks/gpu_precision_check.sh     # DEVICE=cpu for a dry run
set -uo pipefail
OUT=${OUT:-gpu_out}
MSSFE=${MSSFE:-python3 -m mssfe}
DEVICE=${DEVICE:-cuda}
EPOCHS=${EPOCHS:-10}
MODELS=${MODELS:-ms2fenet cnn3d ssrn hybridsn a2s2k ssftt}
PRECISIONS=${PRECISIONS:-32 bf16 16}
mkdir -p "$OUT/runs"
echo "| model | precision | test OA % | train s | map |" | tee "$OUT/precision.md"
echo "|---|---|---|---|---|" | tee -a "$OUT/precision.md"
for model in $MODELS; do
  for p in $PRECISIONS; do
    root="$OUT/runs/$model-$p"
    if ! $MSSFE train --scene SalinasA --model "$model" --split random:0.1 --seed 0 \
        --epochs "$EPOCHS" --patience "$EPOCHS" --device "$DEVICE" --precision "$p" \
        --no-progress --out "$root" > "$root.log" 2>&1; then
      echo "| $model | $p | train failed: $(tail -1 "$root.log") | | |" | tee -a "$OUT/precision.md"
      continue
    fi
    run=$(dirname "$(find "$root" -name metrics.json | head -1)")
    read -r oa secs < <(python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(round(100*m['metrics']['oa'],2), round(m['train_seconds'],1))" "$run/metrics.json")
    if $MSSFE predict "$run" --device "$DEVICE" --no-progress --out "$root-map" > "$root-map.log" 2>&1; then
      map="$(ls "$root-map" | tr '\n' ' ')"
    else
      map="predict failed: $(tail -1 "$root-map.log")"
    fi
    echo "| $model | $p | $oa | $secs | $map |" | tee -a "$OUT/precision.md"
  done
done
