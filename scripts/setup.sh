#!/usr/bin/env bash
# Set up LatentLab in ./.venv on Debian/Ubuntu: the system libraries Qt needs and Fashion-MNIST,
# then the pinned Python packages (constraints.txt; torch is the CPU build). Safe to run again.
#   bash scripts/setup.sh          # the app
#   bash scripts/setup.sh --test   # the app and the test tools
set -euo pipefail
cd "$(dirname "$0")/.."

system_packages=(libegl1 libgl1 libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon0
  libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0
  libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 libxcb-image0
  dataset-fashion-mnist)  # real 28x28 images for training, the benchmarks and the tests
python3 -c "import ensurepip" 2>/dev/null || system_packages+=(python3-venv)

missing=()
for p in "${system_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
extra=""; [ "${1:-}" = "--test" ] && extra="[test]"
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".${extra}"
echo "LatentLab is set up in .venv"
