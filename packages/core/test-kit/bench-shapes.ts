/** The gemm shapes one training step of each benchmark model runs (see README). */
export interface GemmShape {
  form: 'NN' | 'TN' | 'NT';
  m: number;
  n: number;
  k: number;
}

export interface ModelSteps {
  name: string;
  batch: number;
  /** forward (NN), weight gradients (TN), input gradients (NT; none for layer 1) */
  gemms: GemmShape[];
}

/** Dense layers `sizes[0]-…-sizes[L]` at a batch: the gemms of one SGD step. */
export function modelSteps(sizes: number[], batch: number): ModelSteps {
  const gemms: GemmShape[] = [];
  for (let l = 0; l + 1 < sizes.length; l++) gemms.push({ form: 'NN', m: batch, n: sizes[l + 1], k: sizes[l] });
  for (let l = 0; l + 1 < sizes.length; l++) gemms.push({ form: 'TN', m: sizes[l], n: sizes[l + 1], k: batch });
  for (let l = 1; l + 1 < sizes.length; l++) gemms.push({ form: 'NT', m: batch, n: sizes[l], k: sizes[l + 1] });
  return { name: `${sizes.join('-')} b${batch}`, batch, gemms };
}

export const MODELS: ModelSteps[] = [
  modelSteps([784, 128, 10], 64),
  modelSteps([784, 512, 512, 10], 256),
  modelSteps([784, 128, 10], 32),
  modelSteps([784, 512, 512, 10], 64),
];

/** Whole-training samples/s targets, single thread (Node; browsers: half). */
export const TARGETS: Record<string, number> = {
  '784-128-10 b64': 90_000,
  '784-512-512-10 b256': 15_000,
};

export const BROWSER_TARGETS: Record<string, number> = {
  '784-128-10 b64': 45_000,
  '784-512-512-10 b256': 7_400,
};
