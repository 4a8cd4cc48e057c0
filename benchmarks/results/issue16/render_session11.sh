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
