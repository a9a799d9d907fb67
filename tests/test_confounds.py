"""The 18 confounds of section 2.2 on real fMRIPrep tables, and the cleaning of BOLD."""

import json
from pathlib import Path

import nibabel as nib
import nilearn
import numpy as np
import pandas as pd
import pytest
import scipy.signal
from nilearn import signal
from nilearn.image import clean_img

from audiobrain.brainscores.confounds import (
    MOTION_COLUMNS,
    PAPER_CONFOUNDS,
    bold_start_time,
    check_repetition_time,
    clean_bold,
    detrend_blocks,
    load_paper_confounds,
    regress_out_confounds,
)
from audiobrain.io import InputError, save_json, write_gifti_timeseries

# Real fMRIPrep confounds tables that nilearn ships for its own tests (30 scans each).
NILEARN_DATA = Path(nilearn.__file__).parent / "interfaces" / "fmriprep" / "data"
FULL_TABLE = "test_desc-confounds_regressors"  # 57 combined-mask aCompCor, 4 cosines
V21_TABLE = "test-v21_desc-confounds_timeseries"  # 5 combined-mask aCompCor, 1 cosine
# The full table is the start of a 160-scan run: its cosines are fMRIPrep's DCT basis over 160
# scans, with scan 0 (non-steady-state) zeroed. That lets the test extend them truthfully.
FIXTURE_RUN_SCANS = 160
N_SCANS = 30
TR_S = 2.0
PREFIX = "sub-01_task-test"


def _fmriprep_cosine(index: int) -> np.ndarray:
    scans = np.arange(N_SCANS)
    basis = np.sqrt(2 / FIXTURE_RUN_SCANS) * np.cos(
        np.pi * (scans + 0.5) * (index + 1) / FIXTURE_RUN_SCANS
    )
    basis[0] = 0.0
    return basis


def _full_table_with_seven_cosines() -> pd.DataFrame:
    table = pd.read_csv(NILEARN_DATA / f"{FULL_TABLE}.tsv", sep="\t", na_values="n/a")
    for index in range(4):
        np.testing.assert_allclose(table[f"cosine{index:02d}"], _fmriprep_cosine(index), atol=1e-8)
    extra = {f"cosine{index:02d}": _fmriprep_cosine(index) for index in range(4, 7)}
    return pd.concat([table, pd.DataFrame(extra)], axis=1)


def _write_run(folder: Path, table: pd.DataFrame, meta: dict, image: str = "gifti") -> list[Path]:
    """fMRIPrep-named BOLD files (tiny, ``N_SCANS`` long) with the confounds beside them."""
    table.to_csv(
        folder / f"{PREFIX}_desc-confounds_timeseries.tsv", sep="\t", index=False, na_rep="n/a"
    )
    (folder / f"{PREFIX}_desc-confounds_timeseries.json").write_text(json.dumps(meta))
    if image == "nifti":
        path = folder / f"{PREFIX}_space-MNI152NLin2009cAsym_res-2_desc-preproc_bold.nii.gz"
        nifti = nib.Nifti1Image(np.zeros((2, 2, 2, N_SCANS), np.float32), np.eye(4))
        nifti.header.set_zooms((2.0, 2.0, 2.0, TR_S))
        nib.save(nifti, path)
        return [path]
    paths = [folder / f"{PREFIX}_hemi-{h}_space-fsaverage5_bold.func.gii" for h in "LR"]
    for path in paths:
        write_gifti_timeseries(path, np.zeros((N_SCANS, 4)), TR_S)
    return paths


def _meta(name: str) -> dict:
    return json.loads((NILEARN_DATA / f"{name}.json").read_text())


@pytest.mark.parametrize("image", ["gifti", "nifti"])
def test_loads_the_18_paper_confounds(tmp_path, image):
    table, meta = _full_table_with_seven_cosines(), _meta(FULL_TABLE)
    confounds = load_paper_confounds(_write_run(tmp_path, table, meta, image))

    compcor = [f"a_comp_cor_{i:02d}" for i in range(6)]
    cosines = [f"cosine{i:02d}" for i in range(6)]
    assert list(confounds.columns) == [*MOTION_COLUMNS, *compcor, *cosines]
    assert confounds.shape == (N_SCANS, 18)
    assert all(meta[name]["Mask"] == "combined" for name in compcor)
    assert confounds.dtypes.eq(np.float64).all()
    np.testing.assert_array_equal(confounds.to_numpy(), table[confounds.columns].to_numpy())


def test_compcor_follows_the_mask_not_the_numbering(tmp_path):
    """Relabel the first two components as WM: the next combined ones are taken instead."""
    table, meta = _full_table_with_seven_cosines(), _meta(FULL_TABLE)
    for name in ("a_comp_cor_00", "a_comp_cor_01"):
        meta[name]["Mask"] = "WM"
    confounds = load_paper_confounds(_write_run(tmp_path, table, meta), n_cosine=2)
    compcor = [c for c in confounds.columns if c.startswith("a_comp_cor")]
    assert compcor == [f"a_comp_cor_{i:02d}" for i in range(2, 8)]


def test_real_short_table_lacks_compcor_and_cosines(tmp_path):
    table = pd.read_csv(NILEARN_DATA / f"{V21_TABLE}.tsv", sep="\t", na_values="n/a")
    bold = _write_run(tmp_path, table, _meta(V21_TABLE))
    with pytest.raises(InputError, match=r"confounds_timeseries\.json.*at least 6.*found 5"):
        load_paper_confounds(bold)
    with pytest.raises(InputError, match=r"confounds_timeseries\.tsv.*'cosine01'.*'cosine05'"):
        load_paper_confounds(bold, n_compcor=5)
    assert load_paper_confounds(bold, n_compcor=5, n_cosine=1).shape == (N_SCANS, 12)


def test_missing_motion_column_names_file_and_column(tmp_path):
    table = _full_table_with_seven_cosines().drop(columns=["trans_x"])
    bold = _write_run(tmp_path, table, _meta(FULL_TABLE))
    with pytest.raises(InputError, match=r"desc-confounds_timeseries\.tsv.*\['trans_x'\]"):
        load_paper_confounds(bold)


def test_missing_sidecar_or_table_is_named(tmp_path):
    bold = _write_run(tmp_path, _full_table_with_seven_cosines(), _meta(FULL_TABLE))
    (tmp_path / f"{PREFIX}_desc-confounds_timeseries.json").unlink()
    with pytest.raises(InputError, match=r"desc-confounds_timeseries\.json: not found"):
        load_paper_confounds(bold)
    (tmp_path / f"{PREFIX}_desc-confounds_timeseries.tsv").unlink()
    with pytest.raises(InputError, match=r"desc-confounds_timeseries\.tsv: file not found"):
        load_paper_confounds(bold)


def test_missing_value_inside_a_selected_column_is_reported(tmp_path):
    table = _full_table_with_seven_cosines()
    table.loc[7, "rot_y"] = np.nan
    bold = _write_run(tmp_path, table, _meta(FULL_TABLE))
    with pytest.raises(InputError, match="column 'rot_y' at scan 7"):
        load_paper_confounds(bold)


# ---------------------------------------------------------------------------- cleaning


def _synthetic_run(seed: int, n_scans: int = 240, n_vertices: int = 50):
    """Motion-like random walks, noise components and cosines, 12 blocks of 20 scans."""
    rng = np.random.default_rng(seed)
    motion = np.cumsum(rng.normal(size=(n_scans, 6)), axis=0)
    compcor = rng.normal(size=(n_scans, 6))
    cosines = signal.create_cosine_drift(0.008, np.arange(n_scans) * TR_S)[:, :6]
    confounds = np.hstack([motion, compcor, cosines])
    noise = rng.normal(size=(n_scans, n_vertices)) + 100.0
    blocks = np.repeat(np.arange(1, 13), n_scans // 12)
    return confounds, noise, blocks, rng


@pytest.mark.filterwarnings("ignore:From release 0.14.0:DeprecationWarning")
def test_confound_step_is_nilearns_clean_img_with_its_defaults():
    """Section 2.2: clean_img with the confounds "and otherwise default parameters", i.e. a
    linear detrend and z-scoring with the regression; least squares on [1, t, confounds]."""
    confounds, noise, _, rng = _synthetic_run(0)
    bold = noise + confounds @ rng.normal(size=(18, noise.shape[1]))
    residuals = regress_out_confounds(bold, confounds)

    image = nib.Nifti1Image(bold.T.reshape(1, 5, 10, len(bold)), np.eye(4))
    # nilearn's default standardize=True means "zscore_sample" from nilearn 0.14 on.
    nilearn_clean = clean_img(image, confounds=confounds, standardize="zscore_sample")
    nilearn_clean = nilearn_clean.get_fdata().reshape(-1, len(bold)).T
    np.testing.assert_allclose(residuals, nilearn_clean, rtol=0, atol=1e-10)
    trend = np.arange(len(bold), dtype=float)
    design = np.column_stack([np.ones(len(bold)), trend, confounds])
    beta, *_ = np.linalg.lstsq(design, bold, rcond=None)
    expected = bold - design @ beta
    np.testing.assert_allclose(residuals, expected / expected.std(0, ddof=1), atol=1e-8)


def test_each_contiguous_block_is_detrended_like_scipy():
    confounds, noise, _, rng = _synthetic_run(1, n_scans=60)
    ramps = np.linspace(0, 50, 60)[:, None] * rng.normal(size=noise.shape[1])
    # Out-of-order labels, unequal lengths and a label that comes back later.
    blocks = np.repeat([7, 2, 5, 2, 0], [12, 9, 15, 10, 14])
    detrended = detrend_blocks(noise + ramps, blocks)

    edges = np.cumsum([0, 12, 9, 15, 10, 14])
    for start, stop in zip(edges[:-1], edges[1:], strict=True):
        expected = scipy.signal.detrend((noise + ramps)[start:stop], axis=0, type="linear")
        np.testing.assert_allclose(detrended[start:stop], expected, atol=1e-9)


def test_clean_bold_is_regression_then_the_kept_scans_block_detrended_then_zscored():
    confounds, noise, blocks, rng = _synthetic_run(2)
    bold = noise + confounds @ rng.normal(size=(18, noise.shape[1]))
    blocks = blocks.copy()
    blocks[blocks % 2 == 0] = 0  # every other block is not analysed (word lists)
    blocks[blocks > 0] = (blocks[blocks > 0] + 1) // 2
    cleaned = clean_bold(bold, confounds, blocks)

    kept = blocks > 0
    assert cleaned.shape == (kept.sum(), bold.shape[1])
    regressed = regress_out_confounds(bold, confounds)[kept]
    expected = np.empty_like(regressed)
    for block in np.unique(blocks[kept]):
        rows = blocks[kept] == block
        expected[rows] = scipy.signal.detrend(regressed[rows], axis=0)
    expected = (expected - expected.mean(0)) / expected.std(0, ddof=1)
    np.testing.assert_allclose(cleaned, expected, atol=1e-9)
    assert cleaned.dtype == np.float64
    unscaled = clean_bold(bold, confounds, blocks, standardize=False)
    np.testing.assert_allclose(unscaled / unscaled.std(0, ddof=1), cleaned, atol=1e-9)


def test_planted_confound_artefacts_are_removed():
    confounds, noise, blocks, rng = _synthetic_run(3)
    artefacts = confounds @ (5.0 * rng.normal(size=(18, noise.shape[1])))
    bold = noise + artefacts

    def max_abs_correlation(data):
        data = (data - data.mean(0)) / data.std(0)
        regressors = (confounds - confounds.mean(0)) / confounds.std(0)
        return np.abs(regressors.T @ data / len(data)).max()

    assert max_abs_correlation(bold) > 0.5
    assert max_abs_correlation(regress_out_confounds(bold, confounds)) < 1e-10
    # Whatever the artefact, what is left is the cleaned artefact-free signal.
    np.testing.assert_allclose(
        clean_bold(bold, confounds, blocks), clean_bold(noise, confounds, blocks), atol=1e-8
    )


def test_cleaning_rejects_inconsistent_inputs():
    confounds, noise, blocks, _ = _synthetic_run(4)
    with pytest.raises(InputError, match="confounds have 239 rows but the BOLD has 240 scans"):
        clean_bold(noise, confounds[:-1], blocks)
    with pytest.raises(InputError, match=r"one label per scan \(240\)"):
        clean_bold(noise, confounds, blocks[:-1])
    bad = noise.copy()
    bad[3, 4] = np.nan
    with pytest.raises(InputError, match="bold: 1 NaN"):
        clean_bold(bad, confounds, blocks)
    short = blocks.copy()
    short[-2:] = 99
    with pytest.raises(InputError, match="at least 3 scans.*shortest has 2"):
        clean_bold(noise, confounds, short)
    with pytest.raises(InputError, match="no scan lies in an analysed block"):
        clean_bold(noise, confounds, np.zeros_like(blocks))


def test_paper_defaults():
    assert (PAPER_CONFOUNDS.n_motion, PAPER_CONFOUNDS.n_compcor, PAPER_CONFOUNDS.n_cosine) == (
        6,
        6,
        6,
    )


# ---------------------------------------------------------------------- repetition time


def test_repetition_time_from_gifti_and_nifti(tmp_path):
    gifti = tmp_path / "sub-01_task-t_hemi-L_space-fsaverage5_bold.func.gii"
    write_gifti_timeseries(gifti, np.zeros((5, 3)), 2.0)
    assert check_repetition_time(gifti, None, 2.0) == 2.0
    with pytest.raises(InputError, match=r"func\.gii: repetition time 2 s in the file, 1\.5 s"):
        check_repetition_time(gifti, None, 1.5)

    nifti = tmp_path / "bold.nii.gz"
    image = nib.Nifti1Image(np.zeros((2, 2, 2, 5), np.float32), np.eye(4))
    image.header.set_zooms((2.0, 2.0, 2.0, 2000.0))
    image.header.set_xyzt_units("mm", "msec")
    nib.save(image, nifti)
    assert check_repetition_time(nifti, None, 2.0) == 2.0
    with pytest.raises(InputError, match=r"bold\.nii\.gz: repetition time 2 s .* 2\.5 s"):
        check_repetition_time(nifti, None, 2.5)
    with pytest.raises(InputError, match="repetition time 3 s"):
        check_repetition_time(nifti, 3.0, 2.0)


def test_repetition_time_from_gifti_sidecar(tmp_path):
    gifti = tmp_path / "sub-01_task-t_hemi-L_space-fsaverage5_bold.func.gii"
    darray = nib.gifti.GiftiDataArray(np.zeros(3, np.float32), intent="NIFTI_INTENT_TIME_SERIES")
    nib.save(nib.gifti.GiftiImage(darrays=[darray]), gifti)
    assert check_repetition_time(gifti, None, 1.5) == 1.5  # nothing stored: accepted
    (tmp_path / "sub-01_task-t_hemi-L_space-fsaverage5_bold.json").write_text(
        json.dumps({"RepetitionTime": 2.0})
    )
    with pytest.raises(InputError, match="2 s in the file, 1.5 s in the config"):
        check_repetition_time(gifti, None, 1.5)


# ---------------------------------------------------------------------- slice timing


def test_start_time_is_fmripreps_slice_timing_reference_from_the_sidecar(tmp_path):
    gifti = tmp_path / "sub-01_task-t_hemi-L_space-fsaverage5_bold.func.gii"
    sidecar = tmp_path / "sub-01_task-t_hemi-L_space-fsaverage5_bold.json"
    save_json(sidecar, {"RepetitionTime": 2.0, "SliceTimingCorrected": True, "StartTime": 0.972})
    assert bold_start_time(gifti) == 0.972
    assert bold_start_time(gifti, configured_s=0.5) == 0.5  # config dataset.start_time_s
    save_json(sidecar, {"RepetitionTime": 2.0, "SliceTimingCorrected": False})
    assert bold_start_time(gifti) == 0.0  # samples at the volume's onset
    save_json(sidecar, {"RepetitionTime": 2.0, "SliceTimingCorrected": True})
    with pytest.raises(InputError, match=r"bold\.json: SliceTimingCorrected is true but StartTime"):
        bold_start_time(gifti)
    sidecar.unlink()
    with pytest.raises(InputError, match=r"bold\.json: not found.*dataset\.start_time_s"):
        bold_start_time(gifti)
