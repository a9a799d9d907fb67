"""The JSON schema closes every section: a misspelt key anywhere stops `validate` before any job."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jsonschema
import pytest
import yaml

from audiobrain.recon.acoustic import AcousticSettings
from audiobrain.recon.direct import DirectSettings
from audiobrain.recon.ldm import LDMSettings
from conftest import REDUCED_DEMO, merged

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())
DEMO = yaml.safe_load((REPO / "config.yaml").read_text())


def validate(config: dict) -> None:
    jsonschema.validators.validator_for(SCHEMA)(SCHEMA).validate(config)


@pytest.mark.parametrize(
    ("definition", "settings"),
    [
        ("acoustic_settings", AcousticSettings),
        ("direct_settings", DirectSettings),
        ("ldm_settings", LDMSettings),
    ],
)
def test_the_schema_lists_exactly_the_settings_fields(definition, settings):
    section = SCHEMA["definitions"][definition]
    assert section["additionalProperties"] is False
    assert list(section["properties"]) == [field.name for field in dataclasses.fields(settings)]


@pytest.mark.parametrize("paper", [None, "mous.yaml", "c2f-ldm.yaml", "the tests' reduced demo"])
def test_the_shipped_configs_validate(paper):
    config = DEMO
    if paper == "the tests' reduced demo":
        config = merged(DEMO, REDUCED_DEMO)
    elif paper:
        config = merged(DEMO, yaml.safe_load((REPO / "configs" / paper).read_text()))
    validate(config)


@pytest.mark.parametrize(
    "overlay",
    [
        {"recon": {"ldm": {"ddim_step": 20}}},
        {"recon": {"acoustic": {"learning_rat": 1e-3}}},
        {"recon": {"direct": {"epoch": 3}}},
        {"recon": {"sources": {"demo": {"ldm": {"pretrained_unets": "x"}}}}},
    ],
    ids=["recon.ldm", "recon.acoustic", "recon.direct", "recon.sources.demo.ldm"],
)
def test_a_misspelt_key_of_a_settings_section_is_a_schema_error(overlay):
    with pytest.raises(jsonschema.ValidationError, match="Additional properties are not allowed"):
        validate(merged(DEMO, overlay))


def test_numbers_may_be_written_as_yaml_reads_1e_6_but_not_as_words():
    validate(merged(DEMO, {"recon": {"acoustic": {"learning_rate": "1e-6"}}}))
    with pytest.raises(jsonschema.ValidationError, match="'fast' is not valid"):
        validate(merged(DEMO, {"recon": {"ldm": {"unet_learning_rate": "fast"}}}))
    with pytest.raises(jsonschema.ValidationError, match="'sample' is not one of"):
        validate(merged(DEMO, {"recon": {"ldm": {"prediction_type": "sample"}}}))
