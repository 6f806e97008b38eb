"""Call parameters kept for the call's streams, shared between worker processes."""

from pathlib import Path

from flowc.runtime.callparams import CallParams


def test_parameters_reach_another_worker_through_the_directory(tmp_path: Path) -> None:
    answering, streaming = CallParams(str(tmp_path)), CallParams(str(tmp_path))
    answering.remember({"CallUUID": "c-1", "From": "14155550100"})
    assert streaming.get("c-1") == {"CallUUID": "c-1", "From": "14155550100"}
    assert streaming.get("c-2") == {}


def test_memory_is_bounded_and_unsafe_ids_never_touch_the_disk(tmp_path: Path) -> None:
    store = CallParams(str(tmp_path), kept=2)
    for i in range(3):
        store.remember({"CallUUID": f"c{i}"})
    assert list(store._memory) == ["c1", "c2"]
    store.remember({"CallUUID": "../../etc/passwd", "From": "x"})
    assert store.get("../../etc/passwd") == {"CallUUID": "../../etc/passwd", "From": "x"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c0.json", "c1.json", "c2.json"]
    assert CallParams(str(tmp_path)).get("../../etc/passwd") == {}


def test_without_a_directory_parameters_stay_in_the_process() -> None:
    store = CallParams()
    store.remember({"CallUUID": "c", "To": "1800"})
    store.remember({"From": "no call id"})
    assert store.get("c") == {"CallUUID": "c", "To": "1800"}
