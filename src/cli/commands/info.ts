import type { Command } from 'commander';
import { createNodeGpu } from '../../node/dawn';

/** `thinker info`: the adapter, its features and limits (what the engine will run on). */
export function registerInfo(program: Command) {
  program
    .command('info')
    .description('show the WebGPU adapter, its features and limits')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const gpu = await createNodeGpu();
      if (opts.json) console.log(JSON.stringify(gpu.info, null, 2));
      else {
        console.log(`adapter: ${gpu.info.vendor} ${gpu.info.architecture} ${gpu.info.description}`.trim());
        console.log(`features: ${gpu.info.features.join(', ')}`);
        for (const [k, v] of Object.entries(gpu.info.limits)) if (/Storage|Buffer|Compute/.test(k)) console.log(`  ${k}: ${v}`);
      }
      gpu.destroy();
    });
}
