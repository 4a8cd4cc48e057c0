#!/usr/bin/env bash
# render the finished cells of the disjoint Salinas-A table into the repo (main table, ablation)
set -euo pipefail
cd /work/main
export OMP_NUM_THREADS=1
M=".venv/bin/python -m mssfe"
O=/work/tables-out/disjoint_SalinasA
R=/work/main/benchmarks/results/issue16
C=(--split disjoint --guard-patch 25 --seeds 5 --epochs 30 --patience 10 --max-test 3000 --jobs 2 --threads 1 --no-progress --out $O --finished-only)
$M benchmark --scenes SalinasA --models all "${C[@]}" --recipe paper mssfe mssfe@2 > /dev/null
mkdir -p $R/disjoint_SalinasA && cp $O/partial/results.{md,csv,json} $R/disjoint_SalinasA/
$M benchmark --scenes SalinasA --models ms2fenet "${C[@]}" --recipe mssfe mssfe:selection=val \
    mssfe:ema=0 mssfe:spectral_augment=0 mssfe:mix=0 mssfe:class_balance=none mssfe:ssl=none mssfe@2 paper > /dev/null
mkdir -p $R/disjoint_SalinasA_ablation && cp $O/partial/results.{md,csv,json} $R/disjoint_SalinasA_ablation/
