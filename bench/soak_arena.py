"""Soak the blind arena: many simulated voters through gradio_client on loopback, bounded in time.

    .venv/bin/python bench/soak_arena.py                      # 50 voters, 2 minutes
    .venv/bin/python bench/soak_arena.py --voters 10 --seconds 20

The app runs in this process on a free loopback port with two tiny random models (or
``--teacher/--student``) and a temp ledger, with the vote caps off. Each voter is its own
``gradio_client.Client`` (its own browser session) and loops: start a battle, vote at
random, until the time is up. Then it checks that no vote was lost (every accepted vote
is in the ledger), that no request failed, and that the ledger's hash chain verifies.

The baseline, run first in the same process for a quarter of the time, drives the same
``BattleService`` directly from as many threads (no HTTP, no Gradio). The app phase then runs
with the battle handler's disconnect watch off (one blocking wait for both answers, as
before cancellation existed; a visitor who leaves is not noticed) and on, interleaved: off,
on, off, on, a quarter of the time each (``--defences on`` or ``off`` runs one of them for
the whole time). The last line is the app's votes/s as a ratio of the direct baseline, and with
both phases the p95 latency per battle (start + vote) with the defences on over off.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

CHOICES = ("left", "right", "tie", "bothbad")
PROMPTS = [
    "Name three colours.",
    "What is a teacher model?",
    "Say hello.",
    "Count to five.",
    "What is the capital of France?",
    "Write a tiny Python function.",
]


class Tally:
    """Thread-safe counts and latencies."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accepted = self.refused = 0
        self.errors: list[str] = []
        self.latencies: list[float] = []

    def add(self, accepted: bool, seconds: float) -> None:
        with self.lock:
            self.accepted += accepted
            self.refused += not accepted
            self.latencies.append(seconds)

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)

    def merge(self, other: Tally) -> Tally:
        merged = Tally()
        merged.accepted = self.accepted + other.accepted
        merged.refused = self.refused + other.refused
        merged.errors = self.errors + other.errors
        merged.latencies = self.latencies + other.latencies
        return merged

    def p95(self) -> float:
        return (
            statistics.quantiles(self.latencies, n=20)[-1]
            if len(self.latencies) >= 2
            else float("nan")
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tiny_models(folder: Path) -> tuple[str, str]:
    from core.tiny import make_tiny_model, make_tokenizer

    tokenizer = make_tokenizer()
    teacher = make_tiny_model(folder / "soak-teacher", n_layers=4, seed=1, tokenizer=tokenizer)
    student = make_tiny_model(folder / "soak-student", n_layers=2, seed=2, tokenizer=tokenizer)
    return str(teacher), str(student)


def run_voters(voters: int, seconds: float, one_battle) -> Tally:
    """``voters`` threads call ``one_battle(rng) -> accepted`` until ``seconds`` have passed."""
    tally, deadline = Tally(), time.monotonic() + seconds

    def voter(index: int) -> None:
        rng = random.Random(index)
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                accepted = one_battle(rng, index)
            except Exception as error:  # counted and reported, never hidden
                tally.error(f"{type(error).__name__}: {error}"[:200])
                continue
            tally.add(accepted, time.perf_counter() - started)

    threads = [threading.Thread(target=voter, args=(i,), daemon=True) for i in range(voters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally


def direct_battle(services):
    def one(rng: random.Random, index: int) -> bool:
        battle = services.battle.engine.start(
            rng.choice(PROMPTS), session_id=f"direct-{index}", ip="127.0.0.2"
        )
        return services.battle.engine.vote(
            battle.battle_id, rng.choice(CHOICES), session_id=f"direct-{index}"
        ).accepted

    return one


@contextlib.contextmanager
def watch(on: bool):
    """The battle handler's disconnect watch on (as served) or off: one blocking wait for both
    answers and Gradio's own 15 s heartbeat, the handler as it was before cancellation
    existed."""
    from ui.app import HEARTBEAT_S
    from ui.services import battle

    saved, heartbeat = battle.WATCH, os.environ.get("GRADIO_HEARTBEAT_INTERVAL")
    battle.WATCH = on
    # with the watch goes the app's 1 s heartbeat that wakes it; off is Gradio's 15 s default
    # (read by each new event stream)
    os.environ["GRADIO_HEARTBEAT_INTERVAL"] = str(HEARTBEAT_S if on else 15.0)
    try:
        yield
    finally:
        battle.WATCH = saved
        if heartbeat is None:
            os.environ.pop("GRADIO_HEARTBEAT_INTERVAL", None)
        else:
            os.environ["GRADIO_HEARTBEAT_INTERVAL"] = heartbeat


def client_battle(url: str, voters: int):
    from gradio_client import Client

    # httpx's default 5 s read timeout is shorter than a queued battle takes on a busy 2-core
    # machine.
    clients = [Client(url, verbose=False, httpx_kwargs={"timeout": 120}) for _ in range(voters)]

    def one(rng: random.Random, index: int) -> bool:
        client = clients[index]
        client.predict(rng.choice(PROMPTS), api_name="/battle_start")
        outputs = client.predict(api_name=f"/battle_vote_{rng.choice(CHOICES)}")
        reveal = next(o for o in outputs if isinstance(o, str) and "Model A" in o)
        return "recorded" in reveal

    return one


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--voters", type=int, default=50, help="Simulated voters (one session each)."
    )
    parser.add_argument("--seconds", type=float, default=120.0, help="How long the app phase runs.")
    parser.add_argument("--teacher", help="Teacher model (default: a tiny random model).")
    parser.add_argument("--student", help="Student model (default: a tiny random model).")
    parser.add_argument("--max-new-tokens", type=int, default=16, help="Tokens per answer.")
    parser.add_argument(
        "--defences",
        choices=("both", "on", "off"),
        default="both",
        help="Run the app phase with the disconnect watch off, on, or both side by side.",
    )
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="stillhouse-soak-"))
    os.environ["STILLHOUSE_HOME"] = str(work)
    teacher, student = (
        (args.teacher, args.student) if args.teacher and args.student else _tiny_models(work)
    )
    from ui.app import AppConfig, build_app, launch_app

    config = AppConfig(
        teacher=teacher,
        student=student,
        db_path=str(work / "ledger.duckdb"),
        max_new_tokens=args.max_new_tokens,
        votes_per_session=None,
        votes_per_ip=None,
        admin_password=None,
        preload=True,
    )
    demo = build_app(config)
    services = demo.services  # type: ignore[attr-defined]
    port = _free_port()
    launch_app(demo, host="127.0.0.1", port=port, block=False)
    url = f"http://127.0.0.1:{port}/"

    base = run_voters(args.voters, args.seconds / 4, direct_battle(services))
    # Both: off, on, off, on, a quarter of the time each, so a slow drift of the machine or
    # the growing ledger hits both alike.
    phases = ("off", "on") if args.defences == "both" else (args.defences,)
    order = phases * 2
    seconds = args.seconds / len(phases)
    runs: dict[str, Tally] = {}
    for phase in order:
        with watch(phase == "on"):
            part = run_voters(args.voters, seconds / 2, client_battle(url, args.voters))
        runs[phase] = runs[phase].merge(part) if phase in runs else part
    demo.close()

    stored = len(services.store.votes())
    accepted = sum(run.accepted for run in runs.values())
    errors = len(base.errors) + sum(len(run.errors) for run in runs.values())
    expected = base.accepted + accepted
    verify = services.store.verify()
    base_rate, app_rate = base.accepted / (args.seconds / 4), accepted / args.seconds
    print(
        f"direct : {base.accepted} votes, {base_rate:.2f} votes/s, p95 {base.p95():.3f} s, "
        f"{len(base.errors)} errors"
    )
    for phase, run in runs.items():
        print(
            f"app, defences {phase:3}: {run.accepted} votes ({run.refused} refused), "
            f"{run.accepted / seconds:.2f} votes/s, p95 {run.p95():.3f} s, "
            f"{len(run.errors)} errors {run.errors[:3]}"
        )
    print(
        f"ledger : {stored} votes stored of {expected} accepted; verify ok={verify.ok} "
        f"({verify.rows} events)"
    )
    ok = stored == expected and not errors and verify.ok and accepted > 0
    p95 = (
        f"p95 on/off {runs['on'].p95() / runs['off'].p95():.2f}x"
        if len(runs) == 2
        else f"p95 {runs[phases[0]].p95():.3f} s per battle"
    )
    print(
        f"soak_arena {'PASS' if ok else 'FAIL'}: {args.voters} voters, {app_rate:.2f} votes/s "
        "through the app "
        f"= {app_rate / base_rate if base_rate else float('nan'):.2f}x direct BattleService; "
        f"lost {expected - stored}; errors {errors}; {p95}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
