"""fMRIPrep command lines (docker wrapper, apptainer) and fMRIPrep output naming."""

import json
import re
from pathlib import Path

import pytest
import yaml

from audiobrain.brainscores.fmriprep import (
    DEFAULT_IMAGE,
    FMRIPREP_VERSION,
    confounds_files_for,
    fmriprep_command,
    fmriprep_outputs,
)
from audiobrain.io import InputError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def layout(tmp_path):
    """A BIDS folder, output and work folders, a license file and a .sif image."""
    paths = {name: tmp_path / name for name in ("bids", "derivatives", "work")}
    for folder in paths.values():
        folder.mkdir()
    paths["license"] = tmp_path / "license.txt"
    paths["license"].write_text("fake FreeSurfer license\n")
    paths["sif"] = tmp_path / f"fmriprep-{FMRIPREP_VERSION}.sif"
    paths["sif"].write_bytes(b"")
    return paths


def _command(layout, runner, **overrides):
    arguments = dict(
        runner=runner,
        bids_dir=layout["bids"],
        output_dir=layout["derivatives"],
        participant_label="sub-A2002",
        fs_license=layout["license"],
        work_dir=layout["work"],
        image=str(layout["sif"]) if runner == "apptainer" else DEFAULT_IMAGE,
    )
    return fmriprep_command(**{**arguments, **overrides})


def test_docker_command_uses_the_wrapper_cli(layout):
    assert _command(layout, "docker", extra_args=("--skip-bids-validation",)) == [
        "fmriprep-docker",
        str(layout["bids"]),
        str(layout["derivatives"]),
        "participant",
        "--participant-label",
        "A2002",
        "--fs-license-file",
        str(layout["license"]),
        "-w",
        str(layout["work"]),
        "--output-spaces",
        "fsaverage5",
        "MNI152NLin2009cAsym:res-2",
        "--nthreads",
        "8",
        "--mem_mb",
        "32000",
        "-i",
        f"nipreps/fmriprep:{FMRIPREP_VERSION}",
        "--no-tty",
        "--skip-bids-validation",
    ]


def test_apptainer_command_binds_folders_and_license(layout):
    command = _command(layout, "apptainer", nthreads=4, mem_mb=16000, output_spaces=["T1w"])
    assert command == [
        "apptainer",
        "run",
        "--cleanenv",
        "-B",
        f"{layout['bids']}:/data:ro",
        "-B",
        f"{layout['derivatives']}:/out",
        "-B",
        f"{layout['work']}:/scratch",
        "-B",
        f"{layout['license']}:/opt/freesurfer/license.txt:ro",
        str(layout["sif"]),
        "/data",
        "/out",
        "participant",
        "--participant-label",
        "A2002",
        "--fs-license-file",
        "/opt/freesurfer/license.txt",
        "-w",
        "/scratch",
        "--output-spaces",
        "T1w",
        "--nthreads",
        "4",
        "--mem_mb",
        "16000",
    ]


def test_relative_paths_become_absolute(layout, monkeypatch):
    monkeypatch.chdir(layout["bids"].parent)
    command = _command(layout, "docker", bids_dir="bids", output_dir="derivatives", work_dir="work")
    assert command[1:3] == [str(layout["bids"]), str(layout["derivatives"])]
    assert command[command.index("-w") + 1] == str(layout["work"])


def test_missing_license_names_the_path(layout):
    missing = layout["license"].with_name("nowhere.txt")
    with pytest.raises(InputError, match="nowhere.txt.*FreeSurfer license"):
        _command(layout, "docker", fs_license=missing)


def test_apptainer_needs_a_local_sif(layout):
    with pytest.raises(InputError, match=r"\.sif.*apptainer build"):
        _command(layout, "apptainer", image=DEFAULT_IMAGE)


def test_unknown_runner_and_bad_settings_are_rejected(layout):
    with pytest.raises(ValueError, match="runner must be one of"):
        _command(layout, "singularity")
    with pytest.raises(ValueError, match="output space 'MNI152NLin2009cAsym:2mm'"):
        _command(layout, "docker", output_spaces=["MNI152NLin2009cAsym:2mm"])
    with pytest.raises(InputError, match="inside the BIDS folder"):
        _command(layout, "docker", work_dir=layout["bids"] / "work")


def test_outputs_follow_fmriprep_naming(tmp_path):
    files = fmriprep_outputs(tmp_path, "sub-01", "auditory")
    func = tmp_path / "sub-01" / "func"
    assert files.surface_bold == {
        "fsaverage5": (
            func / "sub-01_task-auditory_hemi-L_space-fsaverage5_bold.func.gii",
            func / "sub-01_task-auditory_hemi-R_space-fsaverage5_bold.func.gii",
        )
    }
    assert files.volume_bold == {
        "MNI152NLin2009cAsym:res-2": func
        / "sub-01_task-auditory_space-MNI152NLin2009cAsym_res-2_desc-preproc_bold.nii.gz"
    }
    assert files.confounds_tsv == func / "sub-01_task-auditory_desc-confounds_timeseries.tsv"
    assert files.confounds_json == func / "sub-01_task-auditory_desc-confounds_timeseries.json"
    assert len(files.all_files()) == 5


def test_outputs_with_session_run_and_density(tmp_path):
    files = fmriprep_outputs(tmp_path, "02", "rest", ["fsaverage:den-10k"], session="1", run="3")
    left, right = files.surface_bold["fsaverage:den-10k"]
    assert left == (
        tmp_path
        / "sub-02"
        / "ses-1"
        / "func"
        / "sub-02_ses-1_task-rest_run-3_hemi-L_space-fsaverage_den-10k_bold.func.gii"
    )
    assert right.name.startswith("sub-02_ses-1_task-rest_run-3_hemi-R_")
    assert files.volume_bold == {}
    assert files.confounds_tsv.name == "sub-02_ses-1_task-rest_run-3_desc-confounds_timeseries.tsv"


def test_confounds_beside_any_bold_output_is_the_run_table(tmp_path):
    files = fmriprep_outputs(tmp_path, "01", "auditory", run="1", session="a")
    expected = (files.confounds_tsv, files.confounds_json)
    for bold in [*files.surface_bold["fsaverage5"], *files.volume_bold.values()]:
        assert confounds_files_for(bold) == expected


def test_confounds_fall_back_to_pre_20_2_suffix(tmp_path):
    bold = tmp_path / "sub-01_task-x_hemi-L_space-fsaverage5_bold.func.gii"
    old = tmp_path / "sub-01_task-x_desc-confounds_regressors.tsv"
    old.write_text("trans_x\n0\n")
    assert confounds_files_for(bold) == (old, Path(str(old).replace(".tsv", ".json")))


def test_mous_runs_take_the_auditory_task_and_the_native_t1w_only(layout, tmp_path):
    """MOUS has resting-state runs and a space-CTF T1w beside the native one."""
    bids_filter = REPO / "configs" / "mous_bids_filter.json"
    assert json.loads(bids_filter.read_text())["t1w"] == {
        "datatype": "anat", "suffix": "T1w", "space": None,
    }  # fmt: skip
    docker = _command(layout, "docker", task="auditory", bids_filter_file=bids_filter)
    assert docker[docker.index("--task-id") + 1] == "auditory"
    assert docker[docker.index("--bids-filter-file") + 1] == str(bids_filter)
    apptainer = _command(layout, "apptainer", task="auditory", bids_filter_file=bids_filter)
    assert f"{bids_filter}:/opt/bids_filter.json:ro" in apptainer
    assert apptainer[apptainer.index("--bids-filter-file") + 1] == "/opt/bids_filter.json"
    with pytest.raises(InputError, match="missing.json: BIDS filter file"):
        _command(layout, "docker", bids_filter_file=tmp_path / "missing.json")


def test_one_fmriprep_version_everywhere():
    """The code, the schema's default image, the paper config and the README name one release;
    the default image is a .sif, which the default runner (apptainer) needs."""
    schema = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())
    fmriprep = schema["properties"]["fmriprep"]["properties"]
    assert fmriprep["runner"]["default"] == "apptainer"
    assert fmriprep["image"]["default"] == f"containers/fmriprep-{FMRIPREP_VERSION}.sif"
    paper = yaml.safe_load((REPO / "configs" / "mous.yaml").read_text())["fmriprep"]
    assert paper["image"] == f"containers/fmriprep-{FMRIPREP_VERSION}.sif"
    versions = set(re.findall(r"fmriprep[-:](\d+\.\d+\.\d+)", (REPO / "README.md").read_text()))
    assert versions == {FMRIPREP_VERSION}
