"""Signed checkpoints: an anchor for the hash chain that lives outside the ledger file.

The hash chain alone shows that no event was edited *in place*; it cannot show that the
newest events were cut off, that the file was swapped for an older copy, or that someone
rebuilt every hash from scratch. A checkpoint closes that gap the way a transparency
log's signed tree head does: ``{seq, head_hash, time, key_id, signature}`` where the
Ed25519 signature covers the first four. ``verify`` then demands that every signed seq
still exists in the ledger with the same hash. Without the private key nobody can forge a
checkpoint for a rewritten chain.

    generate_key(Path("ledger.key"))                   # ledger.key (0600) + ledger.key.pub
    write_checkpoint(42, "ab12...", Path("ledger.key"), default_checkpoints(db))
    problem = check(events, default_checkpoints(db), public_key=Path("ledger.key.pub"))

Checkpoints are JSON lines appended to ``<ledger>.checkpoints.jsonl`` beside the ledger
by default. ``$STILLHOUSE_SIGNING_KEY`` names the private key that ``Store`` signs with
after every write; ``$STILLHOUSE_VERIFY_KEY`` (else the signing key's ``.pub``) is the
public key ``verify`` checks with.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.errors import InputError, IntegrityError, NotFoundError
from core.hashing import canonical_json

DOMAIN = b"stillhouse-checkpoint-v1\n"
SIGNING_KEY_ENV = "STILLHOUSE_SIGNING_KEY"
VERIFY_KEY_ENV = "STILLHOUSE_VERIFY_KEY"


class Checkpoint(BaseModel):
    """One signed statement: at ``time`` the ledger had ``seq`` events ending in ``head_hash``."""

    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=0, description="Number of events in the ledger (seq of the last one).")
    head_hash: str = Field(description="Hash of event ``seq`` (the genesis hash when 0).")
    time: str = Field(description="When it was signed, ISO 8601 UTC.")
    key_id: str = Field(description="First 16 hex digits of SHA-256 of the raw public key.")
    signature: str = Field(description="Base64 Ed25519 signature over the other fields.")


class CheckpointCheck(BaseModel):
    """What checking the checkpoints file against the ledger found."""

    model_config = ConfigDict(extra="forbid")

    ok: bool = Field(description="True when every checkpoint holds.")
    checked: int = Field(default=0, description="Checkpoints compared with the ledger.")
    signed: bool = Field(default=False, description="Signatures were checked with a public key.")
    where: str | None = Field(default=None, description="The first checkpoint that failed.")
    problem: str | None = Field(default=None, description="Why it failed, in one line.")
    latest: Checkpoint | None = Field(default=None, description="The newest checkpoint.")


def default_checkpoints(ledger: Path) -> Path:
    """``ledger.duckdb`` -> ``ledger.checkpoints.jsonl`` in the same folder."""
    return ledger.with_name(f"{ledger.stem}.checkpoints.jsonl")


def _message(seq: int, head_hash: str, time: str, key_id: str) -> bytes:
    body = {"seq": seq, "head_hash": head_hash, "time": time, "key_id": key_id}
    return DOMAIN + canonical_json(body).encode("utf-8")


def _key_id(public_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_key(out: Path) -> tuple[Path, str]:
    """Write a new Ed25519 private key to ``out`` (mode 0600) and its public key to
    ``out.pub``; return (public key path, key id). An existing file is never overwritten."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    out = Path(out).expanduser()
    public = out.with_name(out.name + ".pub")
    for path in (out, public):
        if path.exists():
            raise InputError(
                "key_exists", f"{path} already exists", hint="pick another --out; keys are kept"
            )
    if not out.parent.is_dir():
        raise NotFoundError("missing_folder", f"folder does not exist: {out.parent}")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public.write_bytes(public_pem)
    return public, _key_id(key.public_key())


def _read_key_file(path: Path, what: str) -> bytes:
    path = Path(path).expanduser()
    if not path.is_file():
        raise NotFoundError("no_key", f"no {what} key file at {path}")
    return path.read_bytes()


def load_private_key(path: Path) -> Any:
    """The Ed25519 private key in ``path``; refused when others may read the file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    data = _read_key_file(path, "signing")
    mode = stat.S_IMODE(Path(path).expanduser().stat().st_mode)
    if mode & 0o077:
        raise InputError(
            "key_mode",
            f"signing key {path} can be read by other users (mode {mode:o})",
            hint=f"chmod 600 {path}",
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise InputError("bad_key", f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError("bad_key", f"{path} is not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Any:
    """The Ed25519 public key in ``path`` (PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    data = _read_key_file(path, "public")
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise InputError("bad_key", f"{path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError("bad_key", f"{path} is not an Ed25519 public key")
    return key


def sign(seq: int, head_hash: str, key: Any, time: str) -> Checkpoint:
    """A checkpoint for (seq, head_hash), signed with ``key``."""
    key_id = _key_id(key.public_key())
    signature = key.sign(_message(seq, head_hash, time, key_id))
    return Checkpoint(
        seq=seq,
        head_hash=head_hash,
        time=time,
        key_id=key_id,
        signature=base64.b64encode(signature).decode("ascii"),
    )


def signature_ok(checkpoint: Checkpoint, public_key: Any) -> bool:
    """Does the checkpoint's signature verify with ``public_key``?"""
    from cryptography.exceptions import InvalidSignature

    try:
        raw = base64.b64decode(checkpoint.signature, validate=True)
        c = checkpoint
        public_key.verify(raw, _message(c.seq, c.head_hash, c.time, c.key_id))
    except (InvalidSignature, ValueError):
        return False
    return True


def append(checkpoint: Checkpoint, path: Path) -> None:
    """Append one checkpoint line, locked and flushed to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (canonical_json(checkpoint.model_dump()) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def write_checkpoint(seq: int, head_hash: str, key_path: Path, path: Path, time: str) -> Checkpoint:
    """Sign (seq, head_hash) with the key in ``key_path`` and append it to ``path``."""
    checkpoint = sign(seq, head_hash, load_private_key(key_path), time)
    append(checkpoint, path)
    return checkpoint


def read(path: Path) -> list[Checkpoint]:
    """Every checkpoint in the file, in order; a bad line raises ``IntegrityError`` naming it."""
    found: list[Checkpoint] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                found.append(Checkpoint.model_validate(json.loads(line)))
            except ValueError:
                raise IntegrityError(
                    "bad_checkpoint", f"{path} line {number} is not a valid checkpoint"
                ) from None
    return found


def latest(path: Path) -> Checkpoint | None:
    """The newest checkpoint in ``path`` (None when there is no file or it is empty)."""
    with contextlib.suppress(FileNotFoundError):
        found = read(path)
        return found[-1] if found else None
    return None


def default_public_key() -> Path | None:
    """``$STILLHOUSE_VERIFY_KEY``, else ``$STILLHOUSE_SIGNING_KEY.pub`` when that exists."""
    if os.environ.get(VERIFY_KEY_ENV):
        return Path(os.environ[VERIFY_KEY_ENV]).expanduser()
    signing = os.environ.get(SIGNING_KEY_ENV)
    if signing:
        public = Path(signing).expanduser()
        public = public.with_name(public.name + ".pub")
        if public.is_file():
            return public
    return None


def check(
    events: dict[int, str], path: Path, public_key: Path | None = None, required: bool = False
) -> CheckpointCheck:
    """Compare every checkpoint in ``path`` with the ledger's ``{seq: hash}``.

    With ``public_key`` every signature must verify and at least one checkpoint must exist
    (a deleted checkpoints file is a failure). ``required`` makes a missing file a
    ``NotFoundError`` (the user named it)."""
    key = load_public_key(public_key) if public_key is not None else None
    if not path.is_file():
        if required:
            raise NotFoundError("no_checkpoints", f"no checkpoints file at {path}")
        if key is not None:
            return CheckpointCheck(
                ok=False,
                signed=True,
                where=str(path),
                problem="no checkpoints file, though a public key was given: deleted?",
            )
        return CheckpointCheck(ok=True)
    found = read(path)
    if key is not None and not found:
        return CheckpointCheck(
            ok=False, signed=True, where=str(path), problem="no signed checkpoint in the file"
        )
    last = max(events) if events else 0
    for number, point in enumerate(found, start=1):
        where = f"checkpoint {number} (seq {point.seq}, {point.time})"
        if key is not None and not signature_ok(point, key):
            problem = "signature does not verify with this public key: forged or edited"
            return _failed(found, number, key, where, problem)
        if point.seq == 0:
            continue
        if point.seq not in events:
            problem = (
                f"signed seq {point.seq} is missing (the ledger has {last} events): "
                "truncated, or replaced by an older copy"
            )
            return _failed(found, number, key, where, problem)
        if events[point.seq] != point.head_hash:
            problem = (
                f"event {point.seq} has hash {events[point.seq][:16]}..., signed "
                f"{point.head_hash[:16]}...: history rewritten or rebuilt"
            )
            return _failed(found, number, key, where, problem)
    return CheckpointCheck(
        ok=True, checked=len(found), signed=key is not None, latest=found[-1] if found else None
    )


def _failed(
    found: list[Checkpoint], number: int, key: Any, where: str, problem: str
) -> CheckpointCheck:
    return CheckpointCheck(
        ok=False,
        checked=number,
        signed=key is not None,
        where=where,
        problem=problem,
        latest=found[-1],
    )
