import { useState } from "react";
import { asBackendError, type BackendError, type Concept } from "../data/backend";
import { ErrorNote, Field } from "../components/common";
import { formatMetadata, parseMetadata, parseVector, vectorText } from "../logic/vector";
import { useBackend } from "../data/context";

/** Create or edit a concept; the engine's validation messages appear next to their field. */
export function ConceptForm({ memory, concept, onSaved }: { memory: string; concept?: Concept; onSaved: (id: string) => void }) {
  const backend = useBackend();
  const [content, setContent] = useState(concept?.content ?? "");
  const [embedding, setEmbedding] = useState(concept?.embedding ? vectorText(concept.embedding) : "");
  const [strength, setStrength] = useState(String(concept?.strength ?? 1));
  const [confidence, setConfidence] = useState(String(concept?.confidence ?? 1));
  const [metadata, setMetadata] = useState(concept ? formatMetadata(concept.metadata) : "");
  const [error, setError] = useState<BackendError | null>(null);
  const [local, setLocal] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);

  async function save(event: React.FormEvent) {
    event.preventDefault();
    const problems: Record<string, string> = {};
    let vector: number[] | undefined;
    if (embedding.trim() !== "") {
      const parsed = parseVector(embedding);
      if (parsed.ok) vector = parsed.vector;
      else problems.embedding = parsed.error;
    }
    const meta = parseMetadata(metadata);
    if (!meta.ok) problems.metadata = meta.error;
    const s = Number(strength);
    const c = Number(confidence);
    if (strength.trim() === "" || !Number.isFinite(s)) problems.strength = "enter a number";
    if (confidence.trim() === "" || !Number.isFinite(c)) problems.confidence = "enter a number between 0 and 1";
    setLocal(problems);
    setError(null);
    if (Object.keys(problems).length > 0 || !meta.ok) return;
    setBusy(true);
    try {
      const saved = await backend.putConcept(memory, {
        ...(concept ? { id: concept.id } : {}),
        content,
        ...(vector ? { embedding: vector } : {}),
        strength: s,
        confidence: c,
        metadata: meta.metadata,
      });
      onSaved(saved.id);
      if (!concept) {
        setContent("");
        setEmbedding("");
        setMetadata("");
      }
    } catch (e) {
      setError(asBackendError(e));
    } finally {
      setBusy(false);
    }
  }

  const fieldError = (field: string) => local[field] ?? (error?.field === field ? error.message : null);
  const unplaced = error && !["content", "embedding", "strength", "confidence", "metadata"].includes(error.field ?? "") ? error : null;

  return (
    <form className="card" onSubmit={save} aria-label={concept ? "edit concept" : "create a concept"}>
      <h3>{concept ? "Edit" : "Learn a concept"}</h3>
      <Field label="Content" error={fieldError("content")}>
        <textarea name="content" value={content} onChange={(e) => setContent(e.target.value)} rows={2} />
      </Field>
      <Field label="Embedding (optional)" error={fieldError("embedding")} hint="numbers separated by commas">
        <input name="embedding" value={embedding} onChange={(e) => setEmbedding(e.target.value)} />
      </Field>
      <div className="row">
        <Field label="Strength" error={fieldError("strength")}>
          <input name="strength" value={strength} onChange={(e) => setStrength(e.target.value)} inputMode="decimal" />
        </Field>
        <Field label="Confidence" error={fieldError("confidence")}>
          <input name="confidence" value={confidence} onChange={(e) => setConfidence(e.target.value)} inputMode="decimal" />
        </Field>
      </div>
      <Field label="Metadata (optional)" error={fieldError("metadata")} hint='one key=value per line; numbers, true/false and ["lists", "of text"] keep their type, "quoted" text stays text'>
        <textarea name="metadata" value={metadata} onChange={(e) => setMetadata(e.target.value)} rows={2} />
      </Field>
      <ErrorNote error={unplaced} />
      <button type="submit" disabled={busy}>
        {concept ? "Save" : "Learn"}
      </button>
    </form>
  );
}
