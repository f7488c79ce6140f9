// A runnable example of the sutra-wasm API (serve with `npm run example -w sutra-wasm`).
import { Sutra, SutraError } from "../dist/sutra.js";

const out = document.getElementById("out");
const show = (text) => (out.textContent = text);

let mem;
try {
  mem = await Sutra.open("example", { dimension: 3 });
  const stats = await mem.stats();
  show(`Opened "example": ${stats.concepts} concepts, ${stats.associations} associations (replayed ${mem.recovery.records_replayed} log records).`);
} catch (e) {
  show(e instanceof SutraError ? `${e.code}: ${e.message}` : String(e));
}

document.getElementById("learn").onclick = async () => {
  const rain = await mem.putConcept({ content: "rain", embedding: new Float32Array([1, 0, 0]) });
  const wet = await mem.putConcept({ content: "wet streets", embedding: new Float32Array([0.9, 0.1, 0]) });
  const slip = await mem.putConcept({ content: "slippery roads", embedding: new Float32Array([0.7, 0.3, 0.1]) });
  await mem.batch([
    { op: "put_association", source: rain.id, target: wet.id, kind: "causal", confidence: 0.9 },
    { op: "put_association", source: wet.id, target: slip.id, kind: "causal", confidence: 0.8 },
  ]);
  const stats = await mem.stats();
  show(`Learned. The memory now holds ${stats.concepts} concepts and ${stats.associations} associations. Reload the page: they stay.`);
};

document.getElementById("trail").onclick = async () => {
  const [rain] = (await mem.scan({ prefix: "rain" })).concepts;
  const [slip] = (await mem.scan({ prefix: "slippery" })).concepts;
  if (!rain || !slip) return show("Learn the sample facts first.");
  const result = await mem.paths({ from: rain.id, to: slip.id, algorithm: "most_confident" });
  const path = result.paths[0];
  const trail = path.steps.map((s, i) => `${path.concepts[i].content} —${s.kind} ${s.confidence}→ ${path.concepts[i + 1].content}`);
  show(`${trail.join("\n")}\nconfidence of the whole trail: ${path.confidence}`);
};

document.getElementById("similar").onclick = async () => {
  const [rain] = (await mem.scan({ prefix: "rain" })).concepts;
  if (!rain) return show("Learn the sample facts first.");
  const hits = await mem.search({ id: rain.id, k: 5 });
  show(hits.map((h) => `${h.score.toFixed(3)}  ${h.content}`).join("\n"));
};

document.getElementById("forget").onclick = async () => {
  await mem.close();
  await Sutra.drop("example");
  show("Deleted. Reload to start again.");
};
