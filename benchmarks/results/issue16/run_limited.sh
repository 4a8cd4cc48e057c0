#!/usr/bin/env bash
# Issue 16, first table: real Salinas-A random:5, every model, recipes paper / mssfe / mssfe:ssl=none, 5 seeds.
# Code: commit 5263ebd (worktree /work/tables). Resumable: rerun the same command.
set -euo pipefail
cd /work/tables
export OMP_NUM_THREADS=1
.venv/bin/mssfe benchmark --scenes SalinasA --models ms2fenet --split random:5 --seeds 5 --epochs 100 \
    --patience 20 --max-test 3000 --recipe paper mssfe mssfe:ssl=none --jobs 2 --threads 1 \
    --no-progress --out /work/tables-out/sa_limited
.venv/bin/mssfe benchmark --scenes SalinasA --models all --split random:5 --seeds 5 --epochs 100 \
    --patience 20 --max-test 3000 --recipe paper mssfe mssfe:ssl=none --jobs 2 --threads 1 \
    --no-progress --out /work/tables-out/sa_limited
