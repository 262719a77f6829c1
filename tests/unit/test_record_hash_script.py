"""The stdlib script in docs/ledger.md recomputes a record's leaf hash as register-dataset does."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from audit.ledger.fingerprints import dataset_fingerprint, merkle_root

DOC = Path(__file__).resolve().parents[2] / "docs" / "ledger.md"


def test_the_documented_script_gives_the_ledgers_leaf_hash(tmp_path):
    script = re.search(r"```python\n(# record_hash\.py.*?)```", DOC.read_text(), re.S)
    assert script, "docs/ledger.md lost the record_hash.py script"
    (tmp_path / "record_hash.py").write_text(script.group(1))
    records = [{"b": 1, "a": "é \u2028 x"}, {"x": 1e-05, "n": [1, 2.5, None, True]}]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))  # not canonical: spaces
    leaves = []
    for number in range(1, len(records) + 1):
        out = subprocess.run(
            [sys.executable, str(tmp_path / "record_hash.py"), str(data), str(number)],
            capture_output=True,
            text=True,
            check=True,
        )
        leaves.append(bytes.fromhex(out.stdout.strip()))
    # the two leaves the script printed are the ones the ledger's Merkle root is built from
    assert merkle_root(leaves) == dataset_fingerprint(data).merkle_root
