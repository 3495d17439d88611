#!/usr/bin/env bash
# One GPU session that trains the shipped models and reproduces the paper's
# MSE vs MSE+BPD comparison, everything concurrently on one card.
#
#   bench/gpu_session.sh AASCE_DIR OUT_DIR [BUDGET_S] [CMP_EPOCHS] [SMOKE]
#
# AASCE_DIR: the boostnet_labeldata layout (a downscaled copy is fine: only
# relative numbers and scale-free metrics are read from it here).
# BUDGET_S: wall time for the shipped-model runs; they stop gracefully (SIGINT
# keeps the best checkpoint). SMOKE=1 runs a seconds-long CPU rehearsal.
set -u
AASCE=$1; OUT=$2; BUDGET=${3:-400}; EPOCHS=${4:-60}; SMOKE=${5:-0}
mkdir -p "$OUT/logs"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
PY=${PYTHON:-python3}
SG="$PY -m spinegui"
if [ "$SMOKE" = 1 ]; then
  SHIP_PRESETS="tiny"; CMP_PRESET=tiny; NSYN=24; SYN_SIZE=128x64; SHIP_SYN=24; SEEDS="0"
else
  SHIP_PRESETS="fast medium paper"; CMP_PRESET=fast; NSYN=500; SYN_SIZE=512x256; SHIP_SYN=1500
  SEEDS="0 1 2"
fi
nvidia-smi -L 2>/dev/null || echo "no GPU: CPU rehearsal"

# Shipped-model candidates: the integral head at three input sizes on the real data,
# and the C7-L5 demo model on synthetic radiographs.
for p in $SHIP_PRESETS; do
  timeout -s INT "$BUDGET" $SG train --aasce "$AASCE" --arch integral --preset "$p" \
    --epochs 1000 --patience 0 --seed 0 --out "$OUT/t1l5_aasce_integral_$p.safetensors" \
    --json-progress > "$OUT/logs/ship_t1l5_$p.jsonl" 2> "$OUT/logs/ship_t1l5_$p.err" &
done
timeout -s INT "$BUDGET" $SG train --synthetic "$SHIP_SYN" --synthetic-size 1024x512 \
  --template C7-L5 --arch integral --preset medium --epochs 1000 --patience 0 --seed 0 \
  --out "$OUT/c7l5_synthetic_integral_medium.safetensors" --json-progress \
  > "$OUT/logs/ship_c7l5.jsonl" 2> "$OUT/logs/ship_c7l5.err" &

# The paper's comparison: same network (the paper's), same split, alpha x seed.
cmp() {  # dataset alpha seed
  local name="cmp_$1_a$2_s$3" data
  if [ "$1" = aasce ]; then data=(--aasce "$AASCE"); ev=("$AASCE")
  else data=(--synthetic "$NSYN" --synthetic-size "$SYN_SIZE" --template C7-L5)
       ev=(--synthetic "$NSYN" --synthetic-size "$SYN_SIZE" --template C7-L5); fi
  $SG train "${data[@]}" --arch paper --preset "$CMP_PRESET" --epochs "$EPOCHS" --patience 0 \
    --alpha "$2" --seed "$3" --split-seed 0 --out "/tmp/$name.safetensors" --quiet \
    > "$OUT/logs/$name.train" 2>&1 &&
  $SG evaluate --model "/tmp/$name.safetensors" "${ev[@]}" --subset test --split-seed 0 --json \
    > "$OUT/logs/$name.json" 2> "$OUT/logs/$name.err"
}
for ds in aasce synthetic; do for a in 0 0.001 0.01 0.1; do for s in $SEEDS; do
  cmp "$ds" "$a" "$s" &
done; done; done
wait
# Speed on this card.
timeout 60 $PY bench/bench_network.py --device cuda --amp > "$OUT/logs/bench_network_cuda.txt" 2>&1 || true
tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$OUT/logs"
ls -la "$OUT"
