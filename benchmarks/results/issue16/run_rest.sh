#!/usr/bin/env bash
# Issue 16: every table still to run, in the order that matters for the issue's targets, for the
# sessions after session 11. Resumable: the kept cells (cells/) are restored first, every step
# skips finished cells, and after each step its finished cells are kept again (commit them).
# On 2 shared cores this is several sessions of CPU; each step names its rough cost.
#
#   git worktree add --detach /work/tables-code HEAD   # the code the cells are trained with
#   nohup bash benchmarks/results/issue16/run_rest.sh >> /work/tables-out/run_rest.log 2>&1 &
set -euo pipefail
REPO=${REPO:-/work/main}
CODE=${CODE:-/work/tables-code}
OUT=${OUT:-/work/tables-out}
KEEP=$REPO/benchmarks/results/issue16/cells
cd "$CODE"
echo "== $(date -u '+%F %T') run_rest.sh, code $(git -C "$CODE" rev-parse --short HEAD)"
export PYTHONPATH=$CODE/src OMP_NUM_THREADS=1
M="$REPO/.venv/bin/python -m mssfe"
K="$REPO/.venv/bin/python $REPO/benchmarks/keep_cells.py"
J=(--jobs ${JOBS:-2} --threads 1 --no-progress)
D=(--guard-patch 25 --seeds 5 --epochs 30 --patience 10 --max-test 3000)
for kept in "$KEEP"/*/; do
    $K restore "$kept" "$OUT/$(basename "$kept")"
done
row() {  # name scene split recipes models...: one table row, kept after it ran
    local name=$1 scene=$2 split=$3 recipes=$4; shift 4
    $M benchmark --scenes $scene --split $split --models "$@" "${D[@]}" --recipe $recipes \
        "${J[@]}" --out $OUT/$name
    $K save $OUT/$name $KEEP/$name
}
SIM=("PaviaU-sim disjoint:0.01:block=5" "Salinas-sim disjoint:0.01:block=5" "IndianPines-sim disjoint")
# (1) the disjoint rows: every network under mssfe (v1, the default), cheap models first
#     (~1 h for the cheap four; SSRN ~1.5 h; Salinas-A's three ~3 h; A2S2K and HybridSN on the
#     simulated rows ~10 h: IndianPines-sim's test pass with TTA runs at ~5 pixels/s for them)
for r in "${SIM[@]}"; do set -- $r; row disjoint_$1 $1 $2 mssfe svm svm_epf ssftt cnn3d; done
for r in "${SIM[@]}"; do set -- $r; row disjoint_$1 $1 $2 mssfe ssrn; done
row disjoint_SalinasA SalinasA disjoint mssfe ms2fenet ssrn a2s2k hybridsn
for r in "${SIM[@]}"; do set -- $r; row disjoint_$1 $1 $2 mssfe a2s2k hybridsn; done
# (2) limited data, 10 and 20 labelled pixels per class (real Salinas-A, every model, both
#     recipes; the 5-per-class row is sa_limited/): ~4 h
L=(--seeds 5 --epochs 100 --patience 20 --max-test 3000)
$M benchmark --scenes SalinasA --models all --split random:10 random:20 "${L[@]}" \
    --recipe paper mssfe "${J[@]}" --out $OUT/sa_limited_10_20
$K save $OUT/sa_limited_10_20 $KEEP/sa_limited_10_20
# (3) each baseline under its own paper's budget (its registry epochs, batch, optimiser and
#     patience: no --epochs), recipe paper, on the disjoint rows; `mssfe compare --best-of`
#     then takes each baseline at the better of the two budgets. Real Salinas-A first (~3 h).
B=(--guard-patch 25 --seeds 5 --max-test 3000 --recipe paper)
for r in "SalinasA disjoint" "${SIM[@]}"; do
    set -- $r
    $M benchmark --scenes $1 --split $2 --models cnn3d ssftt ssrn a2s2k hybridsn "${B[@]}" \
        "${J[@]}" --out $OUT/budget_$1
    $K save $OUT/budget_$1 $KEEP/budget_$1
done
# (4) the random rows of issue 6 under mssfe (their paper rows: the issue-6 tables)
R=(--seeds 5 --epochs 30 --patience 10 --max-test 3000 --recipe mssfe)
for r in "SalinasA random:0.1" "PaviaU-sim random:0.01" "Salinas-sim random:0.01" "IndianPines-sim random:0.1"; do
    set -- $r
    $M benchmark --scenes $1 --split $2 --models all "${R[@]}" "${J[@]}" --out $OUT/random_$1
    $K save $OUT/random_$1 $KEEP/random_$1
done
# (5) the other networks under mssfe@2 on the disjoint rows (v2 is published, not the default)
for r in "SalinasA disjoint" "${SIM[@]}"; do
    set -- $r; row disjoint_$1 $1 $2 mssfe@2 svm svm_epf ssftt cnn3d ssrn a2s2k hybridsn
done
echo "== $(date -u '+%F %T') run_rest.sh done"
