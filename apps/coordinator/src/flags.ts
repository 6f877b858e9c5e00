import { parseArgs, type ParseArgsConfig } from 'node:util';
import { z } from 'zod';
import { UsageError } from './errors.js';

type OptionSpec = NonNullable<ParseArgsConfig['options']>[string] & { help: string; valueName?: string };
export type Options = Record<string, OptionSpec>;

/** Parses argv strictly: an unknown flag or a missing value is a UsageError naming it. */
export function parseFlags(argv: string[], options: Options): Record<string, string | boolean | undefined> {
  const config: ParseArgsConfig['options'] = {};
  for (const [name, o] of Object.entries(options)) config[name] = { type: o.type, ...(o.short ? { short: o.short } : {}) };
  try {
    const { values, positionals } = parseArgs({ args: argv, options: config, strict: true, allowPositionals: true });
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"; see --help`);
    return values as Record<string, string | boolean | undefined>;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const msg = (err as Error).message.split('\n')[0]!;
    const unknown = /^Unknown option '([^']*)'/.exec(msg);
    if (unknown) throw new UsageError(`unknown flag ${unknown[1]}; see --help`);
    const ambiguous = /^Option '([^']*)' argument is ambiguous/.exec(msg);
    if (ambiguous) throw new UsageError(`${ambiguous[1]}: a value starting with "-" must be written as ${ambiguous[1]}=VALUE`);
    const missing = /^Option '([^']*)' argument missing/.exec(msg);
    if (missing) throw new UsageError(`${missing[1]!.replace(/^-\w, /, '').split(' ')[0]}: a value is required`);
    throw new UsageError(msg.replace(/\. To specify a positional.*/, ''));
  }
}

export function helpText(usage: string, summary: string, options: Options): string {
  const rows = Object.entries(options).map(([name, o]) => {
    const left = `  --${name}${o.type === 'string' ? ` ${o.valueName ?? 'VALUE'}` : ''}`;
    return `${left.padEnd(30)} ${o.help}`;
  });
  return `${usage}\n\n${summary}\n\nOptions:\n${rows.join('\n')}\n`;
}

/** Validates one flag's value with a zod schema; the error names the flag and what is allowed. */
export function flag<T>(name: string, raw: unknown, schema: z.ZodType<T>, allowed: string): T {
  const r = schema.safeParse(raw);
  if (!r.success) throw new UsageError(`--${name}: got ${JSON.stringify(raw)}; expected ${allowed}`);
  return r.data;
}

export const intFrom = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.string().regex(/^\d+$/).transform(Number).pipe(z.number().int().min(min).max(max));
export const positiveNumber = z
  .string()
  .regex(/^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$/)
  .transform(Number)
  .pipe(z.number().positive().finite());
export const nonNegativeNumber = z
  .string()
  .regex(/^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$/)
  .transform(Number)
  .pipe(z.number().nonnegative().finite());
