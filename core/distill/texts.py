"""Ready text for teacher-forced KD: text nobody generated, scored by the teacher in the cache pass.

    path = texts_file(config)            # None when the run sets no ``texts``
    records = load_texts(path, limit)    # [{"id", "text"}, ...]

Teacher answers teach the student what the teacher says to a prompt; they are chat answers on
the prompt set's topics and cost a generation pass (about 400 tokens/s here). Ready text costs
only the teacher's forward pass in the top-k cache (about three times faster per token), and
every position of it carries the teacher's whole next-token distribution, so the student
learns the teacher's language model on text of other kinds, code among them.

``texts`` is a JSONL file of ``{"id", "text"}`` records (its licence in ``texts_license``), or
``python-stdlib``: text made at run time from this interpreter's own standard library, PSF
licensed (PSF-2.0) and on every machine that runs stillhouse, so nothing is downloaded and
nothing is copied into the project. Half of it is small functions from the library's source
(with their docstrings), half the paragraphs of the language reference that ``pydoc`` ships
(``pydoc_data.topics``), hard line breaks joined. Records are drawn with the run's seed; the
file is written once per interpreter version, count and seed under
``$STILLHOUSE_HOME/texts/``, and its SHA-256 goes into the ledger with the run's other inputs.
"""

from __future__ import annotations

import ast
import json
import random
import re
import sys
import sysconfig
from pathlib import Path
from typing import Any

from core.distill.config import STDLIB, data_path
from core.paths import atomic_file, stillhouse_home

STDLIB_LICENSE = "psf-2.0"
# Modules whose small functions read like everyday code (file, text and number handling).
_SOURCES = (
    "json/__init__.py",
    "json/decoder.py",
    "csv.py",
    "textwrap.py",
    "string.py",
    "statistics.py",
    "fractions.py",
    "calendar.py",
    "shutil.py",
    "glob.py",
    "fnmatch.py",
    "random.py",
    "bisect.py",
    "heapq.py",
    "difflib.py",
    "argparse.py",
    "configparser.py",
    "pathlib.py",
    "os.py",
    "posixpath.py",
    "genericpath.py",
    "tempfile.py",
    "datetime.py",
    "collections/__init__.py",
    "functools.py",
    "html/__init__.py",
    "urllib/parse.py",
    "base64.py",
    "gettext.py",
    "locale.py",
    "operator.py",
    "pprint.py",
    "copy.py",
    "enum.py",
    "dataclasses.py",
    "inspect.py",
    "logging/__init__.py",
    "zipfile.py",
    "tarfile.py",
    "sched.py",
)
_MIN_CHARS, _MAX_CHARS = 160, 700


def texts_license(config) -> str | None:
    """The licence id of the run's ready text (None: the run sets no ``texts``); makes nothing."""
    if not config.texts:
        return None
    return STDLIB_LICENSE if config.texts == STDLIB else str(config.texts_license)


def texts_file(config) -> tuple[Path, str] | None:
    """(path, licence) of the run's ready text, making the standard-library file if needed."""
    license = texts_license(config)
    if license is None:
        return None
    if config.texts == STDLIB:
        return stdlib_texts(config.max_texts, config.seed), license
    return data_path(config.texts), license


def load_texts(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Records ``{"id", "text"}`` of a ready-text JSONL file (bad lines named)."""
    from core.distill.data import read_jsonl

    return read_jsonl(path, "text", "texts")[:limit]


def stdlib_texts(count: int, seed: int) -> Path:
    """The standard-library text file for ``count`` records drawn with ``seed`` (made once)."""
    version = ".".join(map(str, sys.version_info[:3]))
    path = stillhouse_home() / "texts" / f"{STDLIB}-{version}-{count}-{seed}.jsonl"
    if path.is_file():
        return path
    rng = random.Random(seed)
    # the same text can stand in two places (a helper copied between modules): keep it once
    code, prose = (
        list({t: (s, t) for s, t in part}.values())
        for part in (_code_blocks(), _reference_paragraphs())
    )
    rng.shuffle(code)
    rng.shuffle(prose)
    n_code = min(len(code), count // 2)
    picked = code[:n_code] + prose[: count - n_code]
    rng.shuffle(picked)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "w") as handle:
        for index, (source, text) in enumerate(picked):
            record = {"id": f"py{index:04d}", "source": source, "text": text}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def _code_blocks() -> list[tuple[str, str]]:
    """Small top-level functions (and methods) of the chosen modules, as written."""
    root = Path(sysconfig.get_paths()["stdlib"])
    blocks = []
    for name in _SOURCES:
        path = root / name
        if not path.is_file():
            continue
        source = path.read_text(encoding="utf-8")
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        lines = source.splitlines(keepends=True)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno:
                text = _dedent(lines[node.lineno - 1 : node.end_lineno], node.col_offset)
                if _MIN_CHARS <= len(text) <= _MAX_CHARS:
                    blocks.append((f"stdlib:{name}", text))
    return blocks


def _dedent(lines: list[str], indent: int) -> str:
    """A function's lines with its own indentation taken off (lines indented less, such as
    the inside of a multi-line string, kept as they are)."""
    return "".join(line[indent:] if line[:indent].isspace() else line for line in lines)


def _reference_paragraphs() -> list[tuple[str, str]]:
    """Prose paragraphs of the language reference (``pydoc_data.topics``), lines joined."""
    from pydoc_data.topics import topics

    paragraphs = []
    for topic in sorted(topics):
        for block in re.split(r"\n\s*\n", topics[topic]):
            lines = block.splitlines()
            # prose only: no grammar, code examples (indented) or headings
            if not lines or any(line.startswith(" ") for line in lines):
                continue
            text = " ".join(line.strip() for line in lines)
            if set(text) <= set("*=-~ ") or not text[0].isalpha():
                continue
            if _MIN_CHARS <= len(text) <= _MAX_CHARS:
                paragraphs.append((f"pydoc:{topic}", text))
    return paragraphs
