#!/usr/bin/env bash
# One prepared GPU session: CUDA tests, kernels, the Cora link table, gowalla, the scale run.
#
#   export GNN_UNLEARN_MIRROR=$PWD/.gpu_data PYTHONPATH=$PWD
#   bash benchmarks/gpu.sh
#
# Stages run cheapest and most important first, each under `timeout` and inside one overall
# budget (GPU_SH_BUDGET seconds, default 390: the whole script stays under 7 minutes); a stage
# that fails or times out is recorded and the next one runs. Every stage writes its own result
# files as it goes; gpu_summary.md lists each stage with its status and seconds.
#
# Environment:
#   DEVICE              cuda (default) or cpu
#   GPU_SH_QUICK=1      tiny sizes, one seed: checks the script itself (e.g. DEVICE=cpu, here)
#   GPU_SH_BUDGET       overall seconds (default 390; quick: 600)
#   GPU_SH_STAGES       letters of the stages to run (default abcdef; g, the DDP products-size
#                       run, only when named: GPU_SH_STAGES=g GPU_SH_BUDGET=420)
#   GW_EPOCHS           epochs of gowalla's original and retrained model (default 100)
#   CORA_SEEDS          seeds of the Cora table (default 2; it is written after every seed)
#   GPU_SH_RESULTS      where result files go (default benchmarks/results; quick: a temp folder)
#   GNN_UNLEARN_MIRROR  raw dataset files (Cora, gowalla); without them those stages are skipped
#   OUT                 when set, the summary, the log, the result Markdown and a tarball of
#                       every result file are copied there after each stage (at most 8 files)
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
DEVICE=${DEVICE:-cuda}
QUICK=${GPU_SH_QUICK:-0}
if [ "$QUICK" = 1 ]; then BUDGET=${GPU_SH_BUDGET:-600}; else BUDGET=${GPU_SH_BUDGET:-390}; fi
STAGES=${GPU_SH_STAGES:-abcdef}
PY=${PYTHON:-$(command -v python || command -v python3)}
export PYTHONPATH=${PYTHONPATH:-$ROOT}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}        # the H100 machine has 16 cores; one stage at a time
export CUBLAS_WORKSPACE_CONFIG=${CUBLAS_WORKSPACE_CONFIG:-:4096:8}   # deterministic cuBLAS under seeded()
SCRATCH=$(mktemp -d)
export GNN_UNLEARN_CACHE=${GNN_UNLEARN_CACHE:-$SCRATCH/cache}
if [ "$QUICK" = 1 ]; then
  RESULTS=${GPU_SH_RESULTS:-$SCRATCH/results}
  TAG=_${DEVICE%%:*}_quick
else
  RESULTS=${GPU_SH_RESULTS:-benchmarks/results}
  TAG=_${DEVICE%%:*}
fi
mkdir -p "$RESULTS"
LOG=$RESULTS/gpu_run$TAG.log
SUMMARY=$RESULTS/gpu_summary$TAG.md
: > "$LOG"
MIRROR=${GNN_UNLEARN_MIRROR:-}
HAVE_DATA=0
if [ -n "$MIRROR" ] && [ -d "$MIRROR" ]; then HAVE_DATA=1; fi
START=$(date +%s)
FAILED=0
ROWS=()

note() { echo "$*" | tee -a "$LOG"; }

write_summary() {
  {
    echo "# GPU session summary"
    echo
    echo "Command: \`bash benchmarks/gpu.sh\` (DEVICE=$DEVICE, GPU_SH_QUICK=$QUICK, budget ${BUDGET} s, OMP_NUM_THREADS=$OMP_NUM_THREADS)  "
    echo "Started: $(date -u -d @"$START" '+%Y-%m-%d %H:%M:%S') UTC; elapsed $(( $(date +%s) - START )) s; results in \`$RESULTS\`; log \`$(basename "$LOG")\`"
    echo
    echo "| stage | status | seconds | box (s) | writes |"
    echo "|---|---|---|---|---|"
    for r in "${ROWS[@]}"; do echo "$r"; done
  } > "$SUMMARY"
}

export_out() {   # copies what there is so far to $OUT (at most 8 files)
  [ -n "${OUT:-}" ] || return 0
  mkdir -p "$OUT"
  cp -f "$SUMMARY" "$LOG" "$OUT"/ 2>/dev/null
  local f
  for f in kernels gnndelete_gcn_cora_025 gnndelete_gowalla scale ddp_products; do
    cp -f "$RESULTS/$f$TAG.md" "$OUT"/ 2>/dev/null
  done
  (cd "$RESULTS" && tar czf "$OUT/gpu_results$TAG.tar.gz" \
     $(ls -- *"$TAG".* kernels"$TAG"_235k.* 2>/dev/null | sort -u)) 2>/dev/null
  return 0
}

# stage NAME BOX WRITES CMD...: runs CMD under `timeout`, within what is left of the budget
stage() {
  local name=$1 box=$2 writes=$3; shift 3
  if [[ $STAGES != *${name:0:1}* ]]; then return 0; fi
  local left=$(( BUDGET - ($(date +%s) - START) ))
  if [ "$left" -lt 20 ]; then
    note "=== $name: skipped, ${left}s of the budget left"
    ROWS+=("| $name | skipped (budget spent) | 0 | $box | $writes |")
    write_summary; export_out; return 0
  fi
  [ "$box" -gt "$left" ] && box=$left
  note ""
  note "=== $name (time box ${box}s, $(date -u +%H:%M:%S)) ==="
  note "\$ ${*//$PY/python}"      # as a user types it: no interpreter path of the machine
  local t0 t1 rc status
  t0=$(date +%s.%N)
  timeout -k 10 "$box" "$@" >> "$LOG" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  local secs
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  case $rc in
    0) status=ok ;;
    124|137) status="TIMEOUT (rc $rc)"; FAILED=$((FAILED + 1)) ;;
    *) status="FAILED (rc $rc)"; FAILED=$((FAILED + 1)) ;;
  esac
  note "=== $name: $status, ${secs}s"
  ROWS+=("| $name | $status | $secs | $box | $writes |")
  write_summary; export_out
}

skip() {   # skip NAME REASON WRITES
  if [[ $STAGES != *${1:0:1}* ]]; then return 0; fi
  note "=== $1: skipped ($2)"
  ROWS+=("| $1 | skipped ($2) | 0 | - | $3 |")
  write_summary; export_out
}

if [ "$QUICK" = 1 ]; then
  SEEDS=1; EPOCHS="--epochs 20"; GW_EPOCHS=${GW_EPOCHS:-3}; K_DIMS=16; K_REPEAT=1; K_SYN=synthetic:3000
  SCALE_NODES=3000; SCALE_EPOCHS=3; SCALE_METHOD_EPOCHS=3
  C_BOX=120; D_BOX=200; GW_BOX=300; F_BOX=120  # one loaded CPU thread: gowalla's evaluation alone is minutes
  PRODUCTS_NODES=3000; G_BOX=300
else
  SEEDS=${CORA_SEEDS:-2}; EPOCHS=""; GW_EPOCHS=${GW_EPOCHS:-100}; K_DIMS=64,128; K_REPEAT=10; K_SYN=synthetic:235000
  SCALE_NODES=235000; SCALE_EPOCHS=20; SCALE_METHOD_EPOCHS=50
  C_BOX=45; D_BOX=100; GW_BOX=120; F_BOX=150
  PRODUCTS_NODES=2449029; G_BOX=400
fi

# (a) the machine and the software
stage "a. environment" 40 "log" bash -c "
  nvidia-smi || echo 'nvidia-smi: not available'
  $PY - <<'EOF'
import os, platform, sys
import torch, torch_geometric, sklearn, numpy, tqdm
print('python', sys.version.split()[0], platform.platform())
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())
print('torch_geometric', torch_geometric.__version__, 'sklearn', sklearn.__version__, 'numpy', numpy.__version__)
print('cpus', os.cpu_count(), 'torch threads', torch.get_num_threads())
try:
    import torch_scatter; print('torch_scatter', torch_scatter.__version__)
except ImportError:
    print('torch_scatter: not installed')
if torch.cuda.is_available():
    print('device', torch.cuda.get_device_name(0), torch.cuda.get_device_properties(0))
EOF"

# (b) the CUDA tests (tests/test_cuda.py; GNN_UNLEARN_TEST_DEVICE=cpu runs them on the CPU).
# The normal suite is not re-run with CUDA as the default device: the library takes the device
# as a parameter (train/unlearn device=...) and draws from CPU generators, so
# torch.set_default_device('cuda') is not a supported mode; tests/test_cuda.py is the CUDA suite.
stage "b. pytest -m cuda" 75 "log" env GNN_UNLEARN_TEST_DEVICE="$DEVICE" \
  $PY -m pytest -q -m cuda tests/test_cuda.py -p no:cacheprovider -W ignore::UserWarning --tb=short -rfEs
skip "b2. normal tests, CUDA as default device" "not a supported mode: devices are parameters" "-"

# (c) aggregation and pair-scoring kernels against the measured copy bandwidth
if [ "$HAVE_DATA" = 1 ]; then
  stage "c1. kernels gowalla" $C_BOX "kernels$TAG.{md,json}" \
    $PY benchmarks/kernels.py --dataset gowalla --dims $K_DIMS --repeat $K_REPEAT --device "$DEVICE" \
      --output "$RESULTS" --name "kernels$TAG"
else
  skip "c1. kernels gowalla" "no dataset mirror" "kernels$TAG.{md,json}"
fi
stage "c2. kernels $K_SYN" $C_BOX "kernels${TAG}_235k.{md,json}" \
  $PY benchmarks/kernels.py --dataset $K_SYN --dims $K_DIMS --repeat $K_REPEAT --device "$DEVICE" \
    --output "$RESULTS" --name "kernels${TAG}_235k"

# (d) GNNDelete's Cora link table (GCN, 2.5 %, in and out); written after every seed
if [ "$HAVE_DATA" = 1 ]; then
  stage "d. Cora link table" $D_BOX "gnndelete_gcn_cora_025$TAG.{md,json}" \
    $PY benchmarks/grid.py --datasets Cora --encoders gcn --methods gradient_ascent,gnndelete,d2dgn \
      --sizes 0.025 --wheres in,out --seeds $SEEDS $EPOCHS --device "$DEVICE" --mirror "$MIRROR" \
      --output "$RESULTS" --name "gnndelete_gcn_cora_025$TAG"
else
  skip "d. Cora link table" "no dataset mirror" "gnndelete_gcn_cora_025$TAG.{md,json}"
fi

# (e) gowalla as a link graph (GCN, 0.5 % random edges); 100 epochs for the original and the
# retrained model (the CPU table used the default 500 with early stopping) to fit the budget
if [ "$HAVE_DATA" = 1 ]; then
  stage "e. gowalla GNNDelete" $GW_BOX "gnndelete_gowalla$TAG.{md,json}" \
    $PY benchmarks/grid.py --datasets gowalla --encoders gcn --methods gradient_ascent,gnndelete,d2dgn \
      --sizes 0.005 --wheres random --seeds 1 --epochs $GW_EPOCHS --device "$DEVICE" --mirror "$MIRROR" \
      --output "$RESULTS" --name "gnndelete_gowalla$TAG"
else
  skip "e. gowalla GNNDelete" "no dataset mirror" "gnndelete_gowalla$TAG.{md,json}"
fi

# (f) time and memory at ogbl-collab size (235 k nodes, 1.16 M training edges), full batch
stage "f. scale $SCALE_NODES nodes" $F_BOX "scale$TAG.{md,json}" \
  $PY benchmarks/scale.py --nodes $SCALE_NODES --epochs $SCALE_EPOCHS --method-epochs $SCALE_METHOD_EPOCHS \
    --device "$DEVICE" --output "$RESULTS" --name "scale$TAG"

# (g) DistributedDataParallel at ogbn-products' size: 2.45 M nodes, 61.9 M directed edges (mean
# degree 25.3), 100 features, 47 classes, products' 8 % / 2 % train / validation split; 3-layer
# GraphSAGE on neighbour-sampled mini-batches (fanouts 15,10,5 as PyG's products example, 1024
# seeds per GPU and step), one epoch: one process on one GPU, then one process per GPU (nccl)
# when the machine has several. Every rank builds the graph itself (about a minute of CPU).
NGPU=$( (nvidia-smi -L 2>/dev/null || true) | grep -c '^GPU')
if [ "${DEVICE%%:*}" = cuda ]; then
  [ "$NGPU" -ge 1 ] || NGPU=1
  DDP_RUNS=1x$(( 16 / NGPU > 8 ? 8 : 16 / NGPU ))
  [ "$NGPU" -gt 1 ] && DDP_RUNS="$DDP_RUNS,${NGPU}x$(( 16 / NGPU ))"
else
  DDP_RUNS=1x1,2x1     # gloo on the CPU (quick check of the stage)
fi
stage "g. DDP products-size" $G_BOX "ddp_products$TAG.{md,json}" \
  $PY benchmarks/ddp.py --device "${DEVICE%%:*}" --nodes $PRODUCTS_NODES --avg-degree 25.3 --features 100 \
    --classes 47 --train-ratio 0.08 --val-ratio 0.02 --task node --encoder sage --fanouts 15,10,5 \
    --batch-size 1024 --epochs 1 --runs "$DDP_RUNS" --output "$RESULTS" --name "ddp_products$TAG"

write_summary; export_out
note ""
cat "$SUMMARY" | tee -a "$LOG"
export_out
rm -rf "$SCRATCH/cache"
[ "$FAILED" -eq 0 ]
