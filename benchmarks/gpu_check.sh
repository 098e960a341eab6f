#!/usr/bin/env bash
# The one script to run when a GPU machine is available for a short while (about 15 minutes in all).
#
#   OUT=gpu-out bash benchmarks/gpu_check.sh [--data ../shared/data/ckplus48] [--budget 510]
#   OUT=dry-out bash benchmarks/gpu_check.sh --dry-run [--budget 75]
#
# On a machine that already has torch: installs ferbench with
# `pip install --no-deps --no-build-isolation -e .` (nothing downloaded), then runs
#   1. tests/test_cuda.py: AMP (bf16, fp16), channels-last, pinned memory, --compile reduce-overhead;
#   2. benchmarks/training_throughput.py on CUDA;
#   3. benchmarks/parallel_folds.py on CUDA (skipped with a note where the script is missing);
#   4. the paper recipe of res-bilstm-fusion on CK+48, subject-independent folds, for as many
#      folds as the time left allows (each finished fold is committed; the rest is cut), then
#      `ferbench report` on what finished.
# Every step runs under `timeout` within one budget (--budget seconds, default 510: done before
# 9 minutes), so a second try fits in the same 15 minutes. Everything lands under $OUT (default
# gpu-out/) in the leaderboards/ layout: gpu_check.log (one line a step), logs/<step>.log,
# run/ (the run directory) and the report beside it, ready to commit under leaderboards/.
#
# --dry-run: the same steps on the CPU with tiny budgets and the synthetic data set, without the
# install (it would repoint the environment's ferbench at this checkout).
set -uo pipefail
cd "$(dirname "$0")/.."  # the repository root: OUT and --data are relative to it

OUT=${OUT:-gpu-out}
DATA=../shared/data/ckplus48
DRY=0
BUDGET=
while [ $# -gt 0 ]; do
    case $1 in
        --dry-run) DRY=1 ;;
        --budget) BUDGET=$2; shift ;;
        --data) DATA=$2; shift ;;
        *) echo "gpu_check.sh: unknown option $1 (--dry-run, --budget SECONDS, --data PATH)" >&2; exit 2 ;;
    esac
    shift
done
BUDGET=${BUDGET:-$([ $DRY = 1 ] && echo 75 || echo 510)}
export HF_HUB_OFFLINE=1 PIP_NO_INDEX=1 PYTHONUNBUFFERED=1
mkdir -p "$OUT/logs"
LOG=$OUT/gpu_check.log
FAILED=0
START=$SECONDS

# Seconds kept back from the steps before the paper recipe, for it and the report.
KEEP=$([ $DRY = 1 ] && echo 40 || echo 150)

left() { echo $((BUDGET - (SECONDS - START))); }

note() { echo "$(date -u +%FT%TZ) $*" | tee -a "$LOG"; }

# step NAME SECONDS COMMAND...: run COMMAND for at most SECONDS (and never into the last KEEP
# seconds of the budget), output to logs/NAME.log; a step cut short is noted, a failing one counted.
step() {
    local name=$1 limit=$2 status
    shift 2
    [ "$limit" -gt $(($(left) - KEEP)) ] && limit=$(($(left) - KEEP))
    if [ "$limit" -lt 3 ]; then
        note "$name: skipped, budget spent"
        return
    fi
    note "$name: start (at most ${limit} s): $*"
    timeout -k 5 "$limit" "$@" >"$OUT/logs/$name.log" 2>&1
    status=$?
    case $status in
        0) note "$name: ok" ;;
        124|137) note "$name: cut at ${limit} s" ;;
        *) note "$name: FAILED (exit $status; see logs/$name.log)"; FAILED=$((FAILED + 1)) ;;
    esac
}

note "gpu_check.sh $([ $DRY = 1 ] && echo --dry-run) budget ${BUDGET} s, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ $DRY = 1 ]; then
    DEVICE=cpu
    note "install: skipped in a dry run"
else
    DEVICE=cuda
    step install 120 pip install --no-deps --no-build-isolation -e .
fi
step environment "$([ $DRY = 1 ] && echo 10 || echo 30)" python -c "import torch, ferbench
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())
print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device')
print(torch.__config__.show())"
if [ $DRY = 0 ] && ! python -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
    note "no CUDA device: stopping (use --dry-run on a CPU)"
    exit 1
fi

if [ $DRY = 1 ]; then
    step cuda-tests 15 env FERBENCH_TEST_DEVICE=cpu python -m pytest tests/test_cuda.py -q -k fp32
    step throughput 10 python benchmarks/training_throughput.py --model smallcnn --device cpu --images 16 \
        --batch-sizes 8 --precisions fp32 --rounds 1
else
    step cuda-tests 150 python -m pytest tests/test_cuda.py -v
    step throughput 90 python benchmarks/training_throughput.py --device cuda --batch-sizes 4,128 \
        --precisions fp32,auto --epochs 1 --rounds 5
fi

if [ -f benchmarks/parallel_folds.py ]; then
    if [ $DRY = 1 ]; then
        step parallel-folds 8 python benchmarks/parallel_folds.py --model smallcnn --folds 2 --epochs 1 --rounds 1
    else
        step parallel-folds 60 python benchmarks/parallel_folds.py --folds 5 --epochs 1 --workers 1 --rounds 2
    fi
else
    note "parallel-folds: skipped, benchmarks/parallel_folds.py is not in this checkout"
fi

# k folds trained as one stack against one at a time (`--stacked`), and against the ceiling of
# one model at the stacked batch size: the GPU is where stacking should pay (target 5 ×).
if [ $DRY = 1 ]; then
    step stacked-folds 10 python benchmarks/stacked_folds.py --models smallcnn --k 2 --batch-sizes 4 \
        --steps 2 --rounds 1 --device cpu
else
    step stacked-folds 90 python benchmarks/stacked_folds.py --models smallcnn,res-bilstm-fusion,timm/resnet18 \
        --k 10 --batch-sizes 4,32 --steps 20 --rounds 3 --device cuda
fi

# The paper recipe with what is left, keeping some for the report.
KEEP=$([ $DRY = 1 ] && echo 8 || echo 25)
if [ $DRY = 1 ]; then
    step paper-recipe "$(left)" python -m ferbench run --models res-bilstm-fusion --datasets synthetic \
        --protocol subject --recipe paper --epochs 1 --folds 3 --device cpu --out "$OUT/run"
else
    if [ ! -d "$DATA" ]; then
        note "paper-recipe: FAILED, no CK+48 at $DATA (pass --data)"
        FAILED=$((FAILED + 1))
    else
        step paper-recipe "$(left)" python -m ferbench run --models res-bilstm-fusion --datasets ckplus \
            --data-dir "ckplus=$DATA" --protocol subject --recipe paper --device cuda --out "$OUT/run"
    fi
fi
if [ -d "$OUT/run/jobs" ]; then
    note "paper-recipe: $(find "$OUT/run/jobs" -name 'fold-*.json' | wc -l) fold(s) committed under $OUT/run"
    KEEP=0
    step report "$(left)" python -m ferbench report "$OUT/run" --out "$OUT" --html-figures link
fi
note "done in $((SECONDS - START)) s, $FAILED step(s) failed"
[ $FAILED = 0 ]
