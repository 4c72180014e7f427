"""Status-list commitments' ids and hashes (anchoring.status_commitment): the JCS form (RFC
8785) against the examples of the RFC and against ECMAScript's own JSON.stringify (Node),
for any JSON value hypothesis draws."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcledger.anchoring.status_commitment import (
    CanonicalJsonError,
    canonical_json,
    status_list_hash,
    status_list_key,
)


def test_the_rfc_8785_examples() -> None:
    # RFC 8785 section 3.2.2 (numbers), 3.2.3 (member order by UTF-16 code units).
    assert canonical_json(
        json.loads(
            '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001]}'
        )
    ) == ('{"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27]}')
    members = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    assert [k for k in json.loads(canonical_json(members))] == [
        "\r",
        "1",
        "\u0080",
        "\u00f6",
        "\u20ac",
        "\U0001f600",
        "\ufb33",
    ]
    assert canonical_json({"a": '\u0001"\\\n\x7f'}) == '{"a":"\\u0001\\"\\\\\\n\x7f"}'


def test_ids_and_hashes() -> None:
    url = "https://uni.example/v1/status-lists/sl_1"
    assert status_list_key(url) == hashlib.sha256(url.encode()).digest()
    document = {"id": url, "b": [1, 2.0], "a": True}
    same = json.loads(json.dumps(document, indent=4))  # another serialisation, one value
    assert (
        status_list_hash(same)
        == status_list_hash(document)
        == hashlib.sha256(
            b'{"a":true,"b":[1,2],"id":"https://uni.example/v1/status-lists/sl_1"}'
        ).digest()
    )
    assert status_list_hash({**document, "a": False}) != status_list_hash(document)


@pytest.mark.parametrize("bad", [math.nan, math.inf, {"a": object()}, {1: "x"}, "\ud800"])
def test_values_without_a_canonical_form_are_refused(bad: object) -> None:
    with pytest.raises(CanonicalJsonError):
        canonical_json(bad)
    with pytest.raises(CanonicalJsonError):
        status_list_key("")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=("Cs",)), max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(st.characters(exclude_categories=("Cs",)), max_size=4), inner, max_size=4
        )
    ),
    max_leaves=12,
)

# JCS in ECMAScript: JSON.stringify for every primitive, member names in default sort order.
_JS_JCS = r"""
const canon = v => Array.isArray(v) ? '[' + v.map(canon).join(',') + ']'
  : v !== null && typeof v === 'object'
    ? '{' + Object.keys(v).sort().map(k => JSON.stringify(k) + ':' + canon(v[k])).join(',') + '}'
    : JSON.stringify(v);
let input = '';
process.stdin.on('data', d => { input += d; });
process.stdin.on('end', () => {
  for (const line of input.split('\n').filter(Boolean)) console.log(canon(JSON.parse(line)));
});
"""


@settings(max_examples=30, deadline=None)
@given(values=st.lists(json_values, min_size=1, max_size=20))
def test_the_form_is_what_ecmascript_writes(values: list[object]) -> None:
    if shutil.which("node") is None:
        pytest.fail("node is not installed: run `make setup`")
    lines = "\n".join(json.dumps(v) for v in values) + "\n"
    done = subprocess.run(
        ["node", "-e", _JS_JCS], input=lines, capture_output=True, text=True, check=True
    )
    written = done.stdout.split("\n")[:-1]  # not splitlines: U+0085 and U+2028 stay in lines
    assert written == [canonical_json(json.loads(json.dumps(v))) for v in values]
