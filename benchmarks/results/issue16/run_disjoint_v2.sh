#!/usr/bin/env bash
# Issue 16, session 10: the disjoint Salinas-A row continued in one process (the table's lock).
# (1) mssfe@2 (the published v2: one common input scale, no SSL) for the two networks with a
#     PCA input whose v1 rows lose Lettuce romaine 6 wk (MS²FENet, SSFTT); the 3-D CNN (raw bands)
#     and the SVMs take no input-scale part, so their v2 rows would repeat mssfe:ssl=none / mssfe;
# (2) the rest of the recipe ablation of MS²FENet under mssfe v1 (one part removed at a time);
# (3) the remaining networks (SSRN, A2S2K-ResNet, HybridSN) under paper, mssfe and mssfe@2.
# Same code (commit ce18d89, worktree /work/tables4), splits, guard band, budget and test pixels
# as run_disjoint.sh; resumable.
set -euo pipefail
cd /work/tables4
export PYTHONPATH=/work/tables4/src OMP_NUM_THREADS=1
M="/work/main/.venv/bin/python -m mssfe"
C=(--split disjoint --guard-patch 25 --seeds 5 --epochs 30 --patience 10 --max-test 3000 --jobs ${JOBS:-2} --threads 1 --no-progress)
O=/work/tables-out/disjoint_SalinasA
$M benchmark --scenes SalinasA --models ms2fenet ssftt "${C[@]}" --recipe mssfe@2 --out $O
$M benchmark --scenes SalinasA --models ms2fenet "${C[@]}" --recipe mssfe:selection=val \
    mssfe:ema=0 mssfe:spectral_augment=0 mssfe:mix=0 mssfe:class_balance=none --out $O
$M benchmark --scenes SalinasA --models ssrn a2s2k hybridsn "${C[@]}" --recipe paper mssfe mssfe@2 --out $O
