#!/usr/bin/env bash
# The GPU figures for README/MODEL_CARD in one call on a lent CUDA machine: speed.py at
# 1080p on the generated noise clip and on real footage, with libx264 and h264_nvenc, the
# fill's thread scaling, and ONNX Runtime on a GPU provider when the installed onnxruntime
# has one. Needs PyAV beside the machine's torch: wheels in .whl/
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
rows="io-floor identity fill torch"
[ -n "$provider" ] && rows="$rows onnx"
# 1080p: x264 (process_video's default preset) caps the I/O floor itself on 16 cores, so the
# rows run again with NVIDIA's encoder. Real footage: the clip speed.py --source made on the
# workstation (../shared does not travel), carried in benchmarks/_work.
real=benchmarks/_work/davis_drift-straight_1920x1080_4s.mp4
for codec in libx264 h264_nvenc; do
    python3 benchmarks/speed.py --sizes 1920x1080 --seconds 4 --device cuda --codec $codec ${provider:+--provider $provider} --rows $rows 2>&1 | tee "$out/speed_noise_$codec.txt"
    [ -e "$real" ] && python3 benchmarks/speed.py --sizes 1920x1080 --seconds 4 --device cuda --codec $codec --source davis_drift-straight ${provider:+--provider $provider} --rows $rows 2>&1 | tee "$out/speed_real_$codec.txt"
done
# The fill's scaling with threads (its groups in parallel) on this machine's cores.
python3 benchmarks/fill_speed.py --workers 1 2 4 8 16 2>&1 | tee "$out/fill_noise.txt"
[ -e "$real" ] && python3 benchmarks/fill_speed.py --clip "$real" --mask benchmarks/_work/mask_1920x1080.png --workers 1 2 4 8 16 2>&1 | tee "$out/fill_real.txt"
