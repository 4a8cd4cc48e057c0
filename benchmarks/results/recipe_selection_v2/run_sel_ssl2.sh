#!/usr/bin/env bash
# Issue 16: the whole mssfe recipe (transductive SSL) with and without input_scale=global on
# seeds 2-4 (two processes, one candidate each), then the 5-seed table from the cached runs.
set -euo pipefail
cd /work/sel
export PYTHONPATH=/work/sel/src OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
S=(benchmarks/select_recipe.py --scenes SalinasA --splits random:5 --threads 1 --out /work/sel/out_ssl2)
$P "${S[@]}" --seeds 2 3 4 --candidates mssfe:input_scale=global > sel_a.log 2>&1 &
sleep 5
$P "${S[@]}" --seeds 2 3 4 --candidates mssfe > sel_b.log 2>&1
wait
$P "${S[@]}" --seeds 0 1 2 3 4 --candidates mssfe mssfe:input_scale=global
