// A piscina task that does nothing but answer in PoolEngine's reply shape: its
// round trip is the pool's fixed cost per task.
export default function run(task) {
  return { nodes: [{ lo: task.mbLo, hi: task.mbHi, loss: 0 }] };
}
