// Worker-thread entry for train-thread.ts. In a worker thread (Node 20) only
// tsx's require hook is active, not its import hooks, so the TypeScript
// module is required (as piscina does with PoolEngine's task module; hence no
// top-level await there either).
import { createRequire } from 'node:module';

createRequire(import.meta.url)('./train-thread.ts');
