# Shared by the scripts in this folder (source it, do not run it).
#
#   ensure_venv    create $VENV (default .venv) with $PYTHON (default python3) if it is missing
#   as_root CMD    run CMD as root: directly when root, else through sudo
#   apt_install P  install Debian packages non-interactively
#
# The scripts cd to the repository root before sourcing this file.

VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
PIP_QUIET=(--quiet --disable-pip-version-check)

say() { printf '==> %s\n' "$*"; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

apt_updated=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install $* by hand"
    if [ "$apt_updated" -eq 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# apt_has PKG: Debian offers PKG for installation (call after apt_install or apt-get update).
apt_has() {
    local policy
    policy=$(apt-cache policy "$1" 2>/dev/null) || return 1
    [[ "$policy" == *"Candidate: "[0-9]* ]]
}

ensure_venv() {
    if [ -x "$VENV/bin/python" ]; then
        return 0
    fi
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found; popweave needs Python 3.11 or newer"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        die "popweave needs Python 3.11 or newer; $PYTHON is $("$PYTHON" -V 2>&1)"
    say "creating $VENV with $("$PYTHON" -V 2>&1)"
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
        # Debian's own python3 has no ensurepip until python3.X-venv is installed.
        rm -rf "$VENV"
        local ver
        ver=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
        say "installing python$ver-venv (needed by python3 -m venv)"
        apt_install "python$ver-venv"
        "$PYTHON" -m venv "$VENV" || die "could not create $VENV with $PYTHON -m venv"
    fi
}

# pip_install ARGS...: pip install into the venv, quietly (errors are still shown).
pip_install() {
    "$VENV/bin/python" -m pip install "${PIP_QUIET[@]}" "$@"
}
