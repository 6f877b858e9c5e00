export type { Kernels } from './kernels/types.js';
export { PLAN_LEAF, PLAN_ADD, PLAN_LEAF_ADD, MAX_PLAN_SLOTS, separatePlan, checkPlan, fusePlanOps, gemmTnBlocksReference, runPlanScalar, type BlockPlan } from './kernels/blocks.js';
export { jsKernels } from './kernels/js.js';
/** The JS references of the Kernels interface's optional element-wise passes (the bits any implementation must give). */
export * as jsElementwise from './kernels/elementwise.js';
export * as detmath from './detmath.js';
export { Rng, shuffleInPlace, permutation } from './rng.js';
export {
  ACTIVATIONS,
  LOSSES,
  INITS,
  DEFAULT_LEAKY_SLOPE,
  isFusedLoss,
  validateSpec,
  type Activation,
  type LossName,
  type Init,
  type DenseSpec,
  type ModelSpec,
} from './spec.js';
export { paramLayout, type LayerLayout, type ParamLayout } from './layout.js';
export { ACTIVATION_OPS, softmaxRowsInPlace, type ActivationOps } from './activations.js';
export { LOSS_OPS, type LossOp } from './losses.js';
export { initParams, defaultInit } from './init.js';
export { Model, createModel, type Evaluation } from './model.js';
export { scheduledLr, validateSchedule, type Schedule } from './schedule.js';
export {
  OPTIMIZERS,
  Optimizer,
  optimizerStateSize,
  validateOptimizerConfig,
  type OptimizerKind,
  type OptimizerConfig,
  type OptimizerState,
} from './optimizer.js';
export { l2Norm, clipScale, clipByGlobalNorm } from './norm.js';
export { crc32 } from './crc32.js';
export {
  encodeModel,
  decodeModel,
  FORMAT_MAGIC,
  FORMAT_VERSION,
  type SavedModel,
  type SavedOptimizer,
} from './serialize.js';
export { gradCheck, referenceLoss, type GradCheckOptions, type GradCheckResult } from './gradcheck.js';
