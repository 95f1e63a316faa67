#!/usr/bin/env bash
# LatentLab on a CUDA GPU: the benchmarks' figures there, and checks that the trainers and the
# command line work on it (docs/performance.md, "On a GPU"). Run from the repository's root on
# a machine with a CUDA GPU:
#
#   bash scripts/gpu_check.sh OUT [PYTHON]
#
# Writes OUT/log.txt (all that is printed), OUT/smoke-models.tar (each trainer's smoke run,
# trained on the GPU: open them on another machine) and OUT/cli.tar (images the command line
# made on the GPU). PEER_SECONDS sets flows_peer.py's training time per model (20 s).
set -uo pipefail
out=${1:?usage: bash scripts/gpu_check.sh OUT [PYTHON]}
python=${2:-python3}
mkdir -p "$out/smoke" "$out/cli"
export PYTHONUNBUFFERED=1

step() {  # run a command; say how it ended and how long it took, and go on either way
    local start=$SECONDS
    echo && echo "== $*"
    "$@"
    echo "== exit $? after $((SECONDS - start)) s"
}

faces=resources/images
{
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
    # first what no GPU has measured yet (a machine's time may run out): the compiled training
    # step beside normflows, and DCGAN's trainer since its validation's last device fix
    step "$python" benchmarks/flows_peer.py --device cuda --seconds "${PEER_SECONDS:-20}" --compile
    step "$python" -m training.dcgan --preset smoke --device cuda --out "$out/smoke/dcgan.safetensors"
    step "$python" benchmarks/devices.py --device cuda
    step "$python" benchmarks/flows.py --device cuda
    for trainer in vae pixelrnn gmm "flow --arch nice" "flow --arch realnvp" "flow --arch glow"; do
        # shellcheck disable=SC2086  # the trainer's module and its options
        step "$python" -m training.$trainer --preset smoke --device cuda \
            --out "$out/smoke/${trainer##* }.safetensors"
    done
    step "$python" -m latentlab --device cuda info glow-synthfaces
    step "$python" -m latentlab --device cuda sample glow-synthfaces -n 16 -o "$out/cli/sample.png"
    step "$python" -m latentlab --device cuda interpolate glow-synthfaces "$faces/face-1.png" \
        "$faces/face-2.png" -o "$out/cli/walk.png"
    step "$python" -m latentlab --device cuda attribute glow-synthfaces "$faces/face-1.png" \
        --name smiling --amount 1.5 -o "$out/cli/smile.png"
} 2>&1 | tee "$out/log.txt"
tar -C "$out" -cf "$out/smoke-models.tar" smoke && tar -C "$out" -cf "$out/cli.tar" cli
rm -r "$out/smoke" "$out/cli"
