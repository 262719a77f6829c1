"""Blind battles: both answers together, names hidden until one vote, model-naming answers
flagged."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from core.backends import Backend, BackendInfo, GenerationResult, StreamChunk
from core.battle import BattlePolicy, BattleService, VoteRecord, names_model
from core.errors import BackendError, InputError, NotFoundError
from core.generation import ChatRequest, GenerationParams
from core.hashing import sha256_text


class Scripted:
    """A backend that answers with fixed text, optionally waiting for a gate first."""

    def __init__(
        self, name: str, text: str, gate: threading.Event | None = None, fail: bool = False
    ):
        self.name, self.text, self.gate, self.fail = name, text, gate, fail
        self.calls = 0

    def generate(
        self, requests: list[ChatRequest], params: GenerationParams
    ) -> list[GenerationResult]:
        self.calls += 1
        if self.gate is not None:
            assert self.gate.wait(10)
        if self.fail:
            raise RuntimeError("out of memory")
        return [GenerationResult(text=self.text, tokens=len(self.text.split())) for _ in requests]

    def stream(self, request: ChatRequest, params: GenerationParams) -> Iterator[str]:
        yield from self.generate([request], params)[0].text

    def stream_chunks(self, request, params):
        result = self.generate([request], params)[0]
        yield StreamChunk(text=result.text, tokens=result.tokens, finish_reason="stop")

    def info(self) -> BackendInfo:
        return BackendInfo(name=self.name, engine="scripted")


def service(backends: dict[str, Backend], **policy) -> tuple[BattleService, list[VoteRecord]]:
    recorded: list[VoteRecord] = []
    return BattleService(backends, BattlePolicy(seed=0, **policy), record=recorded.append), recorded


@pytest.fixture(scope="module")
def tiny_pair(tiny_model_dir, tiny_teacher_dir):
    from core.backends.transformers_backend import TransformersBackend
    from core.models import resolve_model

    return {
        "tiny-student": TransformersBackend(resolve_model(str(tiny_model_dir))),
        "tiny-teacher": TransformersBackend(resolve_model(str(tiny_teacher_dir))),
    }


def test_battle_with_real_tiny_models_reveals_names_only_after_one_vote(tiny_pair):
    params = GenerationParams(max_new_tokens=6)
    svc, recorded = service(tiny_pair, params=params, flag_model_names=False, flag_empty=False)
    battle = svc.start("Name three colours.", session_id="s1", ip="10.0.0.7")
    expected = {
        name: b.generate([ChatRequest.from_prompt("Name three colours.")], params)[0].text
        for name, b in tiny_pair.items()
    }
    assert sorted([battle.left, battle.right]) == sorted(expected.values())
    assert "tiny" not in battle.model_dump_json()  # no identity in what the voter sees

    outcome = svc.vote(battle.battle_id, "right", session_id="s1")
    assert outcome.accepted and outcome.counted
    assert {outcome.model_left, outcome.model_right} == set(tiny_pair)
    assert (
        expected[outcome.model_left] == battle.left
        and expected[outcome.model_right] == battle.right
    )
    [record] = recorded
    assert record.vote == "model_b" and record.model_a == outcome.model_left
    assert record.session_id == "s1" and record.ip == "10.0.0.7"
    assert record.prompt_hash == sha256_text("Name three colours.")
    assert record.response_a_hash == sha256_text(battle.left)
    assert record.response_b_hash == sha256_text(battle.right)
    assert record.latency_a_s > 0 and record.latency_b_s > 0

    again = svc.vote(battle.battle_id, "left", session_id="s1")
    assert not again.accepted and again.reason == "already_voted_or_revealed"
    assert len(recorded) == 1


def test_the_faster_answer_is_held_until_both_are_complete():
    gate = threading.Event()
    fast, slow = Scripted("fast", "quick answer"), Scripted("slow", "slow answer", gate=gate)
    svc, recorded = service({"fast": fast, "slow": slow})
    battle_id = svc.begin("Hello?", session_id="s1")
    with pytest.raises(BackendError, match="took longer"):
        svc.result(battle_id, timeout=0.3)  # the fast answer is ready, but nothing is shown
    early = svc.vote(battle_id, "left", session_id="s1")
    assert not early.accepted and early.reason == "answers_pending" and early.model_left == ""
    assert recorded == []
    gate.set()
    battle = svc.result(battle_id, timeout=10)
    assert {battle.left, battle.right} == {"quick answer", "slow answer"}
    assert svc.vote(battle_id, "tie", session_id="s1").accepted
    assert recorded[0].vote == "tie"


@pytest.mark.parametrize(
    "text, flag",
    [
        ("I am Llama, a model made by Meta.", "names_model"),
        ("Speaking as SmolLM, I think so.", "names_model"),
        ("   ", "empty"),
    ],
)
def test_answers_that_give_a_model_away_are_kept_but_not_counted(text, flag):
    svc, recorded = service({"a": Scripted("a", text), "b": Scripted("b", "Paris is in France.")})
    battle = svc.start("Where is Paris?", session_id="s1")
    outcome = svc.vote(battle.battle_id, "left")
    side = "left" if outcome.model_left == "a" else "right"
    assert outcome.accepted and not outcome.counted
    assert outcome.flags == [f"{flag}:{side}"] and "not counted" in outcome.reason
    assert recorded[0].flags == [f"{flag}:{side}"]


def test_names_model_catches_self_identification_not_ordinary_words():
    assert names_model("I'm an OpenAI model.") == "openai"
    assert names_model("Hi! I am ChatGPT.") == "chatgpt"
    assert names_model("This answer comes from smollm2-135m-instruct.", ["smollm2-135m-instruct"])
    assert names_model("As Qwen I can help.") == "qwen"
    assert names_model("I am distilled-7b, your helper.", ["distilled-7b", "x"]) == "distilled-7b"
    assert names_model("The llama is a South American animal.") is None
    assert names_model("I am a student of history.", ["student", "teacher"]) is None
    assert (
        names_model("Paris is the capital of France.", ["smollm2-135m-instruct", "student"]) is None
    )


def test_reveal_gives_up_the_vote_and_later_votes_are_ignored():
    svc, recorded = service({"a": Scripted("a", "one"), "b": Scripted("b", "two")})
    battle = svc.start("Count.", session_id="s1")
    shown = svc.reveal(battle.battle_id)
    assert {shown.model_left, shown.model_right} == {"a", "b"} and not shown.accepted
    late = svc.vote(battle.battle_id, "left", session_id="s1")
    assert not late.accepted and recorded == []


def test_votes_from_another_session_unknown_battles_and_bad_choices_are_refused():
    svc, recorded = service({"a": Scripted("a", "one"), "b": Scripted("b", "two")})
    battle = svc.start("Count.", session_id="s1")
    intruder = svc.vote(battle.battle_id, "left", session_id="intruder")
    assert (
        intruder.reason == "not_this_session" and intruder.model_left == intruder.model_right == ""
    )
    with pytest.raises(InputError, match="unknown vote"):
        svc.vote(battle.battle_id, "A")
    with pytest.raises(NotFoundError):
        svc.vote("no-such-battle", "left")
    assert svc.vote(battle.battle_id, "bothbad", session_id="s1").accepted
    assert recorded[0].vote == "tie (bothbad)" and recorded[0].choice == "bothbad"


def test_a_refusing_sink_refuses_the_vote_with_its_message():
    def capped(vote: VoteRecord) -> None:
        raise InputError("vote_cap", "daily vote limit reached")

    svc = BattleService({"a": Scripted("a", "one"), "b": Scripted("b", "two")}, record=capped)
    battle = svc.start("Count.", session_id="s1")
    outcome = svc.vote(battle.battle_id, "left")
    assert not outcome.accepted and outcome.reason == "daily vote limit reached"


def test_a_failing_model_ends_the_battle_cleanly():
    svc, _ = service({"a": Scripted("a", "one"), "b": Scripted("b", "two", fail=True)})
    battle_id = svc.begin("Count.", session_id="s1")
    with pytest.raises(BackendError, match="out of memory"):
        svc.result(battle_id)
    assert not svc.vote(battle_id, "left").accepted


def test_pairs_and_sides_vary_with_weights():
    backends = {n: Scripted(n, n + " says hi") for n in ("a", "b", "c")}
    svc, _ = service(backends, weights={"c": 0.0})
    seen = set()
    for _ in range(20):
        battle = svc.start("Hi", session_id="s")
        outcome = svc.reveal(battle.battle_id)
        seen.add((outcome.model_left, outcome.model_right))
    assert seen == {("a", "b"), ("b", "a")}
    with pytest.raises(InputError, match="two models"):
        BattleService({"a": backends["a"]})


def test_the_battle_watch_reads_gradios_record_or_falls_back_to_yields():
    from types import SimpleNamespace

    from ui.services.battle import _connected

    assert _connected(None) is None  # no Gradio queue to read: the handler yields instead
    event = SimpleNamespace(session_hash="s1", alive=True)
    other = SimpleNamespace(session_hash="s2", alive=False)
    queue = SimpleNamespace(active_jobs=[None, [event, other]])
    blocks = SimpleNamespace(_queue=queue)
    app = SimpleNamespace(get_blocks=lambda: blocks)
    request = SimpleNamespace(request=SimpleNamespace(app=app), session_hash="s1")
    alive = _connected(request)
    assert alive is not None and alive()  # another visitor leaving is not this one
    event.alive = False  # Gradio's queue saw this visitor's stream drop
    assert not alive()
