// Workload 8's writes with Sutra's engine called inside a dedicated worker, as the peer's loop
// runs: no message to and from a worker per call. Not the public client's path (each call of
// the client is a round trip to its worker); it shows what that round trip costs, like for like
// with the peer. The same writes, the same durability: each single write, and each batch,
// flushed before the next.
import init, { Engine } from "../../wasm/pkg/sutra_wasm.js";

onmessage = async (event) => {
  const { single, batches, batchSize } = event.data;
  try {
    await init();
    const engine = await Engine.open(`bench-in-worker-${Date.now()}`, 0);
    let started = performance.now();
    for (let i = 0; i < single; i++) {
      const body = { content: `concept number ${i} of the benchmark` };
      JSON.parse(engine.stage(JSON.stringify({ op: "put_concept", body }), Date.now()));
      engine.commit();
      engine.maintain();
    }
    const singleMs = performance.now() - started;
    started = performance.now();
    for (let b = 0; b < batches; b++) {
      const ops = [];
      for (let j = 0; j < batchSize; j++) {
        ops.push({ op: "put_concept", content: `concept number ${single + b * batchSize + j} of the benchmark` });
      }
      JSON.parse(engine.stage(JSON.stringify({ op: "batch", body: { ops } }), Date.now()));
      engine.commit();
      engine.maintain();
    }
    const batchMs = performance.now() - started;
    const count = JSON.parse(engine.read(JSON.stringify({ q: "stats" }))).concepts;
    engine.free();
    postMessage({ singleMs, batchMs, count });
  } catch (error) {
    postMessage({ error: String(error?.stack ?? error) });
  }
};
