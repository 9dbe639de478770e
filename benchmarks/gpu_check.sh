#!/usr/bin/env bash
# The GPU figures for README/MODEL_CARD in one call on a lent CUDA machine (see
# benchmarks/README.md): speed.py at 1080p and 720p on the generated noise clip and on real
# footage, torch fp16 (the CUDA default) vs fp32, and ONNX Runtime on a GPU provider when
# the installed onnxruntime has one. Needs PyAV beside the machine's torch: wheels in .whl/
# (pip download av), installed to /tmp/site. Clips already in benchmarks/_work are reused.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]
set -uo pipefail
out=${1:-${OUT:-/tmp/gpu_check}}
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv
python3 - <<'EOF'
import os, av, numpy, torch, cv2
try:
    import onnxruntime as ort
    providers = ort.get_available_providers()
except ImportError:
    providers = "no onnxruntime"
print(f"python3 torch {torch.__version__} cuda {torch.cuda.is_available()} av {av.__version__} numpy {numpy.__version__} "
      f"cv2 {cv2.__version__} ort providers {providers} cpus {os.cpu_count()}")
EOF
provider=$(python3 -c "import onnxruntime as o; p=o.get_available_providers(); print('cuda' if 'CUDAExecutionProvider' in p else '')" 2>/dev/null)
rows="io-floor identity fill torch torch-fp32"
[ -n "$provider" ] && rows="$rows onnx"
python3 benchmarks/speed.py --sizes 1920x1080 1280x720 --seconds 4 --device cuda ${provider:+--provider $provider} --rows $rows 2>&1 | tee "$out/speed_noise.txt"
# Real footage: the clip speed.py --source made here (../shared does not travel), carried.
real=benchmarks/_work/davis_drift-straight_1920x1080_4s.mp4
if [ -e "$real" ]; then
    python3 benchmarks/speed.py --sizes 1920x1080 --seconds 4 --device cuda --source davis_drift-straight ${provider:+--provider $provider} --rows $rows 2>&1 | tee "$out/speed_real.txt"
fi
# fp16 vs fp32 outputs of the same run: PSNR between the two videos (inf = identical).
python3 - <<'EOF' 2>&1 | tee "$out/fp16_vs_fp32.txt"
import glob, os, av, numpy as np
for a in sorted(glob.glob("benchmarks/_work/*1920x1080_4s.torch.mp4")):
    b = a.replace(".torch.", ".torch-fp32.")
    if not os.path.exists(b):
        continue
    with av.open(a) as x, av.open(b) as y:
        mse = [np.mean((f.to_ndarray(format="rgb24").astype(float) - g.to_ndarray(format="rgb24")) ** 2)
               for f, g in zip(x.decode(video=0), y.decode(video=0))]
    print(f"{a.split('/')[-1]}: fp16 vs fp32 output PSNR {10 * np.log10(255**2 / max(np.mean(mse), 1e-12)):.1f} dB over {len(mse)} frames")
EOF
