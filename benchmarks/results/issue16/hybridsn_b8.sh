#!/usr/bin/env bash
# Issue 16 item 4: is HybridSN's weak few-label result update starvation? Real Salinas-A random:5,
# the sa_limited splits and test pixels (split files copied), recipe paper, 100 epochs /
# patience 20 as the table, but batch 8 instead of its paper batch 256 (30 training pixels:
# 4 updates an epoch instead of 1). Code: worktree /work/tables2 (commit 336f685).
set -euo pipefail
cd /work/tables2
export OMP_NUM_THREADS=1
.venv/bin/mssfe benchmark --scenes SalinasA --models hybridsn --split random:5 --seeds 5 \
    --epochs 100 --patience 20 --batch-size 8 --max-test 3000 --recipe paper --jobs 1 \
    --threads 1 --no-progress --out /work/tables-out/hybridsn_b8
