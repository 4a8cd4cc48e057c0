#!/usr/bin/env bash
# Issue 16, after run_ablation.sh: (1) the svm_epf rows of the Salinas-A random:5 table (code of
# commit 336f685, worktree /work/tables2; every other cell of that table is reused as it is);
# (2) the leakage-free (disjoint) tables, every model incl. svm_epf, recipes paper / mssfe /
# mssfe:ssl=inductive, 5 seeds, one scene per directory (resumable across sessions).
set -euo pipefail
export OMP_NUM_THREADS=1
while pgrep -f run_ablation.sh >/dev/null; do sleep 60; done
cd /work/tables2
M=.venv/bin/mssfe
L=(--seeds 5 --epochs 100 --patience 20 --max-test 3000 --jobs 2 --threads 1 --no-progress)
$M benchmark --scenes SalinasA --models all --split random:5 "${L[@]}" \
    --recipe paper mssfe mssfe:ssl=none --out /work/tables-out/sa_limited
cp /work/tables-out/sa_limited/results.md /work/tables-out/sa_limited_all.md
cp /work/tables-out/sa_limited/results.json /work/tables-out/sa_limited_all.json
for s in SalinasA PaviaU-sim IndianPines-sim; do
  $M benchmark --scenes $s --models all --split disjoint "${L[@]}" \
      --recipe paper mssfe mssfe:ssl=inductive --out /work/tables-out/disjoint_$s
done
