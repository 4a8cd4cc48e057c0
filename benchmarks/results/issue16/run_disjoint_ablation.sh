#!/usr/bin/env bash
# Issue 16, session 10: the disjoint Salinas-A row continued in one process (the table's lock):
# (1) the last two cnn3d mssfe cells, (2) the recipe ablation on this disjoint row — MS²FENet under
# mssfe v1 with each part removed in turn (SSL first: the suspect), 3-D CNN without SSL, (3) the
# remaining networks (SSRN, A2S2K-ResNet, HybridSN) under paper and mssfe. Same code (commit
# ce18d89, worktree /work/tables4), splits, guard band, budget and test pixels as run_disjoint.sh;
# resumable. The TTA part is ablated by `mssfe evaluate --no-tta` on the finished mssfe runs.
set -euo pipefail
cd /work/tables4
export PYTHONPATH=/work/tables4/src OMP_NUM_THREADS=1
M="/work/main/.venv/bin/python -m mssfe"
C=(--split disjoint --guard-patch 25 --seeds 5 --epochs 30 --patience 10 --max-test 3000 --jobs ${JOBS:-2} --threads 1 --no-progress)
O=/work/tables-out/disjoint_SalinasA
$M benchmark --scenes SalinasA --models cnn3d "${C[@]}" --recipe mssfe --out $O
$M benchmark --scenes SalinasA --models ms2fenet cnn3d "${C[@]}" --recipe mssfe:ssl=none --out $O
$M benchmark --scenes SalinasA --models ms2fenet "${C[@]}" --recipe mssfe:selection=val \
    mssfe:ema=0 mssfe:spectral_augment=0 mssfe:mix=0 mssfe:class_balance=none --out $O
$M benchmark --scenes SalinasA --models ssrn a2s2k hybridsn "${C[@]}" --recipe paper mssfe --out $O
