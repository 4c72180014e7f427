"""The pure parts of bulk issuance: a credential's file text is exactly what
``json.dumps(indent=2, ensure_ascii=False)`` writes, for any JSON value."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mcledger.node.issuing.award_batches import indented_json

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(), max_size=12)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(st.characters(), max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


@given(JSON)
def test_indented_json_is_json_dumps_indent_2(value: Any) -> None:
    assert indented_json(value) == json.dumps(value, indent=2, ensure_ascii=False)


def test_what_is_not_plain_json_is_left_to_json_dumps() -> None:
    class Text(str):
        pass

    odd = {"tuple": (1, 2), 3: "an int key", "text": Text("x"), "nested": [{"k": True}]}
    assert indented_json(odd) == json.dumps(odd, indent=2, ensure_ascii=False)
