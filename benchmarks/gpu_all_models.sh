#!/bin/bash
# Every model of `mssfe benchmark` on one GPU: the committed Salinas-A table's command
# (benchmarks/results/issue6/sa_disjoint: random 10% beside spatially disjoint, 30 epochs,
# patience 10, 3,000 test pixels) with --device cuda, seed 0 and then seed 1 grown into the
# same (resumable) directory. Same seeds -> same splits and test pixels as the CPU table, so
# the OA of each cell can be paired with the CPU cell of its seed.
#
#   OUT=gpu_out bash benchmarks/gpu_all_models.sh        # MSSFE="python3 -m mssfe" by default
#
# Cells run one at a time (--jobs 1) so that train s and test px/s are clean GPU figures.
set -uo pipefail
OUT=${OUT:-gpu_out}
MSSFE=${MSSFE:-python3 -m mssfe}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/machine.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$OUT/machine.txt"
nproc | sed 's/^/cpu cores: /' | tee -a "$OUT/machine.txt"
ARGS=(--scenes SalinasA --models all --split random:0.1 disjoint --epochs 30 --patience 10
      --max-test 3000 --jobs 1 --device cuda --no-progress --out "$OUT/table")
for seeds in 1 2; do
  start=$(date +%s)
  timeout "${CELL_TIMEOUT:-260}" $MSSFE benchmark "${ARGS[@]}" --seeds "$seeds" 2>&1 | tail -30
  echo "seeds=$seeds wall $(( $(date +%s) - start )) s" | tee -a "$OUT/machine.txt"
  cp "$OUT"/table/results.md "$OUT"/table/results.json "$OUT"/ 2>/dev/null
done
