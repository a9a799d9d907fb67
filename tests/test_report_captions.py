"""The report's front page and captions render without docutils warnings, as Snakemake renders
them: Jinja first, then reStructuredText with the report's link targets appended."""

from __future__ import annotations

import io
import re
from collections import defaultdict

import jinja2
import pytest
import yaml
from docutils.core import publish_parts

from conftest import REPO, merged

CAPTIONS = sorted((REPO / "report").glob("*.rst"))
CONFIGS = {
    "demo": ["config.yaml"],
    "mous": ["config.yaml", "configs/mous.yaml"],
    "c2f-ldm": ["config.yaml", "configs/c2f-ldm.yaml"],
}


def report_link_targets() -> str:
    """The targets Snakemake appends to every text: its panels, and each category of the rules."""
    rules = "".join(path.read_text() for path in (REPO / "rules").glob("*.smk"))
    categories = sorted(set(re.findall(r'category="([^"{]+)"', rules)))
    names = ["Workflow", "Statistics", *categories]
    return "\n\n" + "\n".join(f".. _{name}: javascript:void(0)" for name in names) + "\n"


def docutils_messages(text: str) -> str:
    warnings = io.StringIO()
    publish_parts(
        text + report_link_targets(),
        writer="html",
        settings_overrides={"warning_stream": warnings, "report_level": 2, "halt_level": 5},
    )
    return warnings.getvalue()


def config_of(name: str) -> dict:
    config = {}
    for path in CONFIGS[name]:
        config = merged(config, yaml.safe_load((REPO / path).read_text()))
    return config


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
@pytest.mark.parametrize("caption", CAPTIONS, ids=[path.name for path in CAPTIONS])
def test_text_renders_without_docutils_warnings(caption, config_name):
    class Snakemake:
        config = config_of(config_name)
        wildcards = defaultdict(lambda: "demo")

    text = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(caption.read_text())
    rendered = text.render(snakemake=Snakemake)
    assert docutils_messages(rendered) == ""


def test_a_category_named_like_a_report_panel_is_caught():
    """Why the brain-score statistics are not the category "Statistics": the duplicate target."""
    assert "Duplicate explicit target name" in docutils_messages(".. _Statistics: x\n")


def front_page(config_name: str) -> str:
    class Snakemake:
        config = config_of(config_name)

    text = jinja2.Environment().from_string((REPO / "report" / "workflow.rst").read_text())
    return text.render(snakemake=Snakemake)


def test_the_front_page_takes_its_numbers_from_the_config():
    mous = front_page("mous")
    assert "30 DeepSpeech2-style networks" in mous  # 5 types x 6 seeds
    assert "every participant of its ``participants.tsv``" in mous  # subjects: null
    assert "Not run in this configuration (``recon.datasets`` is empty)" in mous
    c2f = front_page("c2f-ldm")
    assert "Dataset ``brain2speech`` (brain2speech, 7 subjects)" in c2f
    assert "10 subjects" in c2f and "10 DeepSpeech2-style networks" in c2f  # the demo's part 1
