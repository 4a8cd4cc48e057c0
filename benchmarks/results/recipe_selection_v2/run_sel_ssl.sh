#!/usr/bin/env bash
# Issue 16: the same question with the whole mssfe recipe (transductive SSL), seeds 0-1.
set -euo pipefail
cd /work/sel
export PYTHONPATH=/work/sel/src OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
$P benchmarks/select_recipe.py --scenes SalinasA --splits random:5 --seeds 0 1 \
  --candidates mssfe:input_scale=global mssfe --threads 1 --out /work/sel/out_ssl2
