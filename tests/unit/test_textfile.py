"""One JSONL reader (core.textfile): one wording, a BOM accepted, bad bytes and deep nesting
named."""

from __future__ import annotations

import pytest

from core.arena import battles_from_jsonl
from core.distill.data import load_prompts as distill_prompts
from core.errors import InputError
from core.probe import load_prompts as probe_prompts
from core.textfile import MAX_DEPTH, parse_jsonl, read_jsonl

GOOD = b'{"prompt_id": "a", "prompt": "x", "model_a": "m", "model_b": "n", "winner": "tie"}'


def write(tmp_path, content: bytes):
    path = tmp_path / "p.jsonl"
    path.write_bytes(content)
    return path


def test_rows_come_with_their_line_numbers_and_a_bom_is_accepted(tmp_path):
    path = write(tmp_path, b'\xef\xbb\xbf{"a": 1}\n\n  \r\n{"a": "caf\xc3\xa9\xe2\x80\xa8x"}\r\n')
    assert list(read_jsonl(path)) == [(1, {"a": 1}), (4, {"a": "caf\u00e9\u2028x"})]
    assert list(parse_jsonl(['\ufeff{"a": 1}', "", "[2]"])) == [(1, {"a": 1}), (3, [2])]


@pytest.mark.parametrize(
    "content, message",
    [
        (GOOD + b'\n{"a": \n', "p.jsonl line 2: not valid JSON (Expecting value, column 7)"),
        (
            GOOD + b'\n{"a": "caf\xff"}\n',
            "p.jsonl line 2: not valid UTF-8 (byte 0xff at column 11)",
        ),
        (b"[" * 100_000 + b"]" * 100_000 + b"\n", f"line 1: JSON nested deeper than {MAX_DEPTH}"),
    ],
)
def test_every_reader_words_a_bad_file_the_same_way(tmp_path, content, message):
    path = write(tmp_path, content)
    readers = [
        lambda: list(read_jsonl(path)),
        lambda: probe_prompts(path),
        lambda: distill_prompts(path),
        lambda: battles_from_jsonl(path.read_bytes().splitlines(), source=str(path)),
    ]
    for read in readers:
        with pytest.raises(InputError) as error:
            read()
        assert message in str(error.value) and error.value.exit_code == 2


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = '{"prompt": "' + "[" * (MAX_DEPTH * 3) + '"}'
    assert list(parse_jsonl([text])) == [(1, {"prompt": "[" * (MAX_DEPTH * 3)})]
    nested = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert list(parse_jsonl([nested]))[0][0] == 1  # exactly the limit still reads


def test_answer_files_for_similarity_use_the_same_reader(tmp_path):
    from audit.similarity.io import read_rows

    path = write(
        tmp_path, b'\xef\xbb\xbf{"prompt_id": "a", "text": "x"}\n{"prompt_id": "b", "text"\n'
    )
    with pytest.raises(InputError, match="p.jsonl line 2: not valid JSON"):
        read_rows(path)
    path.write_bytes(b'\xef\xbb\xbf{"prompt_id": "a", "text": "x"}\n')
    assert read_rows(path) == [{"prompt_id": "a", "text": "x"}]
