// The headless runner: `thinker <command>`. Each command lives in commands/<name>.ts and registers
// itself on the program; they share the engine code the browser worker runs.
import { Command, CommanderError } from 'commander';
import { registerInfo } from './commands/info';
import { registerGenerate } from './commands/generate';
import { registerTrain } from './commands/train';
import { registerData } from './commands/data';
import { registerHub } from './commands/hub';
import { registerGrade } from './commands/grade';
import { registerBench } from './commands/bench';
import { registerEval } from './commands/eval';
import { registerCurate } from './commands/curate';
import { registerSft } from './commands/sft';
import { registerGrpo } from './commands/grpo';
import { registerAsk } from './commands/ask';
import { registerDistill } from './commands/distill';
import { registerExportOnnx } from './commands/export-onnx';
import { registerDemo } from './commands/demo';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('thinker')
    .description('Thinker Lab headless runner: train, sample and evaluate small medical VQA reasoning models on WebGPU (Dawn).')
    .exitOverride()
    .showHelpAfterError();
  registerInfo(program);
  registerGenerate(program);
  registerTrain(program);
  registerData(program);
  // After registerData: it adds `hub` to the existing `data` command.
  registerHub(program);
  registerGrade(program);
  registerBench(program);
  registerEval(program);
  registerCurate(program);
  registerSft(program);
  registerGrpo(program);
  registerAsk(program);
  registerDistill(program);
  registerExportOnnx(program);
  registerDemo(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    const err = e as Error;
    process.stderr.write(`thinker: ${err.message}\n`);
    if (process.env.THINKER_DEBUG) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}
