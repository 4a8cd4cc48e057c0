#!/usr/bin/env bash
# Issue 16: is input_scale=global better than per-component standardisation? Validation folds of
# the training pixels only (benchmarks/select_recipe.py), Salinas-A random:5, MS²FENet.
set -euo pipefail
cd /work/sel
export PYTHONPATH=/work/sel/src OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
$P benchmarks/select_recipe.py --scenes SalinasA --splits random:5 --seeds 0 1 2 3 4 \
  --candidates mssfe:ssl=none mssfe:ssl=none,input_scale=global --threads 1 --out /work/sel/out_noss
$P benchmarks/select_recipe.py --scenes SalinasA --splits random:5 --seeds 0 1 \
  --candidates mssfe mssfe:input_scale=global --threads 1 --out /work/sel/out_ssl
