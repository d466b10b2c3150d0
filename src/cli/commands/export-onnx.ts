// `thinker export-onnx <model-folder> <out>`: a lab model as a transformers.js text-generation
// folder (onnx/model.onnx with a KV cache, config.json, generation_config.json, tokenizer files
// with the chat template), so it runs in any transformers.js app or ONNX Runtime.
import type { Command } from 'commander';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../../engine/errors';
import { nodeDirSink, nodeDirSource } from '../../io/workspace';
import { exportOnnxFolder, type OnnxExportReport } from '../../io/onnx-export';

export async function exportOnnxCommand(model: string, out: string, o: { json?: boolean; force?: boolean }): Promise<OnnxExportReport> {
  if (
    !(await stat(model).then(
      (s) => s.isDirectory(),
      () => false,
    ))
  )
    throw new InputError(model, 'model folder not found');
  const exists = await stat(path.join(out, 'config.json')).then(
    () => true,
    () => false,
  );
  if (exists && !o.force) throw new InputError(out, 'already holds a model (config.json); pass --force to overwrite');
  if (path.resolve(out) === path.resolve(model)) throw new InputError(out, 'is the model folder itself; write the export somewhere else');
  const report = await exportOnnxFolder(nodeDirSource(model), nodeDirSink(out), { where: model });
  if (o.json) process.stdout.write(`${JSON.stringify({ out: path.resolve(out), ...report })}\n`);
  else {
    process.stdout.write(`wrote ${path.resolve(out)}: ${report.files.join(', ')}\n`);
    process.stdout.write(
      `${report.architecture}, ${report.params.toLocaleString('en-US')} parameters, onnx/model.onnx ${(report.onnxBytes / 1e6).toFixed(1)} MB (fp32, KV cache)\n`,
    );
    if (report.droppedVision)
      process.stdout.write('note: the vision encoder is not exported (transformers.js has no class for it); the export answers text questions\n');
  }
  return report;
}

export function registerExportOnnx(program: Command) {
  program
    .command('export-onnx')
    .description('export a lab model folder as ONNX for transformers.js (text generation with a KV cache)')
    .argument('<model-folder>', 'a lab model folder (config.json, model.safetensors, tokenizer.json)')
    .argument('<out>', 'the folder to write')
    .option('--force', 'overwrite a model already in <out>')
    .option('--json', 'print one JSON object')
    .action(async (model: string, out: string, o: { json?: boolean; force?: boolean }) => {
      await exportOnnxCommand(model, out, o);
    });
}
