#!/usr/bin/env bash
# Acceptance of `pip install .` on current Python without Lava: in a fresh venv under /tmp, install neurolearn
# (not editable) and, outside the repository, compile a .nir, simulate it with --backend fixed, train the on-chip
# spiking XOR, check the fit, and check that verify (which needs Lava) exits 3 with one line naming neurolearn[lava].
#   tools/check_fresh_install.sh [PYTHON]     default: tools/find_python.sh modern (3.12, else the newest)
#   KEEP=1 keeps the venv and outputs; EPOCHS=N trains N epochs (default: the command's own default)
set -euo pipefail
cd "$(dirname "$0")/.."
unset PYTHONPATH   # the installed package only
PY=${1:-$(tools/find_python.sh modern)}
WORK=$(mktemp -d /tmp/neurolearn-fresh.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT
start=$SECONDS
step() {   # step NAME COMMAND...: run it, time it, stop on failure
    local name=$1 t=$SECONDS
    shift
    if "$@" >"$WORK/$name.log" 2>&1; then
        echo "ok    $name ($((SECONDS - t)) s): $(tail -n 1 "$WORK/$name.log" | cut -c1-150)"
    else
        echo "FAIL  $name: $*"; tail -n 20 "$WORK/$name.log"; exit 1
    fi
}
step venv "$PY" -m venv "$WORK/venv"
step pip-upgrade "$WORK/venv/bin/python" -m pip install --upgrade pip
step pip-install "$WORK/venv/bin/python" -m pip install .
cd "$WORK"   # from here on the installed package runs, not the repository's files
"$WORK/venv/bin/python" -c "import sys, numpy, neurolearn; print('installed neurolearn', neurolearn.__version__, \
'at', neurolearn.__file__, 'Python', sys.version.split()[0], 'numpy', numpy.__version__)"
NL="$WORK/venv/bin/neurolearn"
cat >export.py <<'EOF'
import snntorch as snn
import torch
from torch import nn

from neurolearn.nir import export_to_nir, write

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(64, 32), snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism="zero"),
                      nn.Linear(32, 10), snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism="zero", output=True))
write("net.nir", export_to_nir(model, dt=1e-3, input_shape=(64,)))
print("wrote net.nir")
EOF
step export "$WORK/venv/bin/python" export.py
step compile "$NL" compile net.nir -o build
[ -f build/plan.json ] && [ -f build/report.md ] && [ -f build/run_on_loihi.py ] || { echo "FAIL  build files"; exit 1; }
step simulate-fixed "$NL" simulate build --backend fixed --steps 50 --rate 0.2 --batch 4 -o out.npz
step train-on-chip "$NL" train --rule burstprop --task xor --spiking --on-chip ${EPOCHS:+--epochs $EPOCHS} -o run
step fit "$NL" fit build --target loihi2 --board kapoho-point
set +e
"$NL" verify build --steps 20 >verify.out 2>verify.err
code=$?
set -e
lines=$(wc -l <verify.err)
if [ "$code" -eq 3 ] && [ "$lines" -eq 1 ] && grep -q 'neurolearn\[lava\]' verify.err; then
    echo "ok    verify exits 3 without Lava: $(cat verify.err)"
else
    echo "FAIL  verify: exit $code, $lines line(s) on stderr:"; cat verify.err; exit 1
fi
echo "fresh install on $("$WORK/venv/bin/python" -V 2>&1): all checks passed in $((SECONDS - start)) s"
