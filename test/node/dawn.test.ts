// When Dawn finds no adapter because the Vulkan loader itself is missing, the message names the
// library and the package to install, not the ICD file (which is fine). Checked directly, and for
// real with libvulkan.so.1 hidden in a private mount namespace where the machine allows one.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { noAdapterHint, vulkanLoaderProblem } from '../../src/node/dawn';

const root = path.resolve(__dirname, '../..');

const unshareWorks = process.platform === 'linux' && spawnSync('unshare', ['-rm', 'true']).status === 0;
const systemLoader = (() => {
  try {
    return realpathSync('/usr/lib/x86_64-linux-gnu/libvulkan.so.1');
  } catch {
    return null;
  }
})();

describe('no adapter: what to fix', () => {
  it('names libvulkan.so.1 and libvulkan1 when the loader cannot be loaded, else the ICD', () => {
    expect(
      vulkanLoaderProblem(() => {
        throw new Error("Module did not self-register: 'libvulkan.so.1'.");
      }),
    ).toBeNull();
    const missing = vulkanLoaderProblem(() => {
      throw new Error('libvulkan.so.1: cannot open shared object file: No such file or directory');
    });
    expect(missing).toBe('libvulkan.so.1: cannot open shared object file: No such file or directory');
    const hint = noAdapterHint('/usr/lib/chromium/vk_swiftshader_icd.json', missing);
    expect(hint).toMatch(/the Vulkan loader libvulkan\.so\.1, .* could not be loaded \(libvulkan\.so\.1: cannot open shared object file/);
    expect(hint).toMatch(/apt-get install libvulkan1/);
    expect(hint).not.toMatch(/vk_swiftshader_icd/);
    expect(noAdapterHint('/x/icd.json', null)).toMatch(/Dawn found no Vulkan device through \/x\/icd\.json/);
    // This machine runs the tests on Dawn, so its loader loads.
    expect(vulkanLoaderProblem()).toBeNull();
  });

  it.skipIf(!unshareWorks || !systemLoader)(
    'thinker info with the loader hidden says so (private mount namespace)',
    () => {
      const r = spawnSync('unshare', ['-rm', 'bash', '-c', `mount --bind /dev/null ${systemLoader} && exec "${process.execPath}" bin/thinker.mjs info`], {
        cwd: root,
        encoding: 'utf8',
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/thinker: No WebGPU adapter was found: the Vulkan loader libvulkan\.so\.1, .* could not be loaded .*apt-get install libvulkan1/);
    },
    120_000,
  );
});
