"""Judges whose indexes moved to disk (past a small bound) give the verdicts of the in-memory
ones: the recorded verdict digests of the stored histories, counts and examples included."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import spill
from harness.checkers import CHECKERS, stream
from harness.checkers.base import compose
from harness.history import open_history
from harness.spill import SpillDict
from tests.checkers.test_streaming_matches_reference import OPTS, _case, _expect


@pytest.mark.parametrize("bound", [1, 2])
@pytest.mark.parametrize("seed", range(0, 60, 3))
def test_spilled_judges_give_the_recorded_verdicts(
    seed: int, bound: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spill, "BOUND", bound)
    made: list[SpillDict] = []
    real = SpillDict.spill

    def counted(self: SpillDict) -> None:
        made.append(self)
        real(self)

    monkeypatch.setattr(SpillDict, "spill", counted)
    _expect(f"seed-{seed}", compose(CHECKERS, _case(f"seed-{seed}", tmp_path), OPTS))
    path = _case(f"seed-{seed}-file", tmp_path)
    assert isinstance(path, Path)
    monkeypatch.setattr(stream, "CHUNK", 7)
    _expect(f"seed-{seed}-file", compose(CHECKERS, open_history(path), OPTS))
    assert any(d.spilled for d in made)  # the disk path was taken


def test_equal_keys_are_one_key_on_disk_as_in_a_dict() -> None:
    d = SpillDict(spill.add, bound=1)
    for key in (1, 1.0, True, "1", ("a", 2), ("a", 2.0), "é"):
        d.put(key, 1)
    assert d.spilled
    assert list(d.items()) == [(1, 3), ("1", 1), (("a", 2), 2), ("é", 1)]
    assert d.absent([1, "1", 2, ("a", 2), ("a", 3)]) == {2, ("a", 3)}
    with pytest.raises(TypeError):
        d.put(float("nan"), 1)
        d.spill()


_KEYS = st.one_of(st.sampled_from([1, 1.0, True, 0, "1", "a", "é", ("a", 2), ("a", 2.0), ("b",),
                                   None]), st.integers(2, 40), st.text("xyz", max_size=3))
_OPS = st.lists(st.tuples(st.sampled_from(["put", "get", "in", "absent"]),
                          _KEYS, st.integers(1, 9)), max_size=150)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(ops=_OPS, bound=st.integers(1, 4), fold=st.sampled_from(["first", "last", "add"]))
def test_a_spilled_index_reads_as_a_dict_does(ops: list[tuple[str, object, int]], bound: int,
                                               fold: str) -> None:
    """Every read (get, lookup, in, absent, items) agrees with a dict's, whichever keys are
    on disk and however often they moved there (bound 1: every second write moves)."""
    combine = getattr(spill, fold)
    d = SpillDict(combine, bound=bound)
    ref: dict[object, object] = {}
    for op, key, value in ops:
        if op == "put":
            d.put(key, value)
            ref[key] = combine(ref[key], value) if key in ref else value
        elif op == "get":
            assert d.get(key, "none") == ref.get(key, "none")
        elif op == "in":
            assert (key in d) == (key in ref)
        elif op == "absent":
            assert d.absent([key, "zz"]) == {k for k in (key, "zz") if k not in ref}
    assert [d.get(k) for k in ref] == list(ref.values())
    pairs = [(k, n) for n, k in enumerate([*ref, "zz"])]
    assert list(d.lookup(pairs, "none")) == [(k, n, ref.get(k, "none")) for k, n in pairs]
    assert all(k in d for k in ref) and not d.absent(ref)
    assert list(d.items()) == list(ref.items())  # (items moves what memory holds to disk)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(writes=st.lists(st.tuples(st.sampled_from(["a", "b", "c", 1, 1.0, ("a", 2), "é"]),
                                 st.integers(1, 9)), max_size=40),
       bound=st.integers(1, 3), fold=st.sampled_from(["first", "last", "add"]))
def test_batched_reads_fold_the_disk_then_memory(writes: list[tuple[object, int]], bound: int,
                                                 fold: str) -> None:
    """get_many (a key asked twice, one never written) agrees with a dict's after every write:
    with few keys, most are both on disk and written again in memory."""
    combine = getattr(spill, fold)
    d = SpillDict(combine, bound=bound)
    ref: dict[object, object] = {}
    for key, value in writes:
        d.put(key, value)
        ref[key] = combine(ref[key], value) if key in ref else value
        asked = [*ref, "zz", key]
        assert d.get_many(asked) == {k: ref[k] for k in asked if k in ref}


def test_the_bound_is_bigger_when_a_file_is_checked_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(spill.ENV, raising=False)
    assert SpillDict().bound == spill.BOUND
    with spill.checking():
        assert SpillDict().bound == spill.CHECK_BOUND > spill.BOUND
        assert spill.in_check()
    assert not spill.in_check()
    monkeypatch.setenv(spill.ENV, "7")
    with spill.checking():
        assert SpillDict().bound == 7


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_a_bad_bound_in_the_environment_is_one_named_error(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.errors import InputError

    monkeypatch.setenv(spill.ENV, value)
    with pytest.raises(InputError, match=f"{spill.ENV}: must be a whole number"):
        compose(CHECKERS, open_history(_case("seed-3-file", tmp_path)), OPTS)
