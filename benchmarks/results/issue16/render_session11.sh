#!/usr/bin/env bash
# Render the simulated disjoint rows and the recipe rule from the kept cells into this directory
# (restore first on a fresh machine: python benchmarks/keep_cells.py restore cells/NAME OUT).
set -euo pipefail
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1
M=".venv/bin/python -m mssfe"
R=benchmarks/results/issue16
D=(--guard-patch 25 --seeds 5 --epochs 30 --patience 10 --max-test 3000 --no-progress --finished-only)
for row in "PaviaU-sim disjoint:0.01:block=5" "Salinas-sim disjoint:0.01:block=5" "IndianPines-sim disjoint"; do
    set -- $row
    O=${OUT_ROOT:-/work/tables-out}/disjoint_$1
    [ -d "$O" ] || continue
    mkdir -p $R/disjoint_$1
    # every network under v1 and v2 (their paper rows: the issue-6 tables)
    $M benchmark --scenes $1 --split $2 --models all "${D[@]}" --recipe mssfe mssfe@2 --out $O > /dev/null
    cp $O/partial/results.{md,csv,json} $R/disjoint_$1/
    # MS²FENet under every recipe: paper (the issue-6 row again), v1, v1 without SSL, v2
    $M benchmark --scenes $1 --split $2 --models ms2fenet "${D[@]}" \
        --recipe paper mssfe mssfe:ssl=none mssfe@2 --out $O > /dev/null
    for f in md csv json; do cp $O/partial/results.$f $R/disjoint_$1/ms2fenet_recipes.$f; done
done
.venv/bin/python benchmarks/recipe_rule.py $R/{sa_limited,sa_fresh,disjoint_SalinasA}/results.json \
    $R/disjoint_*-sim/results.json --out $R/recipe_rule.md > /dev/null
# the recipe ablation on real Salinas-A random:5 (MS²FENet, each part of v1 removed in turn)
O=${OUT_ROOT:-/work/tables-out}/sa_limited
if [ -d "$O" ]; then
    mkdir -p $R/sa_limited_ablation
    $M benchmark --scenes SalinasA --models ms2fenet --split random:5 --seeds 5 --epochs 100 \
        --patience 20 --max-test 3000 --recipe mssfe mssfe:selection=val mssfe:ema=0 \
        mssfe:spectral_augment=0 mssfe:mix=0 mssfe:class_balance=none mssfe:ssl=none mssfe@2 \
        paper --no-progress --finished-only --out $O > /dev/null
    cp $O/partial/results.{md,csv,json} $R/sa_limited_ablation/
    C=$O/SalinasA/random-5
    if [ -d $C/ms2fenet_mssfe ]; then
        parts=()
        for p in paper:ms2fenet selection=val:ms2fenet_mssfe-selection-val ema=0:ms2fenet_mssfe-ema-0 \
                 spectral_augment=0:ms2fenet_mssfe-spectral_augment-0 mix=0:ms2fenet_mssfe-mix-0 \
                 class_balance=none:ms2fenet_mssfe-class_balance-none ssl=none:ms2fenet_mssfe-ssl-none \
                 mssfe@2:ms2fenet_mssfe-2; do
            [ -d "$C/${p#*:}" ] && parts+=("${p%%:*}=${p#*:}")
        done
        # TTA off: the v1 runs re-evaluated by `mssfe evaluate --no-tta` (evaluation.json)
        [ -f $C/ms2fenet_mssfe/seed0/evaluation.json ] && \
            parts+=("tta=false (mssfe evaluate --no-tta)=ms2fenet_mssfe:evaluation")
        .venv/bin/python benchmarks/paired_cells.py $C ms2fenet_mssfe "${parts[@]}" \
            --out $R/sa_limited_ablation/paired_ms2fenet.md > /dev/null
    fi
fi
