#!/usr/bin/env bash
# Print the path of a working CPython interpreter of the wanted version.
#   tools/find_python.sh 3.10     exactly 3.10 (lava-nc 0.10.0 needs >=3.10,<3.11; the README's set-up)
#   tools/find_python.sh modern   3.12 if found, else the newest of 3.13, 3.11 (the suite without Lava)
# Looks, in order: $PYTHON<maj><min> (e.g. PYTHON310, PYTHON312), python3.X on PATH, pyenv's versions,
# the usual prefixes, uv. Exits 1 and lists every place it looked when none works.
set -u
want=${1:-3.10}
case "$want" in
    modern) versions=(3.12 3.13 3.11) ;;
    3.*) versions=("$want") ;;
    *) echo "usage: $0 3.X|modern" >&2; exit 2 ;;
esac
looked=()
try() {
    local cand=$1 ver=$2
    looked+=("$cand")
    [ -n "$cand" ] && [ -x "$cand" ] || return 1
    "$cand" -c "import sys; sys.exit(0 if '%d.%d' % sys.version_info[:2] == '$ver' else 1)" >/dev/null 2>&1 || return 1
    echo "$cand"; exit 0
}
roots=()
command -v pyenv >/dev/null 2>&1 && roots+=("$(pyenv root 2>/dev/null)")
roots+=("${PYENV_ROOT:-}" "$HOME/.pyenv" /root/.pyenv /opt/pyenv)
for ver in "${versions[@]}"; do
    var="PYTHON${ver/./}"
    [ -n "${!var:-}" ] && try "${!var}" "$ver"
    on_path=$(command -v "python$ver" 2>/dev/null) && try "$on_path" "$ver"
    # pyenv's shim fails while its global version is another one: ask pyenv for the real binaries.
    for r in "${roots[@]}"; do
        [ -n "$r" ] || continue
        for cand in "$r"/versions/"$ver"*/bin/"python$ver"; do try "$cand" "$ver"; done
    done
    for cand in "/usr/bin/python$ver" "/usr/local/bin/python$ver" "/opt/python$ver/bin/python$ver"; do
        try "$cand" "$ver"
    done
    if command -v uv >/dev/null 2>&1; then try "$(uv python find "$ver" 2>/dev/null)" "$ver"; fi
done
{
    echo "error: no working Python ${versions[*]} found. Looked at:"
    printf '  %s\n' "${looked[@]}"
    echo "Install one (e.g. 'pyenv install ${versions[0]}' or your distribution's python${versions[0]}) or set" \
         "PYTHON${versions[0]/./}=/path/to/python${versions[0]}."
} >&2
exit 1
