"""The scripted engine of the app tests speaks the real event schema."""

from apps import FakeEngine


def test_fake_events_are_json_round_trippable(tmp_path):
    """The scripted events use the real schema: what the fake emits, metrics.jsonl could hold."""
    import json
    from lstm_vision.control import RunControl
    from lstm_vision.events import event_from_dict

    seen = []
    result = FakeEngine(tmp_path)(None, seen.append, RunControl())
    assert result.status == "completed"
    assert [event_from_dict(json.loads(e.to_json())) for e in seen] == seen
