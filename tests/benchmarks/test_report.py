import json
from pathlib import Path

import pytest

from benchmarks.report import render, update_readme


def _results(tmp_path: Path) -> Path:
    results = tmp_path / "results"
    results.mkdir(exist_ok=True)
    doc = {
        "machine": {"platform": "Linux-x86_64", "cpus": 2},
        "date": "2026-11-25",
        "summary": {"best_local_vs_baseline": 2.1},
        "results": [
            {"mode": "baseline", "tiles_per_s": 6.5, "nested": {"x": 1}},
            {"mode": "openvino", "tiles_per_s": 14.8, "nested": {"x": 2}},
        ],
    }
    (results / "inference.json").write_text(json.dumps(doc))
    return results


def test_render_lists_machine_summary_and_rows(tmp_path: Path):
    text = render(_results(tmp_path) / "inference.json")
    assert "2026-11-25; 2 CPU cores" in text
    assert "- best_local_vs_baseline: 2.1" in text
    assert "| mode | tiles_per_s |" in text and "| openvino | 14.8 |" in text
    assert "nested" not in text


def test_update_readme_replaces_only_the_block(tmp_path: Path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- benchmarks:start -->\nold\n<!-- benchmarks:end -->\noutro\n")
    update_readme(readme, _results(tmp_path))
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n")
    assert "old" not in text and "| baseline | 6.5 |" in text
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="benchmarks:start"):
        update_readme(readme, _results(tmp_path))
