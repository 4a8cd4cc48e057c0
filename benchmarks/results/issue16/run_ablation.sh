#!/usr/bin/env bash
# Issue 16, recipe ablation: MS²FENet on real Salinas-A random:5, the mssfe recipe with each part
# removed in turn (TTA off: the mssfe runs evaluated with --no-tta, see eval_no_tta.sh). Same code (commit 5263ebd, worktree
# /work/tables), splits, test pixels and budget as run_limited.sh; resumable.
set -euo pipefail
cd /work/tables
export OMP_NUM_THREADS=1
while pgrep -f run_limited.sh >/dev/null; do sleep 60; done
cp /work/tables-out/sa_limited/results.md /work/tables-out/sa_limited_all.md
cp /work/tables-out/sa_limited/results.json /work/tables-out/sa_limited_all.json
.venv/bin/mssfe benchmark --scenes SalinasA --models ms2fenet --split random:5 --seeds 5 --epochs 100 \
    --patience 20 --max-test 3000 --recipe mssfe mssfe:selection=val mssfe:ema=0 \
    mssfe:spectral_augment=0 mssfe:mix=0 mssfe:class_balance=none mssfe:ssl=none \
    --jobs 2 --threads 1 --no-progress --out /work/tables-out/sa_limited
cp /work/tables-out/sa_limited/results.md /work/tables-out/sa_ablation.md
cp /work/tables-out/sa_limited/results.json /work/tables-out/sa_ablation.json
