"""n8n stores execution data in the "flatted" format; the mirror's decoder must give back exactly
what n8n itself shows (its public API decodes the same rows), including shared and cyclic values."""

import json
import sqlite3
from pathlib import Path

import pytest

from n8n_mirror import flatted

FIXTURES = Path(__file__).parent / "fixtures" / "n8n"
SQLITE = FIXTURES / "n8n-1.123.81.sqlite"


def test_nested_objects_and_strings_are_references():
    text = '[{"a":"1","n":5,"ok":true,"none":null},{"b":"2","list":"3"},"hello",["2","4"],"world"]'
    assert flatted.parse(text) == {"a": {"b": "hello", "list": ["hello", "world"]}, "n": 5, "ok": True, "none": None}


def test_a_repeated_reference_is_one_shared_object():
    value = flatted.parse('[{"x":"1","y":"1"},{"v":1}]')
    assert value == {"x": {"v": 1}, "y": {"v": 1}}
    assert value["x"] is value["y"]


def test_a_cycle_decodes_to_an_object_that_contains_itself():
    value = flatted.parse('[{"name":"1","self":"0","kids":"2"},"root",["0"]]')
    assert value["name"] == "root"
    assert value["self"] is value
    assert value["kids"][0] is value


def test_unicode_and_escapes_survive():
    text = json.dumps([{"m": "1"}, "Grüße 👋 \"quoted\" \\ line\nbreak"], ensure_ascii=True)
    assert flatted.parse(text) == {"m": "Grüße 👋 \"quoted\" \\ line\nbreak"}


def test_empty_and_primitive_roots():
    assert flatted.parse("[]") is None
    assert flatted.parse('[{}]') == {}
    assert flatted.parse('[[]]') == []
    assert flatted.parse('["just text"]') == "just text"
    assert flatted.parse("[42]") == 42
    # Digits as a value are still a reference: "1" means entry 1, here the string "1".
    assert flatted.parse('[{"code":"1"},"1"]') == {"code": "1"}


def test_containers_written_inline_and_zero_padded_references_still_decode():
    # flatted itself writes neither, but a hand-made or older writer's text must not break.
    assert flatted.parse('[{"a":{"b":"1","c":[1,"2",{"d":"01"}]}},"x","y"]') == \
        {"a": {"b": "x", "c": [1, "y", {"d": "x"}]}}


def test_deep_nesting_does_not_hit_the_recursion_limit():
    depth = 50_000
    entries = [{"child": str(i + 1)} for i in range(depth)] + [{"leaf": True}]
    value = flatted.parse(json.dumps(entries))
    for _ in range(depth):
        value = value["child"]
    assert value == {"leaf": True}


@pytest.mark.parametrize("text, message", [
    ("not json", "not JSON"),
    ('{"a": 1}', "JSON array"),
    ('[{"a":"7"}]', "points past"),
    ('[{"a":"x"}]', "not an entry index"),
    ('[{"a":"-1"}]', "not an entry index"),
])
def test_bad_input_is_a_clear_error(text, message):
    with pytest.raises(flatted.FlattedError, match=message):
        flatted.parse(text)


def _api_executions():
    answers = {}
    for page in sorted((FIXTURES / "api-1.123.81").glob("executions-*.json")):
        for execution in json.loads(page.read_text())["data"]:
            answers[execution["id"]] = execution
    return answers


def test_every_real_execution_row_decodes_to_what_n8n_api_shows():
    api = _api_executions()
    with sqlite3.connect(f"file:{SQLITE}?mode=ro", uri=True) as db:
        rows = db.execute('SELECT "executionId", data FROM execution_data ORDER BY "executionId"').fetchall()
    assert len(rows) == 30
    for execution_id, data in rows:
        decoded = flatted.parse(data)
        assert decoded == api[str(execution_id)]["data"], execution_id
        assert decoded["resultData"]["runData"], execution_id
