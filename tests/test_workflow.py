"""The workflow as users drive it: config validation, the paper DAG, lint, the demo end to end."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import soundfile
import yaml
from mous_files import release_skeleton

from audiobrain.recon.analysis import HIGHER_IS_BETTER
from conftest import REDUCED_DEMO, REPO, run_snakemake, write_overrides

pytestmark = pytest.mark.workflow


def test_unknown_config_key_stops_before_any_job(clone):
    write_overrides(clone / "typo.yaml", {"ridge": {"n_split": 12}})
    result = run_snakemake(["-n", "--configfile", "typo.yaml"], clone, check=False)
    assert result.returncode != 0
    assert "n_split" in result.stderr + result.stdout
    assert not (clone / "results").exists()


def test_wrong_config_type_names_the_key(clone):
    write_overrides(clone / "wrong.yaml", {"surface": {"decimation": "ten"}})
    result = run_snakemake(["-n", "--configfile", "wrong.yaml"], clone, check=False)
    assert result.returncode != 0
    assert "decimation" in result.stderr + result.stdout


def mous_skeleton(root: Path) -> dict:
    """Empty files where configs/mous.yaml expects the MOUS release and the lab's copies."""
    config = yaml.safe_load((REPO / "configs" / "mous.yaml").read_text())
    config["dataset"]["subjects"] = release_skeleton(root, config)
    return config


MOUS = ["--configfile", "configs/mous.yaml"]
REDUCED = ["--configfile", "reduced.yaml"]  # the demo_run fixture's overlay (conftest.py)


def test_paper_dag_dry_runs_with_all_subjects_and_networks(clone):
    config = mous_skeleton(clone)
    start = time.perf_counter()
    result = run_snakemake(["-n", "--quiet", "rules", *MOUS], clone)
    elapsed = time.perf_counter() - start
    counts = {
        line.split()[0]: int(line.split()[1])
        for line in result.stdout.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }
    n_subjects = len(config["dataset"]["subjects"])
    n_networks = len(config["networks"]["types"]) * len(config["networks"]["seeds"])
    assert n_subjects == 102 and n_networks == 30
    assert counts["derive_events"] == n_subjects
    assert counts["fmriprep"] == n_subjects
    assert counts["clean_bold"] == n_subjects
    assert counts["activations"] == n_networks
    # one brain_scores job per subject and network type scores all its seeds (one file each)
    assert counts["brain_scores"] == n_subjects * len(config["networks"]["types"])
    assert counts["group_stats"] == 5
    assert counts["train_network"] == counts["evaluate_network"] == 4 * 6
    assert counts["prepare_corpus"] == 4
    assert counts["network_comparisons"] == counts["interactive_maps"] == 1
    print(f"paper DAG dry-run: {counts['total']} jobs in {elapsed:.1f} s")


def planned_jobs(stdout: str) -> list[tuple[str, list[str]]]:
    """(rule, outputs) of every job in the output of `snakemake -n`."""
    jobs, rule = [], None
    for line in stdout.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] in ("rule", "localrule", "checkpoint"):
            rule = words[1].rstrip(":")  # grouped jobs are indented once more
        elif rule is not None and words[:1] == ["output:"]:
            jobs.append((rule, line.split("output:", 1)[1].strip().split(", ")))
            rule = None
    return jobs


def inside(path: str, folder: str) -> bool:
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


DEMO_RULES = {"simulate_demo", "demo_corpus"}


def test_a_paper_run_plans_no_demo_job_and_writes_nothing_into_the_raw_data(clone):
    """`snakemake --configfile configs/mous.yaml` from the root, config.yaml beside it: the demo
    must stay out of a paper run (Snakemake deletes a job's outputs before running it)."""
    config = mous_skeleton(clone)
    result = run_snakemake(["-n", *MOUS], clone)
    jobs = planned_jobs(result.stdout)
    counts = job_counts(result.stdout)
    assert len(jobs) == counts["total"] - counts["all"]  # every job but `all` has outputs
    rules = {rule for rule, _ in jobs}
    assert "fmriprep" in rules and not rules & DEMO_RULES
    bids, fmriprep = (clone / config["dataset"][key] for key in ("bids_dir", "fmriprep_dir"))
    for rule, outputs in jobs:
        for path in outputs:
            assert not inside(clone / path, bids), (rule, path)
            assert rule == "fmriprep" or not inside(clone / path, fmriprep), (rule, path)


def test_a_listed_subject_without_files_or_a_missing_atlas_stops_the_dag(clone):
    mous_skeleton(clone)
    write_overrides(clone / "listed.yaml", {"dataset": {"subjects": ["A2002", "A2012"]}})
    result = run_snakemake(["-n", *MOUS, "listed.yaml"], clone, check=False)
    message = result.stdout + result.stderr
    assert result.returncode != 0
    assert "config dataset.subjects" in message and "sub-A2012" in message
    atlas = clone / "data" / "atlases" / "fsaverage" / "lh.HCPMMP1.annot"
    atlas.unlink()
    result = run_snakemake(["-n", *MOUS], clone, check=False)
    assert result.returncode != 0 and "lh.HCPMMP1.annot" in result.stderr + result.stdout
    assert not (clone / "results").exists()


def lab_dataset(clone: Path) -> Path:
    """A lab's MOUS-format release beside the workflow: the demo simulator's raw BIDS folder and
    fMRIPrep derivatives under data/lab, with a raw BOLD image per run."""
    import nibabel as nib
    import numpy as np

    from audiobrain.demo import simulate

    summary = simulate.simulate_demo(
        clone / "data" / "lab", n_subjects=2, pool_size=20, n_blocks=4, sentences_per_block=5
    )
    for subject in summary["subjects"]:
        raw = nib.Nifti1Image(np.zeros((2, 2, 2, 3), dtype=np.int16), np.eye(4))
        nib.save(
            raw,
            summary["bids"]
            / f"sub-{subject}"
            / "func"
            / f"sub-{subject}_task-auditory_bold.nii.gz",
        )
    return clone / "data" / "lab"


LAB = {
    "dataset": {
        "source": "bids",
        "bids_dir": "data/lab/bids",
        "fmriprep_dir": "data/lab/derivatives/fmriprep",
        "subjects": None,
        "n_blocks": 4,
        "sentences_per_block": 5,
    },
    "confounds": {"n_cosine": 2},  # a short run (4 sentence blocks): fewer DCT regressors
    "networks": {"types": ["untrained"], "seeds": [0]},
    "ridge": {"n_splits": 4},
    "recon": {"datasets": []},
}


def checksums(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_jobs_beside_a_labs_raw_folders_leave_every_raw_file_as_it_was(clone):
    lab = lab_dataset(clone)
    write_overrides(clone / "lab.yaml", LAB)
    before = checksums(lab)
    dry = run_snakemake(["-n", "--configfile", "lab.yaml"], clone)
    assert not {rule for rule, _ in planned_jobs(dry.stdout)} & DEMO_RULES
    targets = [
        f"results/bold/sub-{s}/sub-{s}_task-auditory_space-fsaverage5_desc-clean_bold.npz"
        for s in ("01", "02")
    ]  # participants.tsv's subjects with an auditory run
    run_snakemake(["--cores", "2", "--configfile", "lab.yaml", "--", *targets], clone)
    assert all((clone / target).is_file() for target in targets)
    assert (clone / "results" / "events" / "sub-01").is_dir()
    assert checksums(lab) == before


def job_counts(stdout: str) -> dict[str, int]:
    """Jobs per rule from the table `snakemake -n --quiet rules` prints."""
    return {
        line.split()[0]: int(line.split()[1])
        for line in stdout.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }


# The reconstruction study's config overlays the default one (README).
C2F_CONFIGS = ["config.yaml", "configs/c2f-ldm.yaml"]


def c2f_skeleton(root: Path) -> dict:
    """Empty stand-ins for the local copies configs/c2f-ldm.yaml names: dataset roots, models."""
    recon = yaml.safe_load((REPO / "configs" / "c2f-ldm.yaml").read_text())["recon"]
    for name in recon["datasets"]:
        for key in ("root", "gtzan_root", "source_audio", "roi_masks"):
            if key in recon["sources"][name]:
                (root / recon["sources"][name][key]).mkdir(parents=True)
    sound_root = root / recon["sources"]["brain2sound"]["root"]
    (sound_root / "SoundReconstruction_stimulus.csv").touch()  # the release's stimulus table
    models = recon["models"]
    (root / models["vocoder"]).mkdir(parents=True)
    for source in recon["sources"].values():
        for key in ("pretrained_unet", "pretrained_vae"):
            (root / source["ldm"][key]).mkdir(parents=True, exist_ok=True)
    for path in (models["audiomae"]["checkpoint"], models["panns"], models["vggish"]):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).touch()
    return recon


def test_reconstruction_paper_dag_dry_runs_for_the_three_datasets(clone):
    recon = c2f_skeleton(clone)
    result = run_snakemake(["-n", "--quiet", "rules", "--configfile", *C2F_CONFIGS], clone)
    counts = job_counts(result.stdout)
    subjects = {name: len(recon["sources"][name]["subjects"]) for name in recon["datasets"]}
    assert subjects == {"brain2sound": 5, "brain2music": 5, "brain2speech": 7}  # Table 4
    n_subjects = sum(subjects.values())
    for name in recon["datasets"]:
        assert counts[f"recon_prepare_{name}"] == 1
    assert counts["recon_semantic_decoder"] == n_subjects
    # C2F (P_gt 0.25), Fine, and C2F with Table 3's other P_gt values 0 and 0.5
    assert counts["recon_acoustic_decoder"] == 4 * n_subjects
    assert counts["recon_direct_decoder"] == 2 * n_subjects  # LiR, MLP
    assert counts["recon_direct_network"] == 2 * n_subjects  # BiLSTM, Transformer
    # G per subject: Fine-LDM and C2F-LDM with each P_gt, each sampled once (every prompt)
    assert counts["recon_ldm"] == counts["recon_ldm_sample"] == 4 * n_subjects
    # vocoded and scored in two parts per subject: Tables 1-2, and the rest of Table 3
    assert counts["recon_subject_metrics"] == counts["recon_vocode"] == 2 * n_subjects
    assert counts["recon_metrics"] == counts["recon_mel_mapping"] == 3
    assert counts["recon_ldm_conditioning"] == 3
    assert counts["recon_text_prompts"] == 2  # Brain2Music genres, Brain2Speech genders
    # AudioLDM2's pretrained VAEs: none is trained, each is checked before any fine-tuning
    assert "recon_demo_models" not in counts and "recon_demo_stimuli" not in counts
    assert "recon_ldm_vae" not in counts
    assert counts["recon_vae_check"] == 3
    # real-data inputs: Brain2Sound's clips cut from the downloads, Brain2Music's lag scan
    assert counts["recon_stimulus_clips"] == counts["recon_lag_scan"] == 1
    # the report: every subject's mel panels, one audio page and one learning-curve plot each
    assert counts["recon_mel_panels"] == n_subjects
    assert counts["recon_audio_page"] == counts["recon_learning_curves"] == 3


def test_demo_runs_table_3_on_its_study_subjects(clone):
    result = run_snakemake(["-n", "--quiet", "rules"], clone)
    counts = job_counts(result.stdout)
    recon = yaml.safe_load((REPO / "config.yaml").read_text())["recon"]
    n_subjects = len(recon["sources"]["demo"]["subjects"])
    n_study = recon["study"]["n_subjects"]
    assert (n_subjects, n_study) == (3, 2)
    # Fine-LDM and C2F-LDM (P_gt 0.25) for everyone; C2F-LDM with P_gt 0 and 0.5 for the study
    assert counts["recon_ldm"] == counts["recon_ldm_sample"] == 2 * n_subjects + 2 * n_study
    assert counts["recon_acoustic_decoder"] == 2 * n_subjects + 2 * n_study
    assert counts["recon_vocode"] == counts["recon_subject_metrics"] == n_subjects + n_study


def test_the_paper_config_overrides_every_demo_reduction():
    """configs/c2f-ldm.yaml overlays config.yaml key by key: a key it lacks keeps the demo's."""

    def leaves(tree: dict, path=()):
        for key, value in tree.items():
            if isinstance(value, dict):
                yield from leaves(value, (*path, key))
            else:
                yield (*path, key)

    demo = yaml.safe_load((REPO / "config.yaml").read_text())["recon"]
    paper = yaml.safe_load((REPO / "configs" / "c2f-ldm.yaml").read_text())["recon"]
    paper_keys = set(leaves(paper))
    inherited = [
        ".".join(path)
        for path in leaves(demo)
        if path not in paper_keys
        and path[0] not in ("demo_models", "sources")
        and path[-1] != "seed"
    ]
    assert inherited == []
    assert paper["study"]["n_subjects"] is None and paper["study"]["n_clips"] is None


def test_missing_dataset_copy_is_named_before_any_job(clone):
    recon = c2f_skeleton(clone)
    root = clone / recon["sources"]["brain2music"]["gtzan_root"]
    root.rmdir()
    result = run_snakemake(["-n", "--configfile", *C2F_CONFIGS], clone, check=False)
    assert result.returncode != 0
    assert recon["sources"]["brain2music"]["gtzan_root"] in result.stdout + result.stderr


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "snakemake", "--lint"],
        [sys.executable, "-m", "snakefmt", "--check", "."],
        [sys.executable, "-m", "ruff", "check", "src", "tests", "workflow", "benchmarks"],
        [
            sys.executable,
            "-m",
            "ruff",
            "format",
            "--check",
            "src",
            "tests",
            "workflow",
            "benchmarks",
        ],
    ],
    ids=["snakemake-lint", "snakefmt", "ruff-check", "ruff-format"],
)
def test_code_is_lint_clean(command):
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    if "--lint" in command:
        assert "Lints for" not in result.stdout + result.stderr, result.stdout + result.stderr


@pytest.mark.parametrize(
    "configs",
    [["configs/mous.yaml"], ["config.yaml", "configs/c2f-ldm.yaml"]],
    ids=["mous", "c2f-ldm"],
)
def test_paper_configs_are_lint_clean(clone, configs):
    """The paper configs, on folders laid out like the releases, lint as clean as the demo."""
    mous_skeleton(clone)
    c2f_skeleton(clone)
    result = run_snakemake(["--configfile", *configs, "--lint"], clone, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr, result.stdout + result.stderr


def test_demo_produces_the_contract_outputs(demo_run):
    summary = pd.read_csv(demo_run / "results" / "stats" / "roi_summary.tsv", sep="\t")
    assert list(summary.columns) == [
        "contrast",
        "roi",
        "mean",
        "sem",
        "n_subjects",
        "statistic",
        "p",
        "q",
    ]
    assert set(summary["roi"]) == {"A1", "Belt", "TPJ"}
    assert (summary["n_subjects"] == 8).all()
    for name in ("map-levels", "map-gains", "roi-bars", "level-profile"):
        figure = demo_run / "results" / "figures" / f"net-untrained_{name}.png"
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_file_the_demo_writes_is_a_declared_output(demo_run):
    """Snakemake removes a failed job's declared outputs only: an undeclared file (a sidecar, say)
    would outlive the result it describes."""
    result = run_snakemake(["--summary", *REDUCED], demo_run)
    declared = set(pd.read_csv(io.StringIO(result.stdout), sep="\t")["output_file"])
    folders = [Path(path) for path in declared if (demo_run / path).is_dir()]
    written = [
        path.relative_to(demo_run)
        for folder in ("results", "data")
        for path in (demo_run / folder).rglob("*")
        if path.is_file()
    ]
    undeclared = [
        str(path)
        for path in written
        if str(path) not in declared and not any(path.is_relative_to(f) for f in folders)
    ]
    assert written and not undeclared, undeclared[:10]


def test_demo_trains_and_evaluates_every_network(demo_run):
    evaluation = pd.read_csv(demo_run / "results" / "networks" / "evaluation.tsv", sep="\t")
    assert list(evaluation.columns) == ["network", "task", "seed", "split", "metric", "value"]
    rows = set(zip(evaluation["network"], evaluation["metric"], strict=True))
    assert rows == {("scenes", "class_error"), ("dutch", "wer"), ("dutch", "cer")}
    assert (evaluation["split"] == "test").all() and (evaluation["value"] >= 0).all()
    curve = pd.read_csv(
        demo_run / "results" / "networks" / "dutch_seed-0" / "metrics.tsv", sep="\t"
    )
    assert curve["step"].tolist() == list(range(1, 41))
    assert curve["validation_metric"].notna().sum() == 2
    figure = demo_run / "results" / "figures" / "networks_learning-curves.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_network_comparisons_list_every_contrast(demo_run):
    table = pd.read_csv(demo_run / "results" / "stats" / "network_comparisons.tsv", sep="\t")
    regions = {"whole brain", "A1", "Belt", "TPJ"}
    for comparison in ("scenes - untrained", "dutch - untrained", "scenes - dutch"):
        rows = table[(table["comparison"] == comparison) & (table["feature_set"] == "L5")]
        assert set(rows["region"]) == regions, comparison
    layers = table[
        (table["comparison"] == "dutch - untrained") & (table["region"] == "whole brain")
    ]
    assert set(layers["feature_set"]) >= {"layer-conv1", "layer-gru", "layer-fc"}
    assert table["p"].between(0, 1).all() and (table["n_subjects"] == 8).all()
    for name in ("map-trained-vs-untrained", "layer-gains", "type-gains", "roi-comparisons"):
        figure = demo_run / "results" / "figures" / f"networks_{name}.png"
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_retraining_a_network_gives_the_same_weights(demo_run):
    target = "results/networks/dutch_seed-0/model.pt"
    before = hashlib.sha256((demo_run / target).read_bytes()).hexdigest()
    run_snakemake(["--cores", "2", *REDUCED, "--forcerun", "train_network", "--", target], demo_run)
    assert hashlib.sha256((demo_run / target).read_bytes()).hexdigest() == before


def test_rerunning_one_rule_gives_the_same_bytes(demo_run):
    target = "results/brainscores/sub-01/sub-01_net-untrained_seed-0_brainscore.npz"
    before = hashlib.sha256((demo_run / target).read_bytes()).hexdigest()
    run_snakemake(["--cores", "2", *REDUCED, "--forcerun", "brain_scores", "--", target], demo_run)
    assert hashlib.sha256((demo_run / target).read_bytes()).hexdigest() == before


RECON_METHODS = ["LiR", "MLP", "BiLSTM", "Transformer", "Fine-LDM", "C2F-Decoder", "C2F-LDM"]
ALL_RECON_METHODS = [*RECON_METHODS, "Fine-Decoder"]  # Tables 1-2's order, Fine-Decoder last
REFERENCES = ["stimulus", "class-mean", "mean-mel", "shuffled"]  # ceiling first, floors after
METRICS = ["pcc", "psnr", "fd", "fad", "kl", "clap"]


def test_demo_reconstructs_audio_with_every_method_and_scores_it(demo_run):
    folder = demo_run / "results" / "recon" / "demo"
    metrics = pd.read_csv(folder / "metrics.tsv", sep="\t", dtype={"subject": str})
    columns = ["subject", "part", "method", "prompt", "p_gt", *METRICS, "n_clips", "covariance"]
    assert list(metrics.columns) == columns
    plain = metrics[metrics["part"] == "reconstructions"]
    assert (plain["prompt"] == "none").all()
    assert sorted(set(zip(plain["subject"], plain["method"], strict=True))) == sorted(
        (subject, method)
        for subject in ("01", "02")
        for method in [*ALL_RECON_METHODS, *REFERENCES]
    )
    assert metrics[METRICS].notna().all().all()
    assert (plain["n_clips"] == 4).all()
    # 4 clips against CNN14's 2048 and VGGish's 128 dimensions: FD/FAD say so.
    assert (metrics["covariance"] == "singular").all()
    assert plain.loc[plain["method"].str.startswith("C2F"), "p_gt"].eq(0.25).all()
    assert plain.loc[~plain["method"].str.startswith("C2F"), "p_gt"].isna().all()
    table = pd.read_csv(folder / "table_reconstruction.tsv", sep="\t")
    assert table["method"].tolist() == [*ALL_RECON_METHODS, *REFERENCES]
    assert (table["n_subjects"] == 2).all() and table[METRICS].notna().all().all()
    # Appendix A.4: the AudioMAE-mel -> vocoder-mel map is close to lossless on test stimuli.
    assert pd.read_csv(folder / "melmap_pcc.tsv", sep="\t")["pcc"].item() > 0.9
    # Players for every subject: 4 clips beside each method, then Table 3's samples (both study
    # subjects, one P_gt, three prompts) beside their stimuli.
    page = (folder / "audio.html").read_text()
    sections = page.split("<h2>")[1:]
    assert [section.split("</h2>")[0] for section in sections] == ["sub-01", "sub-02"]
    for section in sections:
        plain, table_3 = section.split("<h3>Table 3</h3>")
        assert plain.count("<audio") == 4 * (1 + len(ALL_RECON_METHODS))
        assert table_3.count("<audio") >= 2 * 3 and "prompt text" in table_3
    for name in ("feature_pcc", "semantic_accuracy", "semantic_tsne", "learning_curves"):
        assert (folder / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for subject in ("01", "02"):
        assert (folder / "figures" / f"mel_panels_sub-{subject}.png").exists()
    # Every reconstruction is also a WAV of the clip's length, its mel beside it.
    wavs = sorted((folder / "audio" / "sub-01" / "reconstructions").glob("*.wav"))
    assert len(wavs) == 4 * len(ALL_RECON_METHODS)
    assert len([wav for wav in wavs if wav.name.endswith("_C2F-LDM_none_pgt0.25.wav")]) == 4
    info = soundfile.info(wavs[0])
    assert info.samplerate == 22050 and abs(info.duration - 1.5) < 0.01
    assert wavs[0].with_suffix(".npy").exists()


def test_demo_fills_table_3_and_its_generator_uses_the_condition(demo_run):
    folder = demo_run / "results" / "recon" / "demo"
    both = pd.read_csv(folder / "table_conditional.tsv", sep="\t")
    table = both[~both["reference"]]
    p_gts = REDUCED_DEMO["recon"]["study"]["p_gt"]
    assert list(zip(table["p_gt"], table["prompt"], strict=True)) == [
        (p_gt, prompt) for p_gt in p_gts for prompt in ("none", "text", "audio")
    ]
    # Each prompt's cells have their own reference rows, scored on the same clips.
    references = both[both["reference"]]
    assert list(zip(references["prompt"], references["method"], strict=True)) == [
        (prompt, reference) for prompt in ("none", "text", "audio") for reference in REFERENCES
    ]
    assert table[METRICS].notna().all().all() and (table["n_subjects"] == 2).all()
    # Text prompts exist for every label, audio prompts for the speech clips (two genders).
    assert (table["n_clips"] == 4).all()
    metrics = pd.read_csv(folder / "metrics.tsv", sep="\t", dtype={"subject": str})
    study = metrics[metrics["part"] == "conditional"]
    assert set(study["method"]) == {"C2F-LDM", *REFERENCES}
    cells = len(p_gts) * 3  # P_gt x prompts
    assert (study["method"] == "C2F-LDM").sum() == 2 * cells  # per subject
    assert len(study) == 2 * cells + 2 * 3 * len(REFERENCES)  # and each prompt's references
    markdown = (folder / "table_conditional.md").read_text()
    assert "| P_gt | Prompt |" in markdown and f"| {p_gts[-1]:g} | audio |" in markdown
    # One WAV (and mel) per clip, prompt and P_gt.
    wavs = list((folder / "audio" / "sub-01" / "conditional").glob("*.wav"))
    assert len(wavs) == table["n_clips"].sum()  # the references' WAVs are in audio/references
    assert len([wav for wav in wavs if wav.name.endswith("_audio_pgt0.25.wav")]) == 4
    assert all(wav.with_suffix(".npy").exists() for wav in wavs)
    # G conditioned on a clip's own AudioMAE features beats G given another clip's.
    check = pd.read_csv(folder / "ldm_conditioning.tsv", sep="\t", dtype={"subject": str})
    assert len(check) == 2 * (1 + len({0.25, *p_gts}))  # subjects x (Fine-LDM, each C2F-LDM)
    assert check["pcc_gain"].mean() > 0.03, check


def test_demo_tables_are_calibrated_and_its_generator_passes_the_gate(demo_run):
    folder = demo_run / "results" / "recon" / "demo"
    table = pd.read_csv(folder / "table_reconstruction.tsv", sep="\t")
    references = table[table["reference"]].set_index("method")
    assert references.index.tolist() == REFERENCES
    # The clip itself > its class's mean mel > the overall mean mel > another clip's stimulus.
    for metric in ("pcc", "psnr"):
        assert references[metric].is_monotonic_decreasing, references[metric]
        assert references[metric].is_unique, references[metric]
    # A method is flagged on exactly the metrics where it does not beat mean-mel.
    floor = references.loc["mean-mel"]
    for _, row in table[~table["reference"]].iterrows():
        sign = {metric: 1 if HIGHER_IS_BETTER[metric] else -1 for metric in METRICS}
        below = [m for m in METRICS if not sign[m] * (row[m] - floor[m]) > 0]
        flagged = row["below_mean_mel"] if isinstance(row["below_mean_mel"], str) else ""
        assert flagged == ",".join(below), row
    markdown = (folder / "table_reconstruction.md").read_text()
    assert "*stimulus*" in markdown and ("†" in markdown) == table["below_mean_mel"].notna().any()
    # The gate: G from the clips' own c_gt beats the mean mel, for every subject and model.
    check = pd.read_csv(folder / "ldm_conditioning.tsv", sep="\t", dtype={"subject": str})
    assert check["passes_gate"].all(), check
    assert (check["pcc_c_gt"] > check["pcc_mean_mel"]).all()
    gates = table.set_index("method")["gate"]
    assert gates[["Fine-LDM", "C2F-LDM"]].eq("passed").all(), gates
    # The coarse-to-fine claims, each with its interval over subjects.
    claims = pd.read_csv(folder / "claims.tsv", sep="\t")
    assert set(claims["claim"]) == {
        "C2F-Decoder > Fine-Decoder",
        "C2F-LDM > Fine-LDM",
        *(f"C2F-Decoder > {method}" for method in ("LiR", "MLP", "BiLSTM", "Transformer")),
    }
    assert set(claims["metric"]) == set(METRICS) and (claims["n_subjects"] == 2).all()
    assert (claims["ci_low"] <= claims["mean_difference"]).all()
    assert claims["holds"].eq(claims["ci_low"] > 0).all()


def test_demo_decoders_recover_the_planted_features(demo_run):
    folder = demo_run / "results" / "recon" / "demo"
    pcc = pd.read_csv(folder / "feature_pcc.tsv", sep="\t", dtype={"subject": str})
    assert set(pcc["method"]) == {"D_sem", "LiR", "Fine", "C2F"}
    # Each held-out clip's decoded features match its own truth better than another clip's.
    assert (pcc["pcc"] > pcc["pcc_other_clip"]).all(), pcc
    # Across clips, each feature follows its truth: strongly for the ridge decoders, weakly for
    # D_aco's tokens (the demo's D_aco is small and briefly trained; README).
    ridge = pcc["method"].isin(["D_sem", "LiR"])
    assert (pcc.loc[ridge, "pcc_profile"] > 0.5).all(), pcc
    assert (pcc.loc[~ridge, "pcc_profile"] > 0).all(), pcc
    # Section 3.3: labels (genre, speaker gender, sound category) decodable from decoded CLAP.
    summary = pd.read_csv(folder / "semantic_summary.tsv", sep="\t")
    semantic = summary[summary["space"] == "CLAP"].iloc[0]
    assert semantic["mean_features"] > 2 * semantic["chance"], summary
    assert (summary["upper_bound"] > 2 * summary["chance"]).all(), summary


def test_retraining_an_acoustic_decoder_gives_the_same_bytes(demo_run):
    target = "results/recon/demo/predictions/sub-01/acoustic-c2f.npz"
    before = hashlib.sha256((demo_run / target).read_bytes()).hexdigest()
    run_snakemake(
        ["--cores", "2", *REDUCED, "--forcerun", "recon_acoustic_decoder", "--", target], demo_run
    )
    assert hashlib.sha256((demo_run / target).read_bytes()).hexdigest() == before


# Issue 20: the demo's report stays a file people can mail (most mail servers take 20-25 MB).
REPORT_BUDGET_MB = 20.0


def test_report_holds_both_studies_without_docutils_warnings(demo_report):
    html = demo_report.read_text(errors="ignore")
    size_mb = demo_report.stat().st_size / 1e6
    print(f"report: {size_mb:.1f} MB")
    assert "System Message" not in html and "Docutils" not in html
    assert "Brain scores of speech networks" in html
    assert "Coarse-to-fine audio reconstruction from fMRI" in html
    expected = [
        "roi_summary.tsv",
        "net-untrained_map-levels.png",
        "brain_maps.html",
        "table_reconstruction.html",
        "table_conditional.html",
        "audio.html",
        "learning_curves.png",
    ]
    expected += [
        f"mel_panels_sub-{s}.png" for s in REDUCED_DEMO["recon"]["sources"]["demo"]["subjects"]
    ]
    assert [name for name in expected if name not in html] == []
    assert size_mb < REPORT_BUDGET_MB


# The demo's volumetric variant, reduced to what a CI run affords (about 50 s on 2 cores): two
# subjects of two 5-sentence blocks, so the run is too short for the cosine regressors.
VOLUME_DEMO = {
    "demo": {"pool_size": 10},
    "dataset": {"subjects": ["01", "02"], "n_blocks": 2},
    "surface": {"source": "volume", "volume_space": "MNI152NLin2009cAsym", "decimation": 20},
    "confounds": {"n_cosine": 0},
    "networks": {"types": ["untrained"], "seeds": [0]},
    "ridge": {"n_splits": 2},
}


def test_volumetric_demo_runs_to_the_same_roi_table(clone):
    """MNI NIfTI cleaned in the volume and projected onto fsaverage5 feeds the same brain
    scores, statistics and ROI table as the surface GIfTI; the planted A1 signal comes back."""
    import numpy as np

    from audiobrain import surface
    from audiobrain.io import load_json, load_npz

    write_overrides(clone / "volume.yaml", VOLUME_DEMO)
    start = time.perf_counter()
    run_snakemake(
        ["--cores", "2", "--configfile", "volume.yaml", "--", "results/stats/roi_summary.tsv"],
        clone,
    )
    print(f"volumetric demo to the ROI table: {time.perf_counter() - start:.0f} s")
    name = "sub-01_task-auditory_space-fsaverage5_desc-clean_bold"
    cleaned = load_npz(clone / "results" / "bold" / "sub-01" / f"{name}.npz")
    meta = load_json(clone / "results" / "bold" / "sub-01" / f"{name}.json")
    assert meta["source"] == "volume" and meta["projection"]["line_mm"] == 3.0
    assert cleaned["sampled"].all()
    group = load_npz(clone / "results" / "stats" / "net-untrained_group.npz")
    np.testing.assert_array_equal(group["vertices"], surface.decimated_vertices(20))
    summary = pd.read_csv(clone / "results" / "stats" / "roi_summary.tsv", sep="\t")
    assert list(summary.columns) == [
        "contrast", "roi", "mean", "sem", "n_subjects", "statistic", "p", "q",
    ]  # fmt: skip
    assert set(summary["roi"]) == {"A1", "Belt", "TPJ"} and (summary["n_subjects"] == 2).all()
    mel = summary[summary["contrast"] == "untrained: R L0"].set_index("roi")["mean"]
    assert mel["A1"] > 0.25 and mel["TPJ"] < mel["A1"] / 2  # A1 follows the mel band energies


def test_volume_settings_that_cannot_work_stop_before_any_job(clone):
    """A cross-field check of the schema, reported by `validate` with the key's path."""
    write_overrides(clone / "volume.yaml", {"surface": {"source": "volume"}})
    result = run_snakemake(["-n", "--configfile", "volume.yaml"], clone, check=False)
    assert result.returncode != 0
    output = result.stderr + result.stdout
    assert "the demo's volumetric BOLD is written in" in output, output
    assert "On instance['surface']" in output and "Building DAG" not in output, output


def test_paper_dag_reads_volumetric_bold_when_configured(clone):
    """configs/mous.yaml (`surface.source: volume`) on existing fMRIPrep derivatives: one
    clean_bold job per subject, reading the MNI BOLD, its brain mask and its timing sidecar."""
    config = mous_skeleton(clone)
    fmriprep_dir = clone / config["dataset"]["fmriprep_dir"]
    for subject in config["dataset"]["subjects"]:
        func = fmriprep_dir / f"sub-{subject}" / "func"
        func.mkdir(parents=True)
        stem = f"sub-{subject}_task-auditory"
        for name in (
            f"{stem}_space-MNI152NLin2009cAsym_res-2_desc-preproc_bold.nii.gz",
            f"{stem}_space-MNI152NLin2009cAsym_res-2_desc-preproc_bold.json",
            f"{stem}_space-MNI152NLin2009cAsym_res-2_desc-brain_mask.nii.gz",
            f"{stem}_desc-confounds_timeseries.tsv",
            f"{stem}_desc-confounds_timeseries.json",
        ):
            (func / name).touch()
    write_overrides(clone / "existing.yaml", {"fmriprep": {"run": False}})
    result = run_snakemake(["-n", "--quiet", "rules", *MOUS, "existing.yaml"], clone, check=True)
    counts = job_counts(result.stdout)
    assert counts["clean_bold"] == len(config["dataset"]["subjects"])
    assert "fmriprep" not in counts
