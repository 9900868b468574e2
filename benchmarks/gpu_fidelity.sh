#!/usr/bin/env bash
# The fidelity table's attack columns on one GPU: many grid jobs at a time, each its own process.
#
#   export GNN_UNLEARN_MIRROR=$PWD/.gpu_data PYTHONPATH=$PWD
#   bash benchmarks/gpu_fidelity.sh
#
# A job is one (dataset, encoder, Df size, seed) of
#   gnn-unlearn benchmark --methods gnndelete+ref,d2dgn+ref --wheres in,out,random,worst:confidence
#       --attacks lira,relearn,probe,cka --retrain-seeds 4 --seeds 1 --first-seed SEED --device DEVICE
# (the command of the CPU attack runs, one seed per process). Jobs are queued seed-major, cells
# without any attack run first, and run SLOTS at a time (OMP_NUM_THREADS=1 each); a job still
# running at the deadline is stopped and writes nothing. The CUDA test file runs beside them.
# Results: one grid file per finished job under RESULTS; merge a cell's seeds with
# benchmarks/merge_grid.py. Every job's seconds and speed-ups are measured inside its own process.
# Measured on one H100 (session 20): with 14 jobs sharing the GPU each training ran about 5x slower
# than one job alone (Cora GCN retrain 11-14 s against 1.7-2.7 s), about 2.5x the work of one job
# in all. Cora-size models are launch-bound and the GPU time-slices between processes; a CPU
# thread trains them about as fast, so DEVICE=cpu with one job per core may do more.
#
# Environment:
#   DEVICE          cuda (default) or cpu
#   SLOTS           jobs at a time (default 14)
#   DEADLINE        seconds after which running jobs are stopped (default 520)
#   CELLS           "dataset:encoder:size ..." (default: the cells below)
#   SEEDS           seeds per cell (default 3)
#   EXTRA           extra benchmark options (e.g. "--epochs 5" for a quick check)
#   RESULTS         where the grid files go (default benchmarks/results/gpu_fidelity)
#   OUT             when set, the log, the CUDA test log and a tarball of RESULTS are copied
#                   there every 20 s and at the end
set -u
cd "$(dirname "$0")/.."
DEVICE=${DEVICE:-cuda}
SLOTS=${SLOTS:-14}
DEADLINE=${DEADLINE:-520}
SEEDS=${SEEDS:-3}
EXTRA=${EXTRA:-}
RESULTS=${RESULTS:-benchmarks/results/gpu_fidelity}
PY=${PYTHON:-$(command -v python || command -v python3)}
export PYTHONPATH=${PYTHONPATH:-$PWD} OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
export CUBLAS_WORKSPACE_CONFIG=${CUBLAS_WORKSPACE_CONFIG:-:4096:8}
# cells without any attack run first, then the 2.5 % cells whose attack runs predate the reference
CELLS=${CELLS:-"CiteSeer:gat:0.005 CiteSeer:gin:0.005 CiteSeer:gin:0.025 Cora:gat:0.05 Cora:gin:0.05
CiteSeer:gcn:0.05 CiteSeer:gat:0.05 CiteSeer:gin:0.05 Cora:gat:0.025 Cora:gin:0.025 CiteSeer:gcn:0.025
CiteSeer:gat:0.025 Cora:gcn:0.025"}
mkdir -p "$RESULTS"
LOG=$RESULTS/gpu_fidelity.log
: > "$LOG"
START=$(date +%s)
TAG=${DEVICE%%:*}

export_out() {
  [ -n "${OUT:-}" ] || return 0
  cp -f "$LOG" "$OUT"/ 2>/dev/null
  cp -f "$RESULTS"/cuda_tests.log "$OUT"/ 2>/dev/null
  tar czf "$OUT/.gpu_fidelity.tar.gz" -C "$RESULTS" . 2>/dev/null && mv -f "$OUT/.gpu_fidelity.tar.gz" "$OUT/gpu_fidelity.tar.gz"
  return 0
}

{
  echo "# $(date -u '+%Y-%m-%d %H:%M:%S') UTC, DEVICE=$DEVICE SLOTS=$SLOTS DEADLINE=$DEADLINE SEEDS=$SEEDS EXTRA=$EXTRA"
  (nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi")
  "$PY" -c "import torch, os; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'cpus', os.cpu_count())"
} >> "$LOG" 2>&1

# the CUDA tests, beside the jobs
if [ "$TAG" = cuda ]; then
  (GNN_UNLEARN_TEST_DEVICE=$DEVICE timeout -k 5 240 "$PY" -m pytest -q -m cuda tests/test_cuda.py \
     -p no:cacheprovider -W ignore::UserWarning --tb=short -rfEs > "$RESULTS/cuda_tests.log" 2>&1;
   echo "cuda tests: rc $? after $(( $(date +%s) - START )) s" >> "$LOG") &
fi

JOBS=$(mktemp)
for ((s = 0; s < SEEDS; s++)); do
  for cell in $CELLS; do echo "$cell:$s"; done
done > "$JOBS"
echo "$(wc -l < "$JOBS") jobs" >> "$LOG"

run_job() {   # dataset:encoder:size:seed
  IFS=: read -r ds enc size seed <<< "$1"
  local left=$(( DEADLINE - ($(date +%s) - START) ))
  if [ "$left" -lt 30 ]; then echo "skip $1: ${left}s left" >> "$LOG"; return 0; fi
  local name="fa_${TAG}_${ds}_${enc}_${size}_s${seed}" t0=$(date +%s)
  timeout -k 5 "$left" "$PY" -m gnn_unlearn.cli benchmark --datasets "$ds" --encoders "$enc" \
    --methods gnndelete+ref,d2dgn+ref --sizes "$size" --wheres in,out,random,worst:confidence \
    --seeds 1 --first-seed "$seed" --attacks lira,relearn,probe,cka --retrain-seeds 4 \
    --device "$DEVICE" $EXTRA --output "$RESULTS" --name "$name" > "$RESULTS/$name.log" 2>&1
  echo "job $1: rc $? in $(( $(date +%s) - t0 )) s (at $(( $(date +%s) - START )) s)" >> "$LOG"
}
export -f run_job
export DEADLINE START RESULTS DEVICE EXTRA PY LOG TAG

(while sleep 20; do export_out; done) &
EXPORTER=$!
xargs -a "$JOBS" -P "$SLOTS" -I{} bash -c 'run_job {}'
wait_tests=$(jobs -p | grep -v "^$EXPORTER$")
[ -n "$wait_tests" ] && wait $wait_tests 2>/dev/null
kill "$EXPORTER" 2>/dev/null
echo "done after $(( $(date +%s) - START )) s; $(ls "$RESULTS"/fa_*.json 2>/dev/null | wc -l) job files" >> "$LOG"
export_out
rm -f "$JOBS"
