#!/usr/bin/env bash
# Issue 16, the leakage-free rows: real Salinas-A disjoint (25 x 25 blocks, guard band for the
# largest patch of all models: HybridSN 25 x 25), recipes paper and mssfe (v1, transductive SSL), 5 seeds, the issue-6 budget
# (30 epochs, patience 10), 3,000 test pixels per seed. Code of commit ce18d89 (worktree
# /work/tables4). Cheap models first; resumable. Run as `JOBS=1 bash run_disjoint.sh` beside run_v1_fresh.sh.
set -euo pipefail
# (ran beside run_v1_fresh.sh with one job at first, then two)
cd /work/tables4
export PYTHONPATH=/work/tables4/src OMP_NUM_THREADS=1
M="/work/main/.venv/bin/python -m mssfe"
C=(--split disjoint --guard-patch 25 --seeds 5 --epochs 30 --patience 10 --max-test 3000 --jobs ${JOBS:-2} --threads 1 --no-progress)
O=/work/tables-out/disjoint_SalinasA
$M benchmark --scenes SalinasA --models ms2fenet svm svm_epf ssftt cnn3d "${C[@]}" --recipe paper mssfe --out $O
$M benchmark --scenes SalinasA --models ms2fenet ssrn "${C[@]}" --recipe paper mssfe --out $O
$M benchmark --scenes SalinasA --models all "${C[@]}" --recipe paper mssfe --out $O
