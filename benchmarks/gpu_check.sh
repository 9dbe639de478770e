#!/usr/bin/env bash
# The GPU figures for README/MODEL_CARD in one call on a lent CUDA machine: the network alone
# in float32 and fp16 (gpu_model.py), speed.py at 1080p on the generated noise clip and on
# real footage (torch rows in float32 and fp16 autocast), and the fill's thread scaling; ONNX
# Runtime's row when the installed onnxruntime has a GPU provider. Needs PyAV beside the
# machine's torch: wheels in .whl/ (pip download av), installed to /tmp/site. Clips already
# in benchmarks/_work are reused.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]
set -uo pipefail
out=${1:-${OUT:-/tmp/gpu_check}}
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
python3 - <<'PY'
import os, av, numpy, torch, cv2
try:
    import onnxruntime as ort
    providers = ort.get_available_providers()
except ImportError:
    providers = "no onnxruntime"
print(f"python3 torch {torch.__version__} cuda {torch.cuda.is_available()} av {av.__version__} numpy {numpy.__version__} "
      f"cv2 {cv2.__version__} ort providers {providers} cpus {os.cpu_count()}")
from osdfilter.media.encode import encoder_options, probe_encoder
for codec in ("h264_nvenc", "hevc_nvenc"):  # GH100 (H100/H200) chips have no NVENC unit
    try:
        probe_encoder(codec, encoder_options(codec, 18, "faster"))
        print(codec, "opens")
    except Exception as exc:
        print(codec, "fails:", exc)
PY
provider=$(python3 -c "import onnxruntime as o; p=o.get_available_providers(); print('cuda' if 'CUDAExecutionProvider' in p else '')" 2>/dev/null)
rows="io-floor identity fill torch torch-fp16"
[ -n "$provider" ] && rows="$rows onnx"
timeout 90 python3 benchmarks/gpu_model.py --size 1920x1080 2>&1 | tee "$out/gpu_model.txt"
# Real footage: the clip speed.py --source made on the workstation (../shared does not
# travel), carried in benchmarks/_work.
real=benchmarks/_work/davis_drift-straight_1920x1080_4s.mp4
[ -e "$real" ] && timeout 150 python3 benchmarks/speed.py --sizes 1920x1080 --seconds 4 --device cuda --source davis_drift-straight ${provider:+--provider $provider} --rows $rows 2>&1 | tee "$out/speed_real.txt"
timeout 150 python3 benchmarks/speed.py --sizes 1920x1080 --seconds 4 --device cuda ${provider:+--provider $provider} --rows $rows 2>&1 | tee "$out/speed_noise.txt"
# x264 `faster` alone held this machine's 1080p floor at ~50 fps (session 10): the same real
# clip with `veryfast`, so that the rows show what else would cap them short of 60 fps.
[ -e "$real" ] && timeout 100 python3 benchmarks/speed.py --sizes 1920x1080 --seconds 4 --device cuda --source davis_drift-straight --encoder-preset veryfast ${provider:+--provider $provider} --rows io-floor fill torch-fp16 ${provider:+onnx} 2>&1 | tee "$out/speed_real_veryfast.txt"
# The fill's scaling with OpenCV's threads on this machine's cores (lookahead 0 and 4).
[ -e "$real" ] && timeout 60 python3 benchmarks/fill_speed.py --clip "$real" --mask benchmarks/_work/mask_1920x1080.png --workers 1 2 4 8 16 2>&1 | tee "$out/fill_real.txt"
exit 0
