#!/usr/bin/env bash
# Installs everything kernel-lock needs on a Debian machine, idempotently:
#   * Debian -dev packages for the C++ build (only the missing ones),
#   * a Python virtual environment with torch (libtorch), huggingface_hub and
#     kernels, cached outside the clone and rebuilt only when
#     scripts/python-requirements.txt changes.
# Prints the path of the Python environment on its last line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

apt_packages=(
  build-essential cmake ninja-build pkg-config git python3 python3-venv
  nlohmann-json3-dev libyaml-cpp-dev libtomlplusplus-dev libssl-dev
  libcurl4-openssl-dev libarchive-dev libzstd-dev zstd libcli11-dev doctest-dev
  libcpp-httplib-dev clang libclang-rt-dev nginx-light ccache python3-dev skopeo
  docker-registry apache2-utils libelf-dev
)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; else sudo=""; fi
  export DEBIAN_FRONTEND=noninteractive
  if ! $sudo apt-get update -qq || ! $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
    echo "setup: error: could not install Debian packages: ${missing[*]}" >&2
    echo "setup: check that apt can reach a Debian mirror, then rerun scripts/setup.sh" >&2
    exit 1
  fi
  # nginx-light starts a default server on port 80 on install; tests start their own.
  command -v systemctl >/dev/null 2>&1 && $sudo systemctl disable --now nginx >/dev/null 2>&1 || true
fi

req="$here/python-requirements.txt"
key="$( (cat "$req"; python3 --version) | sha256sum | cut -c1-16)"
cache_root="${KERNEL_LOCK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kernel-lock}"
pyenv="$cache_root/pyenv-$key"
mkdir -p "$cache_root"
# One creator at a time: concurrent setups wait for the first and reuse its result.
exec 9>"$cache_root/.setup.lock"
flock 9
if [ ! -f "$pyenv/.complete" ]; then
  echo "setup: creating Python environment $pyenv (torch, huggingface_hub, kernels); this downloads ~3 GB once" >&2
  rm -rf "$pyenv.tmp"
  mkdir -p "$cache_root"
  python3 -m venv "$pyenv.tmp"
  if ! "$pyenv.tmp/bin/pip" install -q --disable-pip-version-check -r "$req" >&2; then
    echo "setup: error: pip could not install $req (is PyPI reachable?)" >&2
    rm -rf "$pyenv.tmp"
    exit 1
  fi
  # venvs hard-code their path in scripts: rebuild the launchers at the final place.
  rm -rf "$pyenv"
  mv "$pyenv.tmp" "$pyenv"
  python3 -m venv --upgrade "$pyenv" >/dev/null
  sed -i "s#$pyenv.tmp#$pyenv#g" "$pyenv"/bin/* 2>/dev/null || true
  "$pyenv/bin/python" -c "import torch, huggingface_hub, kernels" >&2
  touch "$pyenv/.complete"
fi
# Test-only tools (registry and SBOM clients, the ABI checker, the wheel build backend) are added to
# the cached environment on their own, so changing them does not download torch again.
tools="$here/python-tools.txt"
tools_key="$(sha256sum "$tools" | cut -c1-16)"
if [ ! -f "$pyenv/.tools-$tools_key" ]; then
  echo "setup: adding test tools from $tools to $pyenv" >&2
  if ! "$pyenv/bin/pip" install -q --disable-pip-version-check -r "$tools" >&2; then
    echo "setup: error: pip could not install $tools (is PyPI reachable?)" >&2
    exit 1
  fi
  rm -f "$pyenv"/.tools-*
  touch "$pyenv/.tools-$tools_key"
fi
echo "$pyenv"
