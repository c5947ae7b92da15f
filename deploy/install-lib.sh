# Shell functions deploy/install.sh and deploy/install-station.sh both source; not a
# program of its own. They expect SRC_IN (the checkout being installed), PREFIX
# (/opt/gudang) and PYTHON (the interpreter of the virtual environment) to be set.

# Messages name the installer that says them (install, install-station); die exits 1.
INSTALLER=$(basename "$0" .sh)
say() { echo "$INSTALLER: $*"; }
die() { echo "$INSTALLER: $*" >&2; exit 1; }

# The installer's help: its opening comment, without the '#'s. Exits 2.
usage() {
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
  exit 2
}

# The interpreter a Python runs on (a venv's is its base's), empty when there is none.
base_prefix() { "$1" -c 'import sys; print(sys.base_prefix)' 2>/dev/null || true; }

# install_code EXTRA: a copy of the checkout in $PREFIX/src (the one before it kept as
# src.old), a virtual environment on $PYTHON (made again when that Python changed),
# gudang[EXTRA] installed into it, and `gudang` on the PATH.
install_code() {
  mkdir -p "$PREFIX"
  if [ "$SRC_IN" != "$PREFIX/src" ]; then
    rm -rf "$PREFIX/src.new"
    mkdir -p "$PREFIX/src.new"
    # The source, without local state (.venv, var/, caches, rendered compose files).
    tar -C "$SRC_IN" --exclude=.git --exclude=.venv --exclude=var --exclude='__pycache__' \
      --exclude='*.egg-info' --exclude=./build --exclude=./dist --exclude=.pytest_cache --exclude=.mypy_cache \
      --exclude=.ruff_cache --exclude=deploy/compose/run -cf - . | tar -C "$PREFIX/src.new" -xf -
    rm -rf "$PREFIX/src.old"
    [ -d "$PREFIX/src" ] && mv "$PREFIX/src" "$PREFIX/src.old"
    mv "$PREFIX/src.new" "$PREFIX/src"
  fi
  if [ "$(base_prefix "$PREFIX/venv/bin/python")" != "$(base_prefix "$PYTHON")" ]; then
    rm -rf "$PREFIX/venv"
    "$PYTHON" -m venv "$PREFIX/venv"
  fi
  "$PREFIX/venv/bin/pip" install -q --upgrade "$PREFIX/src[$1]"
  # `gudang status`, `gudang restart api`, ... on the PATH (docs/operations.md).
  ln -sfn "$PREFIX/venv/bin/gudang" /usr/local/bin/gudang
}
