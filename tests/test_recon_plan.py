"""What the reconstruction rules run, from the config: model names carry their P_gt, Tables 1-2
and Table 3 vocode the right cells, and prediction files are named as the trainings write them."""

import pytest

from audiobrain.io import InputError
from audiobrain.recon import plan

STUDY = {"p_gt": [0.0, 0.25, 0.5], "prompts": ["none", "text"], "n_subjects": 1}


def test_a_c2f_ldm_name_gives_back_its_p_gt_and_its_acoustic_decoder():
    assert plan.c2f_ldm_name(0.5) == "c2f-pgt0.5"
    assert plan.model_p_gt("c2f-pgt0.5", 0.25) == 0.5
    assert plan.model_p_gt("fine", 0.25) == 0.25
    assert plan.acoustic_variant("fine", 0.25) == "fine"
    assert plan.acoustic_variant("c2f-pgt0.25", 0.25) == "c2f"  # the study's own D_aco
    assert plan.acoustic_variant("c2f-pgt0", 0.25) == "c2f-pgt0"


def test_study_subjects_train_one_c2f_ldm_per_p_gt_and_the_others_only_tables_1_2():
    assert plan.study_subjects(["1", "2", "3"], STUDY) == ["1"]
    assert plan.study_subjects(["1", "2"], {**STUDY, "n_subjects": None}) == ["1", "2"]
    assert plan.ldm_models(0.25, STUDY["p_gt"], in_study=False) == ["fine", "c2f-pgt0.25"]
    assert plan.ldm_models(0.25, STUDY["p_gt"], in_study=True) == [
        "fine", "c2f-pgt0", "c2f-pgt0.25", "c2f-pgt0.5",
    ]  # fmt: skip


def test_tables_1_2_vocode_every_method_unprompted_and_table_3_each_p_gt_and_prompt():
    tables = plan.vocode_entries("reconstructions", 0.25, STUDY)
    assert [entry["method"] for entry in tables] == [*plan.METHODS, "fine_ldm", "c2f_ldm"]
    assert {entry["prompt"] for entry in tables} == {"none"}
    assert {entry["input"] for entry in tables if entry["method"] == "c2f_ldm"} == {
        "ldm-c2f-pgt0.25"
    }
    study = plan.vocode_entries("conditional", 0.25, STUDY)
    assert [(entry["p_gt"], entry["prompt"]) for entry in study] == [
        (p, prompt) for p in STUDY["p_gt"] for prompt in STUDY["prompts"]
    ]
    assert study[1]["prefix"] == "text_" and study[0]["prefix"] == ""


def test_every_vocoded_input_has_the_file_its_training_writes():
    names = {key: plan.prediction_file(key) for key in ("lir", "c2f", "fine", "ldm-fine")}
    assert names == {
        "lir": "direct-lir.npz",
        "c2f": "acoustic-c2f.npz",
        "fine": "acoustic-fine.npz",
        "ldm-fine": "ldm-fine.npz",
    }


def test_table_3_scores_its_own_number_of_clips_only_where_set():
    recon = {"evaluation": {"n_clips": 10}, "study": dict(STUDY)}
    assert plan.n_clips("conditional", recon) == 10
    recon["study"]["n_clips"] = 2
    assert (plan.n_clips("reconstructions", recon), plan.n_clips("conditional", recon)) == (10, 2)


def test_a_dataset_overrides_the_settings_and_a_study_variant_its_p_gt():
    recon = {"ldm": {"epochs": 5, "p_gt": 0.25}, "acoustic": {"epochs": 3, "p_gt": 0.25}}
    dataset = {"ldm": {"epochs": 9}, "acoustic_epochs": 40}
    assert plan.ldm_settings(recon, dataset) == {"epochs": 9, "p_gt": 0.25}
    assert plan.acoustic_settings(recon, dataset, "c2f") == {"epochs": 40, "p_gt": 0.25}
    variant = plan.acoustic_settings(recon, {**dataset, "acoustic_epochs": None}, "c2f-pgt0.5")
    assert variant == {"epochs": 3, "p_gt": 0.5}


def test_a_dataset_without_a_source_entry_is_named():
    with pytest.raises(InputError, match=r"recon.datasets: \['b2s'\] have no entry"):
        plan.check_datasets({"datasets": ["demo", "b2s"], "sources": {"demo": {}}})
