"""Which subjects a paper run analyses: participants.tsv, the task's runs, the exclusions."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from mous_files import MOUS_AUDITORY_COHORT, release_skeleton

from audiobrain.brainscores.bids import dataset_subjects
from audiobrain.io import InputError
from conftest import REPO


@pytest.fixture
def release(tmp_path):
    config = yaml.safe_load((REPO / "configs" / "mous.yaml").read_text())
    release_skeleton(tmp_path, config)
    return tmp_path / config["dataset"]["bids_dir"]


def test_the_auditory_cohort_is_the_participants_with_an_auditory_run(release):
    subjects = dataset_subjects(release, "auditory", None)
    assert subjects == MOUS_AUDITORY_COHORT and len(subjects) == 102
    assert "A2012" not in subjects and "A2125" in subjects  # FieldTrip's list of the cohort
    assert dataset_subjects(release, "visual", None)[0] == "V1001"


def test_exclusions_leave_subjects_out_and_must_name_known_ones(release):
    subjects = dataset_subjects(release, "auditory", None, exclude=["A2002", "A2125"])
    assert len(subjects) == 100 and "A2002" not in subjects
    with pytest.raises(InputError, match=r"dataset.exclude_subjects: \['A2012'\]"):
        dataset_subjects(release, "auditory", None, exclude=["A2012"])


def test_a_listed_subject_without_the_run_is_named(release):
    assert dataset_subjects(release, "auditory", ["A2003", "A2002"]) == ["A2003", "A2002"]
    with pytest.raises(
        InputError, match=r"dataset.subjects: 1 listed subject.*sub-A2012.*_task-auditory_events"
    ):
        dataset_subjects(release, "auditory", ["A2002", "A2012"])
    (release / "sub-A2002" / "func" / "sub-A2002_task-auditory_bold.nii").unlink()
    with pytest.raises(InputError, match="sub-A2002"):
        dataset_subjects(release, "auditory", ["A2002"])
    assert "A2002" not in dataset_subjects(release, "auditory", None)


def test_malformed_participants_table_is_named(release):
    pd.DataFrame({"participant_id": ["A2002"]}).to_csv(
        release / "participants.tsv", sep="\t", index=False
    )
    with pytest.raises(InputError, match=r"participants.tsv: participant_id must be sub-<label>"):
        dataset_subjects(release, "auditory", None)
