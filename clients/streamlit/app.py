"""Sutra's Streamlit client: pick a memory, learn concepts and associations, search, explore a
concept's neighbourhood as a graph, find paths with their trail, import JSON Lines.

    SUTRA_URL=http://127.0.0.1:7878 streamlit run clients/streamlit/app.py

(`SUTRA_TOKEN` when the server wants one.) Built on the Python client (`sutra_memory`)."""

from __future__ import annotations

import json
import os
import re
from typing import Optional

import streamlit as st

from sutra_memory import Memory, Sutra, SutraError
from sutra_memory.models import Kind, Metadata, Neighbourhood, Path

KINDS: list[Kind] = ["semantic", "causal", "temporal", "hierarchical", "compositional"]
ID = re.compile(r"^[0-9a-f]{32}$")


def client() -> Sutra:
    """The client of the server the page works with (the address can be changed in the side bar)."""
    url = st.session_state.get("url") or os.environ.get("SUTRA_URL", "http://127.0.0.1:7878")
    token = os.environ.get("SUTRA_TOKEN")
    key = f"client:{url}"
    if key not in st.session_state:
        st.session_state[key] = Sutra(url, token)
    made: Sutra = st.session_state[key]
    return made


def numbers(text: str) -> Optional[list[float]]:
    """A vector typed as numbers separated by commas or spaces (none when empty)."""
    parts = [p for p in re.split(r"[\s,]+", text.strip()) if p]
    return [float(p) for p in parts] if parts else None


def metadata_of(text: str) -> Metadata:
    """`key=value` lines; a value that reads as JSON (a number, true/false, a list) keeps its type."""
    kept: Metadata = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"metadata line {number}: write key=value")
        try:
            kept[key.strip()] = json.loads(value.strip())
        except json.JSONDecodeError:
            kept[key.strip()] = value.strip()
    return kept


def concept_id(memory: Memory, text: str) -> str:
    """A concept named by its id or by its exact content."""
    text = text.strip()
    if ID.match(text):
        return text
    for concept in memory.page(prefix=text, limit=50).concepts:
        if concept.content == text:
            return concept.id
    raise ValueError(f"no concept reads {text!r}: give its exact text or its id")


def trail(path: Path) -> str:
    """A path as the reasoning trail reads: a —kind:label confidence→ b …"""
    names = {c.id: c.content or c.id for c in path.concepts}
    text = names.get(path.steps[0].from_, path.steps[0].from_) if path.steps else (path.concepts[0].content or "")
    for step in path.steps:
        label = f":{step.label}" if step.label else ""
        arrow = f" ←{step.kind}{label} {step.confidence:g}— " if step.reversed else f" —{step.kind}{label} {step.confidence:g}→ "
        text += arrow + names.get(step.to, step.to)
    return f"{text}  (confidence {path.confidence:.3g})"


def dot(around: Neighbourhood) -> str:
    """The neighbourhood as a Graphviz graph: concepts by their text, associations by kind and label."""
    lines = ["digraph {", "  rankdir=LR;", '  node [shape=box, style="rounded"];']
    for c in around.concepts:
        lines.append(f"  {json.dumps(c.id)} [label={json.dumps(c.content or c.id)}];")
    for a in around.associations:
        label = a.kind + (f":{a.label}" if a.label else "") + f" {a.confidence:g}"
        lines.append(f"  {json.dumps(a.source)} -> {json.dumps(a.target)} [label={json.dumps(label)}];")
    lines.append("}")
    return "\n".join(lines)


def report(error: Exception) -> None:
    if isinstance(error, SutraError):
        where = f" ({error.field})" if error.field else ""
        st.error(f"{error.message}{where}")
    else:
        st.error(str(error))


def side_bar() -> Optional[Memory]:
    st.sidebar.text_input("Server", key="url", value=os.environ.get("SUTRA_URL", "http://127.0.0.1:7878"))
    try:
        names = [m["name"] for m in client().memories()]
    except SutraError as e:
        st.sidebar.error(f"cannot list the memories: {e.message}")
        return None
    with st.sidebar.form("new_memory"):
        st.write("New memory")
        name = st.text_input("Name", key="new_name")
        dimension = st.number_input("Vector dimension (0: set by the first embedding)", min_value=0, max_value=4096, value=0, key="new_dimension")
        if st.form_submit_button("Create", key="create"):
            try:
                client().create_memory(name.strip(), dimension=int(dimension) or None)
                st.session_state["memory"] = name.strip()
                names = sorted({*names, name.strip()})
            except SutraError as e:
                report(e)
    if not names:
        st.info("No memories yet: create one in the side bar.")
        return None
    chosen = st.sidebar.selectbox("Memory", names, key="memory")
    return client().memory(chosen) if chosen else None


def learn(memory: Memory) -> None:
    with st.form("concept"):
        st.subheader("Learn a concept")
        content = st.text_area("Text", key="content")
        embedding = st.text_input("Embedding (optional: numbers)", key="embedding")
        confidence = st.slider("Confidence", 0.0, 1.0, 1.0, key="confidence")
        metadata = st.text_area("Metadata (optional: key=value lines)", key="metadata")
        if st.form_submit_button("Learn", key="learn"):
            try:
                id = memory.learn(content, embedding=numbers(embedding), confidence=confidence, metadata=metadata_of(metadata) or None)
                st.success(f"Learned {id}")
            except (SutraError, ValueError) as e:
                report(e)
    with st.form("association"):
        st.subheader("Learn an association")
        source = st.text_input("From (text or id)", key="source")
        target = st.text_input("To (text or id)", key="target")
        kind = st.selectbox("Kind", KINDS, key="kind")
        label = st.text_input("Label (optional: works_at, causes, …)", key="label")
        strength = st.slider("Confidence ", 0.0, 1.0, 0.9, key="association_confidence")
        if st.form_submit_button("Associate", key="associate"):
            try:
                seq = memory.associate(concept_id(memory, source), concept_id(memory, target), kind or "semantic", label=label, confidence=strength)
                st.success(f"Associated (write {seq})")
            except (SutraError, ValueError) as e:
                report(e)


def search(memory: Memory) -> None:
    text = st.text_input("Words", key="search_text")
    vector = st.text_input("Vector (optional)", key="search_vector")
    k = st.slider("Results", 1, 50, 10, key="search_k")
    keyed = st.text_input("Filter (optional: key=value on declared keys)", key="search_filter")
    if st.button("Search", key="search"):
        try:
            hits = memory.search(text or None, vector=numbers(vector), k=k, filter=metadata_of(keyed) or None)
        except (SutraError, ValueError) as e:
            report(e)
            return
        if not hits:
            st.info("Nothing found.")
            return
        rows = [
            {
                "content": h.content,
                "score": round(h.score, 4),
                "found by": ", ".join(f"{f.retriever} #{f.rank}" for f in h.found_by),
                "id": h.id,
            }
            for h in hits
        ]
        st.dataframe(rows, key="hits")


def explore(memory: Memory) -> None:
    centre = st.text_input("Concept (text or id)", key="centre")
    depth = st.slider("Depth", 1, 4, 1, key="depth")
    if st.button("Explore", key="explore") and centre:
        try:
            around = memory.neighbourhood(concept_id(memory, centre), depth=depth)
        except (SutraError, ValueError) as e:
            report(e)
            return
        st.graphviz_chart(dot(around))
        st.dataframe([{"content": c.content, "hops": c.hops, "id": c.id} for c in around.concepts], key="neighbours")


def paths(memory: Memory) -> None:
    source = st.text_input("From (text or id)", key="path_from")
    target = st.text_input("To (text or id)", key="path_to")
    algorithm = st.selectbox("Paths", ["shortest", "most_confident", "k_best"], key="algorithm")
    if st.button("Find paths", key="find_paths"):
        try:
            found = memory.paths(concept_id(memory, source), concept_id(memory, target), algorithm=algorithm, k=3 if algorithm == "k_best" else None)  # type: ignore[arg-type]
        except (SutraError, ValueError) as e:
            report(e)
            return
        if not found.paths:
            st.info("No path.")
        for path in found.paths:
            st.markdown(f"- {trail(path)}")


def import_lines(memory: Memory) -> None:
    uploaded = st.file_uploader("JSON Lines file", type=["jsonl", "ndjson", "txt"], key="upload")
    pasted = st.text_area("… or lines pasted here", key="pasted")
    if st.button("Import", key="import"):
        lines: list[str] = uploaded.getvalue().decode("utf-8").splitlines() if uploaded is not None else pasted.splitlines()
        bar = st.progress(0.0, text="importing")

        def shown(done: int, total: Optional[int]) -> None:
            bar.progress(done / total if total else 1.0, text=f"{done} of {total} lines")

        try:
            summary = memory.import_jsonl(lines, lines_per_request=500, progress=shown)
        except SutraError as e:
            report(e)
            return
        st.success(f"Imported {summary.concepts} concepts and {summary.associations} associations; {summary.rejected_count} lines rejected")
        if summary.rejected:
            st.dataframe([{"line": r.line, "reason": r.reason} for r in summary.rejected], key="rejected")


def main() -> None:
    st.set_page_config(page_title="Sutra", layout="wide")
    st.title("Sutra")
    memory = side_bar()
    if memory is None:
        return
    stats = memory.stats()
    st.caption(f"{memory.name}: {stats.concepts} concepts, {stats.associations} associations")
    learn_tab, search_tab, explore_tab, paths_tab, import_tab = st.tabs(["Learn", "Search", "Explore", "Paths", "Import"])
    with learn_tab:
        learn(memory)
    with search_tab:
        search(memory)
    with explore_tab:
        explore(memory)
    with paths_tab:
        paths(memory)
    with import_tab:
        import_lines(memory)


main()
