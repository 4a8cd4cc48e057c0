#!/usr/bin/env bash
# Issue 16, recipe mssfe v2 (commit 03a7c36, worktree /work/tables3, run with the main venv's
# Python and PYTHONPATH=/work/tables3/src). Resumable: rerun the same command.
set -euo pipefail
cd /work/tables3
export PYTHONPATH=/work/tables3/src OMP_NUM_THREADS=1
M="/work/main/.venv/bin/python -m mssfe"
L=(--epochs 100 --patience 20 --max-test 3000 --jobs 2 --threads 1 --no-progress)
# A. real Salinas-A random:5, seeds 0-4 (the same splits and test pixels as the v1 table): MS²FENet under v2 and v2 + SSL
$M benchmark --scenes SalinasA --models ms2fenet --split random:5 --seeds 5 "${L[@]}" \
    --recipe mssfe mssfe:ssl=transductive --out /work/tables-out/sa_limited
# B. fresh seeds 5-9 (never looked at): paper, v1, v2 for MS²FENet and svm_epf first
$M benchmark --scenes SalinasA --models ms2fenet svm_epf --split random:5 --seed 5 6 7 8 9 "${L[@]}" \
    --recipe paper mssfe@1 mssfe --out /work/tables-out/sa_fresh
# A'. every model under v2 on seeds 0-4
$M benchmark --scenes SalinasA --models all --split random:5 --seeds 5 "${L[@]}" \
    --recipe mssfe --out /work/tables-out/sa_limited
# B'. the strongest rivals on the fresh seeds too
$M benchmark --scenes SalinasA --models ms2fenet a2s2k ssrn svm_epf --split random:5 --seed 5 6 7 8 9 "${L[@]}" \
    --recipe paper mssfe@1 mssfe --out /work/tables-out/sa_fresh
# C. ablation of v2 (MS²FENet): each part back to paper's value in turn
$M benchmark --scenes SalinasA --models ms2fenet --split random:5 --seeds 5 "${L[@]}" \
    --recipe mssfe:selection=val mssfe:ema=0 mssfe:spectral_augment=0 mssfe:mix=0 \
    mssfe:class_balance=none mssfe:input_scale=component mssfe:tta=false --out /work/tables-out/sa_limited
# D. leakage-free: real Salinas-A disjoint, every model, paper and v2, the issue-6 budget
C=(--seeds 5 --epochs 30 --patience 10 --max-test 3000 --jobs 2 --threads 1 --no-progress)
$M benchmark --scenes SalinasA --models ms2fenet --split disjoint "${C[@]}" \
    --recipe paper mssfe --out /work/tables-out/disjoint_SalinasA
$M benchmark --scenes SalinasA --models all --split disjoint "${C[@]}" \
    --recipe paper mssfe --out /work/tables-out/disjoint_SalinasA
