#!/usr/bin/env bash
# Issue 21's GPU measurements in one go: the CUDA tests, then benchmarks/gpu.py's table. Under 8 minutes.
#
#   bash benchmarks/gpu_check.sh prepare     # here, once: .gpu/data (a copy of ../shared/fma_small_dev) and
#                                            # .gpu/wheels (what a bare GPU machine lacks), both git-ignored
#   bash benchmarks/gpu_check.sh run         # on the GPU machine, .gpu carried: results under $OUT
#   DEVICE=cpu bash benchmarks/gpu_check.sh run   # here: tiny settings, every code path, figures NOT GPU's
#   DEVICE=cpu DATA=<genre folders> PER_GENRE=4 OUT=<folder> bash benchmarks/gpu_check.sh run   # the tests' run
#
# The GPU machine has the working tree and its own torch; this installs the few missing pure packages
# from .gpu/wheels into /tmp/site and imports the project from the tree (PYTHONPATH), never replacing torch.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-$PWD/gpu_results}
mkdir -p "$OUT"
DATA=${DATA:-.gpu/data/fma_small_dev}

if [ "${1:-}" = prepare ]; then
    mkdir -p .gpu/data .gpu/wheels
    rm -rf "$DATA" && cp -r ../shared/fma_small_dev "$DATA"
    # the GPU machine runs Python 3.12 and reaches no registry: wheels for the packages it lacks
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .gpu/wheels hydra-core==1.3.2 omegaconf==2.3.0 soundfile==0.13.1 cffi==1.17.1 pycparser==2.22
    python3 -m pip wheel -q --no-deps -w .gpu/wheels antlr4-python3-runtime==4.9.3  # sdist only: built here
    du -sh .gpu
    exit 0
fi
[ "${1:-}" = run ] || { echo "usage: $0 prepare | run" >&2; exit 2; }

if [ -d .gpu/wheels ] && ! python3 -c "import hydra, soundfile" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/wheels/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
# torch's own version (its build: +cu130), the others' from their metadata: importing Lightning takes seconds
{ nvidia-smi || true; python3 -c "import torch; from importlib.metadata import version as v
print(torch.__version__, v('torchvision'), v('lightning'))"; uptime; } 2>&1 | tee "$OUT/machine.txt"

if [ "$DEVICE" = cuda ]; then
    # the tests only a GPU can run, and the lean step's and decode's CPU tests beside them
    timeout 150 python3 -m pytest -q -p no:cacheprovider tests/training/test_cuda.py \
        tests/predict/test_predict.py::test_jpegs_decoded_in_batches_on_the_device_match_the_pil_path \
        2>&1 | tee "$OUT/tests.txt" || true
    timeout 330 python3 benchmarks/gpu.py --root "$DATA" --device cuda --epochs 4 --compile-rows \
        --full-run --full-run-timeout 150 --predict-images 1024 --predict-batch 128 \
        --set data.num_workers=12 --out "$OUT/gpu.md" 2>&1 | tee "$OUT/gpu.log" || true
else
    # a few images per genre at 32 px, width 8, 2 folds: every row's code run, the figures meaning nothing
    # for a GPU; the compile rows are left out (on a loaded 2-core CPU, inductor took ~10 minutes for the tiny
    # model)
    TINY=$OUT/tiny && rm -rf "$TINY" && mkdir -p "$TINY"
    for genre in "$DATA"/*/; do
        mkdir -p "$TINY/$(basename "$genre")" && ls "$genre" | head -"${PER_GENRE:-12}" | sed "s|^|$genre|" | xargs cp -t "$TINY/$(basename "$genre")"
    done
    timeout 1500 python3 benchmarks/gpu.py --root "$TINY" --device cpu --epochs 2 --full-run \
        --full-run-timeout 600 --predict-images 8 --predict-batch 4 --set model.width=8 --set data.num_folds=2 \
        --set data.batch_size=16 --set data.num_workers=0 --set trainer.max_epochs=1 \
        --set data.image_size=32 --set data.resize_size=32 --set data.transforms.crop_width=24 \
        --out "$OUT/gpu.md" 2>&1 | tee "$OUT/gpu.log"
fi
echo "results: $OUT"
