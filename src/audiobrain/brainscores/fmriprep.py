"""fMRIPrep (section 2.2): the container command line and the names of the files it writes.

The paper preprocesses with fMRIPrep "with default parameters"; the surface (fsaverage5) and
volumetric (MNI152NLin2009cAsym, 2 mm) outputs and the confounds table are what this project
reads. Both the workflow's ``fmriprep`` rule and the readers build paths with the functions here,
so the expected names cannot drift from what fMRIPrep writes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from audiobrain.io import InputError

# Pinned release: the naming below (hemi before space, `_timeseries` confounds, outputs written
# directly under the output folder) is that of fMRIPrep >= 21.0. The schema's default image,
# configs/mous.yaml and the README name the same version (tests/test_fmriprep.py checks).
FMRIPREP_VERSION = "24.1.1"
DEFAULT_IMAGE = f"nipreps/fmriprep:{FMRIPREP_VERSION}"
DEFAULT_SIF = f"containers/fmriprep-{FMRIPREP_VERSION}.sif"
PAPER_OUTPUT_SPACES = ("fsaverage5", "MNI152NLin2009cAsym:res-2")
RUNNERS = ("docker", "apptainer")

# Mount points inside the container: those the fmriprep-docker wrapper uses, so the logs of both
# runners read the same.
CONTAINER_BIDS_DIR = "/data"
CONTAINER_OUTPUT_DIR = "/out"
CONTAINER_WORK_DIR = "/scratch"
CONTAINER_LICENSE = "/opt/freesurfer/license.txt"
CONTAINER_BIDS_FILTER = "/opt/bids_filter.json"

HEMISPHERES = ("L", "R")
SURFACE_SPACE_PREFIXES = ("fsaverage", "fsnative")
# Entities that name a space or a derivative, not the acquisition; the confounds table drops them.
_SPACE_ENTITIES = frozenset({"hemi", "space", "cohort", "res", "den", "desc"})
_SPACE_MODIFIER = re.compile(r"^[a-zA-Z]+-[a-zA-Z0-9.]+$")


def fmriprep_command(
    runner: str,
    bids_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    participant_label: str,
    fs_license: str | os.PathLike,
    work_dir: str | os.PathLike,
    output_spaces: Sequence[str] = PAPER_OUTPUT_SPACES,
    nthreads: int = 8,
    mem_mb: int = 32000,
    image: str = DEFAULT_IMAGE,
    task: str | None = None,
    bids_filter_file: str | os.PathLike | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The argument list that runs fMRIPrep on one participant.

    ``runner="docker"`` goes through the ``fmriprep-docker`` wrapper (it mounts the folders, the
    license and the filter file itself); ``runner="apptainer"`` runs a local ``.sif`` image
    with explicit bind mounts (BIDS read-only, license and filter file read-only) and passes
    container-side paths. The bound host folders must exist before an apptainer run. ``task``
    restricts fMRIPrep to that task's runs (``--task-id``; MOUS also has resting-state runs),
    ``bids_filter_file`` selects the inputs (``--bids-filter-file``; MOUS: the native T1w, not
    the CTF-space one beside it).
    """
    if runner not in RUNNERS:
        raise ValueError(f"runner must be one of {RUNNERS}, got {runner!r}")
    if nthreads < 1 or mem_mb < 1:
        raise ValueError(f"nthreads and mem_mb must be positive, got {nthreads} and {mem_mb}")
    for space in output_spaces:
        parse_output_space(space)
    license_path = _existing_file(fs_license, "FreeSurfer license (fs_license)")
    bids, output, work = (Path(p).absolute() for p in (bids_dir, output_dir, work_dir))
    if work.is_relative_to(bids):
        raise InputError(f"work_dir {work} is inside the BIDS folder {bids}; move it outside")
    label = participant_label.removeprefix("sub-")
    selection = [*(("--task-id", task) if task else ())]
    filter_path = None
    if bids_filter_file is not None:
        filter_path = _existing_file(bids_filter_file, "BIDS filter file (bids_filter_file)")
    if runner == "docker":
        if filter_path is not None:
            selection += ["--bids-filter-file", str(filter_path)]
        return [
            "fmriprep-docker",
            *(str(bids), str(output), "participant"),
            *_fmriprep_options(label, license_path, work, output_spaces, nthreads, mem_mb),
            *selection,
            *("-i", image, "--no-tty"),
            *extra_args,
        ]
    sif = _apptainer_image(image)
    binds = [
        f"{bids}:{CONTAINER_BIDS_DIR}:ro",
        f"{output}:{CONTAINER_OUTPUT_DIR}",
        f"{work}:{CONTAINER_WORK_DIR}",
        f"{license_path}:{CONTAINER_LICENSE}:ro",
    ]
    if filter_path is not None:
        binds.append(f"{filter_path}:{CONTAINER_BIDS_FILTER}:ro")
        selection += ["--bids-filter-file", CONTAINER_BIDS_FILTER]
    return [
        *("apptainer", "run", "--cleanenv"),
        *(arg for bind in binds for arg in ("-B", bind)),
        str(sif),
        *(CONTAINER_BIDS_DIR, CONTAINER_OUTPUT_DIR, "participant"),
        *_fmriprep_options(
            label, CONTAINER_LICENSE, CONTAINER_WORK_DIR, output_spaces, nthreads, mem_mb
        ),
        *selection,
        *extra_args,
    ]


def _fmriprep_options(label, license_path, work_dir, output_spaces, nthreads, mem_mb) -> list[str]:
    """fMRIPrep's own options. ``--mem_mb`` is the spelling the docker wrapper recognises before
    it would stop to ask about low Docker memory; fMRIPrep accepts it as ``--mem-mb``."""
    return [
        *("--participant-label", label),
        *("--fs-license-file", str(license_path)),
        *("-w", str(work_dir)),
        *("--output-spaces", *output_spaces),
        *("--nthreads", str(nthreads)),
        *("--mem_mb", str(mem_mb)),
    ]


def _apptainer_image(image: str | os.PathLike) -> Path:
    sif = Path(image).absolute()
    if sif.suffix != ".sif" or not sif.is_file():
        raise InputError(
            f"{sif}: apptainer needs an existing local .sif image; build one with "
            f"`apptainer build fmriprep-{FMRIPREP_VERSION}.sif docker://{DEFAULT_IMAGE}`"
        )
    return sif


def _existing_file(path: str | os.PathLike, what: str) -> Path:
    path = Path(path).absolute()
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    return path


def parse_output_space(space: str) -> tuple[str, list[str]]:
    """Split fMRIPrep's space syntax: ``"MNI152NLin2009cAsym:res-2"`` -> name, ``["res-2"]``."""
    name, *modifiers = space.split(":")
    bad = [m for m in modifiers if not _SPACE_MODIFIER.match(m)]
    if not name or bad:
        raise ValueError(
            f"output space {space!r}: expected NAME[:key-value...], "
            "e.g. 'MNI152NLin2009cAsym:res-2'"
        )
    return name, modifiers


def is_surface_space(space: str) -> bool:
    return parse_output_space(space)[0].startswith(SURFACE_SPACE_PREFIXES)


@dataclass(frozen=True)
class FmriprepRunFiles:
    """The fMRIPrep outputs of one functional run that this project reads."""

    confounds_tsv: Path
    confounds_json: Path
    surface_bold: dict[str, tuple[Path, Path]]  # output space -> (left, right) .func.gii
    volume_bold: dict[str, Path]  # output space -> desc-preproc .nii.gz

    def all_files(self) -> list[Path]:
        surfaces = [path for pair in self.surface_bold.values() for path in pair]
        return [*surfaces, *self.volume_bold.values(), self.confounds_tsv, self.confounds_json]


def fmriprep_outputs(
    derivatives_dir: str | os.PathLike,
    subject: str,
    task: str,
    spaces: Sequence[str] = PAPER_OUTPUT_SPACES,
    session: str | None = None,
    run: str | None = None,
) -> FmriprepRunFiles:
    """Paths fMRIPrep writes for one run under ``derivatives_dir/sub-01[/ses-X]/func``.

    E.g. ``sub-01_task-T_hemi-L_space-fsaverage5_bold.func.gii``,
    ``sub-01_task-T_space-MNI152NLin2009cAsym_res-2_desc-preproc_bold.nii.gz`` and
    ``sub-01_task-T_desc-confounds_timeseries.tsv``.
    """
    subject = subject.removeprefix("sub-")
    folder = Path(derivatives_dir) / f"sub-{subject}"
    if session is not None:
        folder = folder / f"ses-{session}"
    entities = {"sub": subject, "ses": session, "task": task, "run": run}
    prefix = folder / "func" / "_".join(f"{k}-{v}" for k, v in entities.items() if v is not None)
    surface_bold, volume_bold = {}, {}
    for space in spaces:
        name, modifiers = parse_output_space(space)
        space_entities = "_".join([f"space-{name}", *modifiers])
        if is_surface_space(space):
            surface_bold[space] = tuple(
                Path(f"{prefix}_hemi-{hemi}_{space_entities}_bold.func.gii") for hemi in HEMISPHERES
            )
        else:
            volume_bold[space] = Path(f"{prefix}_{space_entities}_desc-preproc_bold.nii.gz")
    return FmriprepRunFiles(
        confounds_tsv=Path(f"{prefix}_desc-confounds_timeseries.tsv"),
        confounds_json=Path(f"{prefix}_desc-confounds_timeseries.json"),
        surface_bold=surface_bold,
        volume_bold=volume_bold,
    )


def confounds_files_for(bold_path: str | os.PathLike) -> tuple[Path, Path]:
    """The confounds ``.tsv`` and ``.json`` fMRIPrep writes beside a BOLD output.

    Drops the space entities (hemi, space, res, ...) of the BOLD name and adds
    ``desc-confounds``; falls back to the ``_regressors`` suffix of fMRIPrep < 20.2.
    """
    bold_path = Path(bold_path)
    tokens = bold_path.name.split(".")[0].split("_")
    kept = [t for t in tokens[:-1] if "-" in t and t.split("-")[0] not in _SPACE_ENTITIES]
    stem = bold_path.parent / "_".join([*kept, "desc-confounds"])
    for suffix in ("timeseries", "regressors"):
        tsv = Path(f"{stem}_{suffix}.tsv")
        if tsv.exists():
            return tsv, tsv.with_suffix(".json")
    tsv = Path(f"{stem}_timeseries.tsv")
    return tsv, tsv.with_suffix(".json")
