#!/usr/bin/env bash
# The GPU checks in one run (CI has no GPU): the gpu-marked tests, then `monitor batch` against
# `yolo predict` with both on the GPU. Logs and JSON go to $OUT (default out/gpu).
#
#   MONITOR_DATA=../shared/data bash benchmarks/gpu_check.sh
#
# Where packages are missing (a bare GPU machine without the project installed), wheels in .whl/
# are installed to /tmp/site first and `monitor` runs from this checkout.
set -u
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
export MONITOR_DATA=${MONITOR_DATA:-../shared/data} PYTHONUNBUFFERED=1 YOLO_OFFLINE=1
PY=${PYTHON:-python3}
if [ -d .whl ]; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH} PATH=/tmp/site/bin:/tmp/bin:$PATH
fi
if ! command -v monitor >/dev/null; then
    mkdir -p /tmp/bin
    printf '#!/bin/sh\nexec %s -c "from cli.main import run; run()" "$@"\n' "$PY" >/tmp/bin/monitor
    chmod +x /tmp/bin/monitor
    export PATH=/tmp/bin:$PATH PYTHONPATH=${PYTHONPATH:-$PWD}
fi
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    ls -l /proc/driver/nvidia/version
    $PY -c "import torch, ultralytics, cv2, sys; print(sys.version.split()[0], 'torch', \
torch.__version__, 'cuda', torch.cuda.is_available(), 'ultralytics', ultralytics.__version__, \
'opencv', cv2.__version__, 'cpus', __import__('os').cpu_count())"
} 2>&1 | tee "$OUT/env.txt"

echo "== gpu-marked tests" | tee "$OUT/pytest_gpu.log"
timeout "${TEST_TIMEOUT:-240}" $PY -m pytest -q -m gpu -p no:cacheprovider -o addopts="" \
    tests/test_backends_onnx.py tests/test_training.py 2>&1 | tee -a "$OUT/pytest_gpu.log"

echo "== monitor batch vs yolo predict on the GPU" | tee "$OUT/bench_gpu.log"
timeout "${BENCH_TIMEOUT:-300}" $PY benchmarks/batch_vs_yolo_predict.py --device cuda:0 \
    --video-codec mp4v --quick --intel-frames 0 --datasets ${DATASETS:-pets intel} --rounds "${ROUNDS:-2}" \
    --profile-modes "ultralytics full b32" \
    --modes "ultralytics full" "ultralytics full b32" "default config (auto: openvino int8, gate)" \
    --json "$OUT/bench_gpu.json" 2>&1 | tee -a "$OUT/bench_gpu.log"
