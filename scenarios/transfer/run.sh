#!/usr/bin/env bash
# Transfer learning end to end (README.md): pretrain a char_lstm centrally on the Old
# Testament, fine-tune it federatedly on the New Testament's chapters, compare with the same
# federated run from scratch and with fine-tuning the output layer only, and sample text
# before and after. Run from the repository root: bash scenarios/transfer/run.sh
# (FEDSIM=path/to/fedsim to use another build). About 10 minutes on 2 cores.
set -euo pipefail
FEDSIM=${FEDSIM:-build/fedsim}
HERE=scenarios/transfer
OUT=results/transfer
mkdir -p datasets "$OUT"

# 1. the two parts of the King James Bible as next-character datasets (Debian's bible-kjv)
if [ ! -f datasets/kjv-ot.h5 ]; then
    bible -f 'Gen1:1-Mal4:6' > "$OUT/kjv-ot.txt"
    "$FEDSIM" data import kjv --text "$OUT/kjv-ot.txt" --out datasets/kjv-ot.h5
fi
if [ ! -f datasets/kjv-nt.h5 ]; then
    bible -f 'Mat1:1-Rev22:21' > "$OUT/kjv-nt.txt"
    "$FEDSIM" data import kjv --text "$OUT/kjv-nt.txt" --clients chapters --out datasets/kjv-nt.h5
fi

# 2. central pretraining on the Old Testament -> results/transfer/kjv-ot.h5
"$FEDSIM" train-central "$HERE/pretrain.yaml" --out "$OUT/kjv-ot.h5" --db "$OUT/transfer.db"

# 3. held-out New Testament accuracy of the pretrained model, before any fine-tuning
"$FEDSIM" train-central "$HERE/finetune.yaml" --epochs 0 | tee "$OUT/before.txt"

# 4. federated: fine-tuning, from scratch, output layer only (one database for the three)
"$FEDSIM" run "$HERE/finetune.yaml"
"$FEDSIM" run "$HERE/scratch.yaml"
"$FEDSIM" run "$HERE/frozen.yaml"
"$FEDSIM" info "$OUT/transfer.db"

# 5. samples from the same prompt and seed, before and after
PROMPT="And Jesus answered and said unto them, "
for ck in kjv-ot transfer_finetune-final transfer_scratch-final; do
    echo "== $ck"
    "$FEDSIM" generate "$OUT/$ck.h5" --prompt "$PROMPT" --length 240 --temperature 0.7 --seed 1
done
