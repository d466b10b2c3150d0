import type { Command } from 'commander';
import { InputError } from '../../engine/errors';
import { nodeDirSource } from '../../io/workspace';
import { DATASETS } from '../../data/loaders';
import { datasetByName, datasetDir } from '../host';
import { formatReport, type LoadReport } from '../../data/report';

export interface DataStatsOptions {
  dataset: string;
  split?: string;
  dataDir: string;
  onBad?: 'skip' | 'stop';
  limit?: number;
}

/** Load a dataset split and return its report (counts in, out, and every dropped item). */
export async function dataStats(opts: DataStatsOptions): Promise<LoadReport> {
  const spec = datasetByName(opts.dataset);
  const dir = await datasetDir(spec, opts.dataDir);
  const { report } = await spec.load(nodeDirSource(dir), { split: opts.split ?? spec.defaultSplit, onBad: opts.onBad, limit: opts.limit });
  return report;
}

export function registerData(program: Command) {
  const data = program.command('data').description('inspect the medical QA datasets the lab reads');
  data
    .command('stats')
    .description('load a dataset split and print its counts: records, items in, multiple-choice items out, and every dropped item with its reason')
    .requiredOption('--dataset <name>', `dataset: ${DATASETS.map((d) => d.name).join(', ')}`)
    .option('--split <split>', "split (default: the dataset's test split)")
    .requiredOption('--data-dir <dir>', "data folder (holding the dataset's folder, e.g. vqa-rad/, or the dataset folder itself)")
    .option('--on-bad <mode>', 'malformed input or missing images: skip (report at the end) or stop', 'skip')
    .option('--limit <n>', 'stop after n items', (v) => Number.parseInt(v, 10))
    .option('--json', 'print the report as JSON')
    .action(async (o: { dataset: string; split?: string; dataDir: string; onBad: string; limit?: number; json?: boolean }) => {
      if (o.onBad !== 'skip' && o.onBad !== 'stop') throw new InputError('--on-bad', `must be skip or stop, not "${o.onBad}"`);
      if (o.limit !== undefined && !(o.limit > 0)) throw new InputError('--limit', 'must be a positive integer');
      const report = await dataStats({ dataset: o.dataset, split: o.split, dataDir: o.dataDir, onBad: o.onBad, limit: o.limit });
      process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
    });
}
