import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { decodeModel } from '@gradmesh/core';
import { lastJson, runCli } from './helpers/cli.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'gm-cli-'));

describe('gradmesh CLI', () => {
  test('every command has --help; no command prints usage and exits 2', async () => {
    for (const cmd of ['train', 'predict', 'coordinator', 'worker']) {
      const r = await runCli([cmd, '--help']);
      expect(r.code, cmd).toBe(0);
      expect(r.stdout).toContain(`usage: gradmesh ${cmd}`);
      expect(r.stdout).toContain('--');
    }
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Commands:');
  });

  test.each([
    [['train', '--bogus'], /--bogus/],
    [['train', '--optimizer', 'rmsprop'], /^gradmesh: --optimizer: got "rmsprop"; expected sgd\|momentum\|nesterov\|adam\|adamw$/],
    [['train', '--lr', '-1'], /--lr: a value starting with "-" must be written as --lr=VALUE/],
    [['train', '--lr=-1'], /--lr: got "-1"; expected a positive number/],
    [['train', '--seed'], /--seed: a value is required/],
    [['train', '--batch', '0'], /--batch: /],
    [['train', '--dataset', 'nope'], /--dataset: .*nope/],
    [['train', '--dataset', 'spirals', '--model', '8,abc'], /--model: cannot read model spec 8,abc/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['coordinator', '--port', '99999'], /--port: /],
    [['coordinator', '--compress', 'zip'], /^gradmesh: --compress: got "zip"; expected none\|fp16\|int8$/],
    [['start', '--compress', 'int4'], /^gradmesh: --compress: got "int4"; expected none\|fp16\|int8$/],
    [['worker', '--token', 'x'], /--url is required/],
  ])('bad input %j: one line naming the flag, exit 2', async (args, pattern) => {
    const r = await runCli(args as string[]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
  });

  test('train writes one metrics line per step and a done line; --json prints it; --save round-trips; predict agrees', async () => {
    const dir = tmp();
    const metrics = join(dir, 'm.jsonl');
    const model = join(dir, 'spirals.gmsh');
    const r = await runCli(['train', '--dataset', 'spirals', '--model', '32', '--steps', '60', '--batch', '30', '--threads', '1', '--metrics-out', metrics, '--save', model, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const lines = readFileSync(metrics, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(61);
    lines.slice(0, 60).forEach((l, i) => {
      expect(Object.keys(l).sort()).toEqual(['epoch', 'loss', 'ms', 'samples', 'step']);
      expect(l.step).toBe(i);
      expect(l.epoch).toBe(Math.floor(i / 10));
      expect(l.samples).toBe(30);
      expect(l.loss).toBeGreaterThan(0);
    });
    const done = lines[60];
    expect(Object.keys(done).sort()).toEqual(['event', 'paramsSha256', 'seconds', 'steps', 'testAccuracy', 'testLoss', 'trainLoss']);
    expect(lastJson(r.stdout)).toMatchObject({ ...done, saved: model });
    // paramsSha256 is the SHA-256 of the saved parameters' little-endian float32 bytes.
    const saved = decodeModel(new Uint8Array(readFileSync(model)));
    expect(createHash('sha256').update(new Uint8Array(saved.params.buffer, saved.params.byteOffset, saved.params.byteLength)).digest('hex')).toBe(done.paramsSha256);
    const p = await runCli(['predict', '--model', model, '--dataset', 'spirals', '--json']);
    expect(p.code, p.stderr).toBe(0);
    const pj = JSON.parse(p.stdout);
    expect(pj.accuracy).toBeCloseTo(done.testAccuracy, 10);
    expect(pj.loss).toBeCloseTo(done.testLoss, 6);
  });

  test('csv: trains on a file, predicts rows of another; a bad file names file, line and column and trains nothing', async () => {
    const dir = tmp();
    const rows = ['x1,x2,kind'];
    for (let i = 0; i < 200; i++) {
      const a = ((i * 37) % 100) / 50 - 1;
      const b = ((i * 61) % 100) / 50 - 1;
      rows.push(`${a},${b},${a * b > 0 ? 'same' : 'diff'}`);
    }
    writeFileSync(join(dir, 'q.csv'), `${rows.join('\n')}\n`);
    const model = join(dir, 'q.gmsh');
    const r = await runCli(['train', '--dataset', `csv:${join(dir, 'q.csv')}`, '--label', 'kind', '--model', '16', '--steps', '400', '--batch', '40', '--lr', '0.02', '--threads', '1', '--save', model, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout).testAccuracy).toBeGreaterThan(0.8);
    writeFileSync(join(dir, 'in.csv'), 'x1,x2\n0.5,0.5\n-0.5,0.5\n');
    const p = await runCli(['predict', '--model', model, '--input', join(dir, 'in.csv')]);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout.trim().split('\n')).toEqual(['same', 'diff']);

    writeFileSync(join(dir, 'bad.csv'), 'x1,x2,kind\n1,2,a\n3,oops,b\n');
    const bad = await runCli(['train', '--dataset', `csv:${join(dir, 'bad.csv')}`, '--label', 'kind', '--save', join(dir, 'bad.gmsh')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/bad\.csv:3.*x2.*oops/);
    expect(existsSync(join(dir, 'bad.gmsh'))).toBe(false);
  });
});
