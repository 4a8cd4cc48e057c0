#!/usr/bin/env bash
# Issue 16, session 11: what this session queued, in order (code: commit b12153a, worktree
# /work/tables5; resumable: each step skips the cells already finished).
# mssfe stays v1 (docs/recipes.md), so the rivals run under `mssfe` (v1) first; their v2 rows later.
# (1) MS²FENet under paper and mssfe:ssl=none on the simulated disjoint rows; (2) the random:5
# ablation; (3) the rivals under mssfe, cheap ones first; (4) Salinas-A disjoint rivals under
# mssfe (the session-10 runs were lost with the machine). Cells kept in the repo after each step.
# On a fresh machine put the kept cells back first (then this script trains only what is missing):
#   for d in benchmarks/results/issue16/cells/*/; do
#       python benchmarks/keep_cells.py restore $d /work/tables-out/$(basename $d); done
set -euo pipefail
cd /work/tables5
export PYTHONPATH=/work/tables5/src OMP_NUM_THREADS=1
M="/work/main/.venv/bin/python -m mssfe"
K="/work/main/.venv/bin/python /work/main/benchmarks/keep_cells.py"
KEEP=/work/main/benchmarks/results/issue16/cells
J=(--jobs ${JOBS:-2} --threads 1 --no-progress)
D=(--guard-patch 25 --seeds 5 --epochs 30 --patience 10 --max-test 3000)
row() {  # scene split recipes models...: one disjoint row, kept after it ran
    local scene=$1 split=$2 recipes=$3; shift 3
    $M benchmark --scenes $scene --split $split --models "$@" "${D[@]}" --recipe $recipes "${J[@]}" --out /work/tables-out/disjoint_$scene
    $K save /work/tables-out/disjoint_$scene $KEEP/disjoint_$scene
}
SIM=("PaviaU-sim disjoint:0.01:block=5" "Salinas-sim disjoint:0.01:block=5" "IndianPines-sim disjoint")
# (0) MS²FENet under mssfe v1 and mssfe@2: the rows that decided the default (recipe_rule.md)
for r in "${SIM[@]}"; do row $r "mssfe mssfe@2" ms2fenet; done
for r in "${SIM[@]}"; do row $r "paper mssfe:ssl=none" ms2fenet; done
SA=(--scenes SalinasA --models ms2fenet --split random:5 --seeds 5 --epochs 100 --patience 20 --max-test 3000)
O2=/work/tables-out/sa_limited
$M benchmark "${SA[@]}" --recipe mssfe mssfe:selection=val mssfe:ema=0 mssfe:spectral_augment=0 \
    mssfe:mix=0 mssfe:class_balance=none mssfe:ssl=none mssfe@2 paper "${J[@]}" --out $O2
$K save $O2 $KEEP/sa_limited
for r in "${SIM[@]}"; do row $r mssfe svm svm_epf ssftt cnn3d; done
for r in "${SIM[@]}"; do row $r mssfe ssrn; done
row SalinasA disjoint mssfe ms2fenet ssrn a2s2k hybridsn
for r in "${SIM[@]}"; do row $r mssfe a2s2k hybridsn; done
for r in "${SIM[@]}"; do row $r mssfe@2 svm svm_epf ssftt cnn3d ssrn a2s2k hybridsn; done
