#!/usr/bin/env bash
# The 20-seed sweeps of every graded training run on a GPU machine: how docs/training-checks.md's GPU figures are
# made. Run from the repo root with cnnlab importable (PYTHONPATH=$PWD). Writes three files under OUT (default
# sweeps/): cuda.jsonl (one JSON line per seed), sweeps.log (every run's output) and summary.txt. Few files on
# purpose: the device tool returns only a handful. Small nets are launch-bound, so several processes share the GPU.
#     OUT=/tmp/sweeps tools/device_sweeps.sh
set -u
out=${OUT:-sweeps}
mkdir -p "$out"
python3 -m cnnlab.data build >> "$out/sweeps.log" 2>&1 || { tail -n 20 "$out/sweeps.log"; exit 1; }
sweep() {  # sweep NOTEBOOK SEEDS
    CNNLAB_DEVICE=cuda CNNLAB_THREADS=1 python3 tests/training_sweep.py "$1" --seeds "$2" \
        --jsonl "$out/cuda.jsonl" >> "$out/sweeps.log" 2>&1
}
for seeds in 0-9 10-19; do
    sweep 01_lenet/lenet.ipynb $seeds &
    sweep 02_alexnet/alexnet.ipynb $seeds &
done
for seeds in 0-6 7-13 14-19; do sweep 03_zfnet/zfnet.ipynb $seeds & done
wait
grep -E "seeds pass|FAIL|Error" "$out/sweeps.log" | tee "$out/summary.txt"
