#!/usr/bin/env bash
# Print the path of a working CPython 3.10 interpreter (lava-nc 0.10.0 needs >=3.10,<3.11).
# Looks, in order: $PYTHON310, python3.10 on PATH, pyenv's versions, the usual prefixes, uv.
# Exits 1 and lists every place it looked when none works.
set -u
looked=()
try() {
    local cand=$1
    looked+=("$cand")
    [ -n "$cand" ] && [ -x "$cand" ] || return 1
    "$cand" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' >/dev/null 2>&1 || return 1
    echo "$cand"; exit 0
}
[ -n "${PYTHON310:-}" ] && try "$PYTHON310"
on_path=$(command -v python3.10 2>/dev/null) && try "$on_path"
# pyenv's shim fails while its global version is another one: ask pyenv for the real binaries.
roots=()
command -v pyenv >/dev/null 2>&1 && roots+=("$(pyenv root 2>/dev/null)")
roots+=("${PYENV_ROOT:-}" "$HOME/.pyenv" /root/.pyenv /opt/pyenv)
for r in "${roots[@]}"; do
    [ -n "$r" ] || continue
    for cand in "$r"/versions/3.10*/bin/python3.10; do try "$cand"; done
done
for cand in /usr/bin/python3.10 /usr/local/bin/python3.10 /opt/python3.10/bin/python3.10; do try "$cand"; done
if command -v uv >/dev/null 2>&1; then try "$(uv python find 3.10 2>/dev/null)"; fi
{
    echo "error: no working Python 3.10 found (lava-nc 0.10.0 requires >=3.10,<3.11). Looked at:"
    printf '  %s\n' "${looked[@]}"
    echo "Install one (e.g. 'pyenv install 3.10' or your distribution's python3.10) or set PYTHON310=/path/to/python3.10."
} >&2
exit 1
