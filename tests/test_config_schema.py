"""The JSON schema closes every section: a misspelt key anywhere stops `validate` before any job."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jsonschema
import pytest
import yaml

from audiobrain.recon.acoustic import AcousticSettings
from audiobrain.recon.audiomae import AudioMAEConfig
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


def test_the_audiomae_section_lists_exactly_its_sizes_and_checkpoint():
    section = SCHEMA["properties"]["recon"]["properties"]["models"]["properties"]["audiomae"]
    assert section["additionalProperties"] is False
    sizes = [field.name for field in dataclasses.fields(AudioMAEConfig)]
    assert list(section["properties"]) == ["checkpoint", *sizes]


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
        {"recon": {"models": {"audiomae": {"decoder_dept": 2}}}},
    ],
    ids=[
        "recon.ldm",
        "recon.acoustic",
        "recon.direct",
        "recon.sources.demo.ldm",
        "recon.models.audiomae",
    ],  # fmt: skip
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


MOUS = merged(DEMO, yaml.safe_load((REPO / "configs" / "mous.yaml").read_text()))
C2F = merged(DEMO, yaml.safe_load((REPO / "configs" / "c2f-ldm.yaml").read_text()))


def without(config: dict, section: str, key: str) -> dict:
    copy = merged(config, {})
    node = copy
    for part in section.split("."):
        node = node[part]
    node.pop(key)
    return copy


@pytest.mark.parametrize(
    ("config", "path", "explanation"),
    [
        (
            merged(MOUS, {"surface": {"volume_space": "T1w"}}),
            "['surface']['freesurfer_dir']",
            "T1w-space BOLD is projected with the subjects' FreeSurfer surfaces",
        ),
        (
            merged(MOUS, {"surface": {"freesurfer_dir": "derivatives/freesurfer"}}),
            "['surface']['volume_space']",
            "with surface.freesurfer_dir set, surface.volume_space must be T1w",
        ),
        (
            merged(DEMO, {"surface": {"source": "volume", "volume_space": "T1w"}}),
            "['surface']['volume_space']",
            "the demo's own MNI space",
        ),
        (
            merged(C2F, {"recon": {"sources": {"brain2sound": {"audio_dir": "clips"}}}}),
            "['recon']['sources']['brain2sound']",
            "give source_audio (clips cut by the workflow) or audio_dir",
        ),
        (
            without(C2F, "recon.sources.brain2speech", "roi_masks"),
            "['recon']['sources']['brain2speech']",
            "Brain2Speech needs its voxel sets (Table 4)",
        ),
        (
            without(MOUS, "corpora", "bengali"),
            "['corpora']",
            "networks.types trains bengali: corpora.bengali must say where its corpus is",
        ),
        (
            merged(MOUS, {"corpora": {"scenes": {"source": "demo"}}}),
            "['corpora']['scenes']['source']",
            "'demo' corpora belong to the demo dataset, and dataset.source is bids",
        ),
        (
            without(C2F, "recon.models", "vggish"),
            "['recon']['models']",
            "recon.models must name clap, audiomae, panns and vggish",
        ),
    ],
    ids=[
        "T1w BOLD without FreeSurfer",
        "FreeSurfer surfaces for MNI BOLD",
        "the demo's BOLD in T1w",
        "Brain2Sound clips given twice",
        "Brain2Speech without voxel sets",
        "a trained type without its corpus",
        "a demo corpus beside a lab's data",
        "the study's models not named",
    ],
)
def test_a_cross_field_mistake_is_a_schema_error_at_its_key(config, path, explanation):
    with pytest.raises(jsonschema.ValidationError) as error:
        validate(config)
    best = jsonschema.exceptions.best_match([error.value])
    message = str(best)  # what `snakemake` prints: the key's path and the failed subschema
    assert f"On instance{path}" in message, message
    assert explanation in best.schema.get("description", ""), message


def test_the_default_demo_corpora_stay_valid_beside_a_labs_data_that_trains_no_network():
    lab = {"dataset": {"source": "bids"}, "networks": {"types": ["untrained"]}}
    validate(merged(DEMO, lab))  # config.yaml's demo corpora are merged in, and nothing reads them
    with pytest.raises(jsonschema.ValidationError, match="'demo' should not be valid"):
        validate(merged(DEMO, merged(lab, {"networks": {"types": ["untrained", "dutch"]}})))


@pytest.mark.parametrize(
    ("path", "settings"),
    [
        ("definitions.acoustic_settings", AcousticSettings),
        ("properties.recon.properties.ldm", LDMSettings),
        ("properties.recon.properties.models.properties.audiomae", AudioMAEConfig),
    ],
)
def test_a_default_the_rules_read_from_the_schema_is_the_librarys(path, settings):
    section = SCHEMA
    for key in path.split("."):
        section = section[key]
    defaults = {
        key: entry["default"] for key, entry in section["properties"].items() if "default" in entry
    }
    assert defaults
    library = {field.name: field.default for field in dataclasses.fields(settings)}
    assert defaults == {key: library[key] for key in defaults}
