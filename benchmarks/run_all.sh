#!/usr/bin/env bash
# The test suite and the benchmarks on one device, results (JSON and logs) under OUT_DIR.
#   bash benchmarks/run_all.sh cuda bench-out [quick]
# "quick" leaves out the slow CPU references (lime, captum) at B=8 and the stability table.
set -uo pipefail
dev=${1:-cuda}
out=$(realpath -m "${2:-bench-out}")
mode=${3:-full}
mkdir -p "$out"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" OMP_WAIT_POLICY=PASSIVE TQDM_DISABLE=1
step() { echo; echo "=== $* ($(date +%T))"; }
step "pytest --device=$dev"
python -m pytest -q -p no:cacheprovider --device="$dev" tests 2>&1 | tail -n 40 | tee "$out/pytest.txt"
cd benchmarks
step bench_segmentation
python bench_segmentation.py --device "$dev" --batch-size 64 --json "$out/segmentation.json" 2>&1 | tail -n 20
step bench_image
batches="1 8"; [ "$mode" = quick ] && batches="1"
python bench_image.py --device "$dev" --batch-size 256 --batches $batches --json "$out/image.json" 2>&1 | grep -v Warning | tail -n 12
step bench_memory
python bench_memory.py --device "$dev" --json "$out/memory.json" 2>&1 | tail -n 6
step bench_tabular
python bench_tabular.py --device "$dev" --json "$out/tabular.json" 2>&1 | tail -n 8
[ -f bench_text.py ] && { step bench_text; python bench_text.py --device "$dev" 2>&1 | tail -n 8; }
if python -c "import captum" 2>/dev/null; then
  step bench_captum
  python bench_captum.py --device "$dev" --json "$out/captum.json" 2>&1 | tail -n 30
fi
if [ "$mode" != quick ] && [ -f bench_stability.py ]; then
  step bench_stability
  python bench_stability.py --device "$dev" --json "$out/stability.json" 2>&1 | tail -n 40
  step bench_reference
  python bench_reference.py --device "$dev" --json "$out/reference.json" --methods lime paired \
    stratified "adjusted:adjust=mlp" "paired+adjusted:sampler=paired,adjust=mlp" 2>&1 | tail -n 30
  cp -r references "$out/" 2>/dev/null
fi
step done
