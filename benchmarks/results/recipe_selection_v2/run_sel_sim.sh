#!/usr/bin/env bash
# Issue 16: input_scale on the simulated scenes (validation folds of the training pixels only),
# MS²FENet, mssfe without SSL, random:5, seeds 0-2; one process per scene.
set -euo pipefail
cd /work/sel
export PYTHONPATH=/work/sel/src OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
C=(--splits random:5 --seeds 0 1 2 --candidates mssfe:ssl=none mssfe:ssl=none,input_scale=global --threads 1)
$P benchmarks/select_recipe.py --scenes IndianPines-sim "${C[@]}" --out /work/sel/out_ip > sel_ip.log 2>&1 &
while pgrep -f run_sel_ssl2.sh >/dev/null; do sleep 20; done
$P benchmarks/select_recipe.py --scenes PaviaU-sim "${C[@]}" --out /work/sel/out_pu > sel_pu.log 2>&1
wait
