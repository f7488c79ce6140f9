"""The Streamlit client driven by Streamlit's own AppTest against a real server: every form and
button, and what the server holds after each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sutra_memory import Sutra

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture()
def app(server_url: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("SUTRA_URL", server_url)
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_memory_is_made_filled_searched_explored_and_walked(app: AppTest, server_url: str) -> None:
    assert app.info[0].value.startswith("No memories yet")
    app.text_input(key="new_name").input("streamlit-kg")
    app.number_input(key="new_dimension").set_value(2)
    app.button(key="create").click().run()
    assert not app.exception and not app.error, (app.exception, app.error)
    assert app.selectbox(key="memory").value == "streamlit-kg"

    for text, vector, meta in [("rain", "1, 0", "user=alice"), ("wet streets", "0.9 0.1", ""), ("slippery roads", "0.7,0.3", "year=2024")]:
        app.text_area(key="content").input(text)
        app.text_input(key="embedding").input(vector)
        app.text_area(key="metadata").input(meta)
        app.button(key="learn").click().run()
        assert app.success and app.success[0].value.startswith("Learned "), (app.error, app.exception)
    for source, target, label in [("rain", "wet streets", "makes"), ("wet streets", "slippery roads", "")]:
        app.text_input(key="source").input(source)
        app.text_input(key="target").input(target)
        app.selectbox(key="kind").select("causal")
        app.text_input(key="label").input(label)
        app.button(key="associate").click().run()
        assert app.success and app.success[-1].value.startswith("Associated"), app.error
    with Sutra(server_url) as sutra:
        stats = sutra.memory("streamlit-kg").stats()
        assert (stats.concepts, stats.associations) == (3, 2)
        rain = [c for c in sutra.memory("streamlit-kg").concepts() if c.content == "rain"][0]
        assert rain.metadata == {"user": "alice"} and rain.embedding == [1.0, 0.0]

    # A bad association names what is wrong.
    app.text_input(key="source").input("rain")
    app.text_input(key="target").input("nowhere")
    app.button(key="associate").click().run()
    assert "no concept reads 'nowhere'" in app.error[0].value

    app.text_input(key="search_text").input("rain")
    app.button(key="search").click().run()
    hits = app.dataframe[0].value
    assert list(hits["content"]) == ["rain"] and hits["found by"][0] == "text #1"
    app.text_input(key="search_text").input("")
    app.text_input(key="search_vector").input("1, 0")
    app.slider(key="search_k").set_value(2)
    app.button(key="search").click().run()
    assert list(app.dataframe[0].value["content"]) == ["rain", "wet streets"]

    app.text_input(key="centre").input("rain")
    app.slider(key="depth").set_value(2)
    app.button(key="explore").click().run()
    graph = app.get("graphviz_chart")[0].proto.spec
    assert '"rain"' in graph and '"slippery roads"' in graph and "causal:makes 0.9" in graph
    assert sorted(app.dataframe[-1].value["content"]) == ["rain", "slippery roads", "wet streets"]

    app.text_input(key="path_from").input("rain")
    app.text_input(key="path_to").input("slippery roads")
    app.selectbox(key="algorithm").select("most_confident")
    app.button(key="find_paths").click().run()
    trails = [m.value for m in app.markdown if "→" in m.value]
    assert trails == ["- rain —causal:makes 0.9→ wet streets —causal 0.9→ slippery roads  (confidence 0.81)"], trails


def test_json_lines_are_imported_with_their_rejected_lines(app: AppTest, server_url: str) -> None:
    with Sutra(server_url) as sutra:
        sutra.create_memory("streamlit-import")
    app.run()
    app.selectbox(key="memory").select("streamlit-import").run()
    lines = [json.dumps({"type": "concept", "content": f"imported {i}"}) for i in range(5)] + ["not json"]
    app.text_area(key="pasted").input("\n".join(lines))
    app.button(key="import").click().run()
    assert not app.exception, app.exception
    assert app.success[0].value == "Imported 5 concepts and 0 associations; 1 lines rejected"
    assert list(app.dataframe[0].value["line"]) == [6]
    with Sutra(server_url) as sutra:
        assert sutra.memory("streamlit-import").stats().concepts == 5
