import { describe, expect, it } from 'vitest';
import { DATASET_NAMES, datasetFromName, DatasetError, parseDatasetName } from '../src/index.js';

describe('parseDatasetName', () => {
  it('parses every form', () => {
    expect(parseDatasetName('mnist')).toEqual({ kind: 'mnist' });
    expect(parseDatasetName('xor')).toEqual({ kind: 'xor' });
    expect(parseDatasetName('spirals')).toEqual({ kind: 'spirals' });
    expect(parseDatasetName('spirals:200')).toEqual({ kind: 'spirals', n: 200 });
    expect(parseDatasetName('sine:64')).toEqual({ kind: 'sine', n: 64 });
    expect(parseDatasetName('synthetic:784x10')).toEqual({ kind: 'synthetic', inputs: 784, classes: 10, n: 10000 });
    expect(parseDatasetName('synthetic:784x10:60000')).toEqual({ kind: 'synthetic', inputs: 784, classes: 10, n: 60000 });
    expect(parseDatasetName('csv:data/x:y.csv')).toEqual({ kind: 'csv', path: 'data/x:y.csv' });
  });

  it('rejects anything else with one line listing what is allowed', () => {
    for (const bad of ['', 'MNIST', 'cifar', 'mnist:5', 'spirals:0', 'spirals:-3', 'sine:1.5', 'synthetic', 'synthetic:784', 'synthetic:0x10', 'synthetic:4x1', 'synthetic:4x3:', 'csv:']) {
      let err: unknown;
      try {
        parseDatasetName(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(DatasetError);
      expect((err as DatasetError).code).toBe('BAD_NAME');
      expect((err as Error).message).not.toContain('\n');
      expect((err as Error).message).toContain(DATASET_NAMES);
    }
    expect(() => parseDatasetName('cifar')).toThrow('unknown dataset "cifar": no dataset kind "cifar"; expected one of mnist, xor');
  });
});

describe('datasetFromName', () => {
  it('builds generated datasets, named as asked, seeded', () => {
    expect(datasetFromName('xor').train.n).toBe(4);
    const s = datasetFromName('spirals:20', { seed: 4 });
    expect([s.name, s.train.n]).toEqual(['spirals:20', 60]);
    expect(s.train.x).toEqual(datasetFromName('spirals:20', { seed: 4 }).train.x);
    expect(datasetFromName('sine').train.n).toBe(1000);
    expect(datasetFromName('synthetic:5x3:40')).toMatchObject({ inputs: 5, outputs: 3, train: { n: 40 } });
  });

  it('points file-backed datasets at the node loader', () => {
    expect(() => datasetFromName('mnist')).toThrow(/@gradmesh\/data\/node/);
    expect(() => datasetFromName('csv:a.csv')).toThrow(/loadDataset/);
  });
});
