#!/usr/bin/env bash
# Issue 16 ablation on the disjoint row, TTA part: the five ms2fenet and cnn3d runs trained with
# --recipe mssfe on real Salinas-A disjoint, evaluated on their 3,000 test pixels without TTA
# (mssfe evaluate writes evaluation.json beside the run, never its metrics.json).
set -euo pipefail
cd /work/tables4
export PYTHONPATH=/work/tables4/src OMP_NUM_THREADS=1
for m in ms2fenet cnn3d; do
  for s in 0 1 2 3 4; do
    run=/work/tables-out/disjoint_SalinasA/SalinasA/disjoint/${m}_mssfe/seed$s
    echo "== $m seed $s --no-tta"
    /work/main/.venv/bin/python -m mssfe evaluate --no-tta "$run" | grep -E "OA|test"
  done
done
