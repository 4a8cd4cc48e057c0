#!/usr/bin/env bash
# Issue 16, after run_ablation.sh: (1) the svm_epf rows of the Salinas-A random:5 table (code of
# commit 336f685, worktree /work/tables2; every other cell of that table is reused as it is);
# (2) the leakage-free (disjoint) tables, every model incl. svm_epf, recipes paper / mssfe,
# 5 seeds, the issue-6 budget (30 epochs, patience 10) so each row re-runs an issue-6 row, one
# scene per directory (resumable across sessions; ~a day of CPU in all on 2 cores).
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
C=(--seeds 5 --epochs 30 --patience 10 --max-test 3000 --jobs 2 --threads 1 --no-progress)
$M benchmark --scenes SalinasA --models all --split disjoint "${C[@]}" \
    --recipe paper mssfe --out /work/tables-out/disjoint_SalinasA
$M benchmark --scenes PaviaU-sim --models all --split disjoint:0.01:block=5 "${C[@]}" \
    --recipe paper mssfe --out /work/tables-out/disjoint_PaviaU-sim
$M benchmark --scenes Salinas-sim --models all --split disjoint:0.01:block=5 "${C[@]}" \
    --recipe paper mssfe --out /work/tables-out/disjoint_Salinas-sim
$M benchmark --scenes IndianPines-sim --models all --split disjoint "${C[@]}" \
    --recipe paper mssfe --out /work/tables-out/disjoint_IndianPines-sim
# (3) every model under its own paper's budget (no --epochs/--patience: the registry's epochs,
# batch, optimiser), recipe paper, the same disjoint splits: `mssfe compare --best-of` then
# takes each baseline at the better of the two budgets.
O=(--seeds 5 --max-test 3000 --jobs 2 --threads 1 --no-progress --recipe paper)
$M benchmark --scenes SalinasA --models all --split disjoint "${O[@]}" --out /work/tables-out/own_SalinasA
$M benchmark --scenes PaviaU-sim --models all --split disjoint:0.01:block=5 "${O[@]}" --out /work/tables-out/own_PaviaU-sim
$M benchmark --scenes Salinas-sim --models all --split disjoint:0.01:block=5 "${O[@]}" --out /work/tables-out/own_Salinas-sim
$M benchmark --scenes IndianPines-sim --models all --split random:0.1 disjoint "${O[@]}" --out /work/tables-out/own_IndianPines-sim
