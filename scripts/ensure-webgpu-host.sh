#!/usr/bin/env bash
# Tests need a real WebGPU implementation: Debian's chromium (which carries SwiftShader, the CPU
# Vulkan driver) for the browser tests, and the Vulkan loader for Dawn in Node. Installs them when
# missing (CI and fresh machines start without them). On a machine with a GPU and drivers this is a no-op
# as long as chromium and libvulkan are present.
#
# Another apt or dpkg (unattended-upgrades, a second install) holding the lock is waited for, up
# to APT_LOCK_WAIT seconds (default 600), trying again every APT_LOCK_POLL seconds (default 10).
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -e /usr/lib/chromium/vk_swiftshader_icd.json ] || need+=(chromium)
ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1' || need+=(libvulkan1)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
echo "installing ${need[*]} (WebGPU on SwiftShader for the tests)..."
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
wait_limit=${APT_LOCK_WAIT:-600}
poll=${APT_LOCK_POLL:-10}
deadline=$((SECONDS + wait_limit))

# apt_locked CMD...: run an apt-get command; while it fails because another process holds the apt
# or dpkg lock, say so and try again until the deadline. Any other failure is final.
apt_locked() {
  local out status
  while true; do
    set +e
    out=$("$@" 2>&1)
    status=$?
    set -e
    if [ $status -eq 0 ]; then return 0; fi
    if ! grep -qiE 'could not get lock|unable to lock|is another process using it|lock-frontend' <<<"$out"; then
      echo "$out" >&2
      return $status
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "$out" >&2
      echo "the apt lock was still held after ${wait_limit}s (APT_LOCK_WAIT); run this again when the other apt or dpkg has finished" >&2
      return $status
    fi
    echo "another process holds the apt lock; waiting (${SECONDS}s of ${wait_limit}s)..."
    sleep "$poll"
  done
}

apt_locked $SUDO apt-get update -qq
# dpkg's own lock is waited for by apt itself, up to what is left of the wait.
apt_locked $SUDO apt-get -o DPkg::Lock::Timeout=$((deadline > SECONDS ? deadline - SECONDS : 0)) install -y -qq --no-install-recommends "${need[@]}"
echo "installed ${need[*]}"
