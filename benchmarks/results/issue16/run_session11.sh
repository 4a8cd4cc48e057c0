#!/usr/bin/env bash
# Issue 16, session 11 queue (code: commit b12153a, worktree /work/tables5; resumable, each step
# skips the cells already finished). After each step the finished cells are kept in the repo
# (benchmarks/keep_cells.py) so the next session can restore them. Order: the five rows that
# decide the default recipe (docs/recipes.md) first, then the random:5 ablation, then rivals.
set -euo pipefail
cd /work/tables5
export PYTHONPATH=/work/tables5/src OMP_NUM_THREADS=1
M="/work/main/.venv/bin/python -m mssfe"
K="/work/main/.venv/bin/python /work/main/benchmarks/keep_cells.py"
KEEP=/work/main/benchmarks/results/issue16/cells
J=(--jobs ${JOBS:-2} --threads 1 --no-progress)
while pgrep -f "out /work/tables-out/disjoint_PaviaU-sim" >/dev/null; do sleep 20; done
D=(--guard-patch 25 --seeds 5 --epochs 30 --patience 10 --max-test 3000 --recipe mssfe mssfe@2)
row() {  # scene split models...: one disjoint row, kept after it ran
    local scene=$1 split=$2; shift 2
    $M benchmark --scenes $scene --split $split --models "$@" "${D[@]}" "${J[@]}" --out /work/tables-out/disjoint_$scene
    $K save /work/tables-out/disjoint_$scene $KEEP/disjoint_$scene
}
# (1) MS²FENet under v1 and v2 on the three simulated disjoint rows (paper: the issue-6 tables)
row PaviaU-sim disjoint:0.01:block=5 ms2fenet
row Salinas-sim disjoint:0.01:block=5 ms2fenet
row IndianPines-sim disjoint ms2fenet
# (2) the recipe ablation on real Salinas-A random:5 (issue 16, item 3), MS²FENet, 100 epochs
SA=(--scenes SalinasA --models ms2fenet --split random:5 --seeds 5 --epochs 100 --patience 20 --max-test 3000)
O2=/work/tables-out/sa_limited
$M benchmark "${SA[@]}" --recipe mssfe mssfe:selection=val mssfe:ema=0 mssfe:spectral_augment=0 \
    mssfe:mix=0 mssfe:class_balance=none mssfe:ssl=none mssfe@2 paper "${J[@]}" --out $O2
$K save $O2 $KEEP/sa_limited
# (3) the rivals on the simulated disjoint rows: cheap ones first
for m in "svm svm_epf ssftt cnn3d" "ssrn" "a2s2k" "hybridsn"; do
    row PaviaU-sim disjoint:0.01:block=5 ms2fenet $m
    row Salinas-sim disjoint:0.01:block=5 ms2fenet $m
    row IndianPines-sim disjoint ms2fenet $m
done
