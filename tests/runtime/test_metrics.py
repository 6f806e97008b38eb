"""The Prometheus exposition of server and plugin metrics."""

from flowc.runtime.metrics import Metrics


def test_plugin_counters_and_histograms_are_exposed() -> None:
    metrics = Metrics()
    metrics.inc("flowc_agent_barge_ins_total", {"flow": "a"})
    metrics.inc("flowc_agent_barge_ins_total", {"flow": "a"}, 2)
    metrics.observe("flowc_agent_voice_to_voice_seconds", 0.6, {"flow": "a"})
    metrics.observe("flowc_agent_voice_to_voice_seconds", 20.0, {"flow": "a"})
    lines = metrics.render().splitlines()
    assert 'flowc_agent_barge_ins_total{flow="a"} 3' in lines
    assert "# TYPE flowc_agent_voice_to_voice_seconds histogram" in lines
    assert 'flowc_agent_voice_to_voice_seconds_bucket{flow="a",le="0.5"} 0' in lines
    assert 'flowc_agent_voice_to_voice_seconds_bucket{flow="a",le="0.75"} 1' in lines
    assert 'flowc_agent_voice_to_voice_seconds_bucket{flow="a",le="+Inf"} 2' in lines
    assert 'flowc_agent_voice_to_voice_seconds_sum{flow="a"} 20.6' in lines
    assert 'flowc_agent_voice_to_voice_seconds_count{flow="a"} 2' in lines


def test_unlabelled_series_have_no_braces_and_labels_are_escaped() -> None:
    metrics = Metrics()
    metrics.inc("x_total")
    metrics.plugin_error('we"ird\\name')
    text = metrics.render()
    assert "\nx_total 1\n" in text
    assert 'flowc_plugin_errors_total{plugin="we\\"ird\\\\name"} 1' in text
