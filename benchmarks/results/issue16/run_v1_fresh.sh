#!/usr/bin/env bash
# Issue 16, after the fresh-seed check rejected mssfe v2: finish the v1 rows. Code of commit
# 03a7c36 (worktree /work/tables3; there `mssfe` meant v2, so v1 is asked for as mssfe@1, whose
# cells are the v1 cells of the earlier runs). Resumable.
set -euo pipefail
cd /work/tables3
export PYTHONPATH=/work/tables3/src OMP_NUM_THREADS=1
M="/work/main/.venv/bin/python -m mssfe"
L=(--epochs 100 --patience 20 --max-test 3000 --jobs 2 --threads 1 --no-progress)
# the last v1 cell of the seeds 0-4 table (A2S2K-ResNet, seed 4)
$M benchmark --scenes SalinasA --models a2s2k --split random:5 --seeds 5 "${L[@]}" \
    --recipe mssfe@1 --out /work/tables-out/sa_limited
# fresh seeds 5-9: the rivals under paper and v1
$M benchmark --scenes SalinasA --models ssftt a2s2k ssrn --split random:5 --seed 5 6 7 8 9 "${L[@]}" \
    --recipe paper mssfe@1 --out /work/tables-out/sa_fresh
