#!/usr/bin/env bash
# The 20-seed sweeps of every graded training run on a GPU machine, recorded under "cuda" in each unit's sweep record,
# tests/assignments/<id>/sweep.json (docs/training-checks.md). Run from the repo root with cnnlab importable
# (PYTHONPATH=$PWD). Small nets are launch-bound, so one process per notebook shares the GPU. Writes two files under
# OUT (default sweeps/), since the device tool returns only a handful: records.tar.gz (the updated sweep records) and
# sweeps.log (every run's output).
#     OUT=/tmp/sweeps tools/device_sweeps.sh
set -u
out=${OUT:-sweeps}
mkdir -p "$out"
python3 -m cnnlab.data build >> "$out/sweeps.log" 2>&1 || { tail -n 20 "$out/sweeps.log"; exit 1; }
for notebook in $(cd solutions && grep -l '_training_run' */*.ipynb); do
    CNNLAB_DEVICE=cuda CNNLAB_THREADS=1 python3 tests/training_sweep.py "$notebook" --seeds 0-19 --record \
        >> "$out/sweeps.log" 2>&1 &
done
wait
python3 tests/training_sweep.py --docs >> "$out/sweeps.log" 2>&1  # the processes above wrote it at once
tar -czf "$out/records.tar.gz" tests/assignments/*/sweep.json docs/training-checks.md
grep -E "seeds pass|FAIL|Error" "$out/sweeps.log"
