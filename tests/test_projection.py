"""Volume-to-surface projection (section 2.2) and the demo's volumetric variant."""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np
import pytest
from nilearn.datasets import load_fsaverage
from nilearn.surface import InMemoryMesh, vol_to_surf

from audiobrain import surface
from audiobrain.brainscores import confounds, pipeline, projection
from audiobrain.demo import simulate, simulate_volume
from audiobrain.io import InputError, load_json, load_npz, read_tsv

N_PER_HEMI = surface.FSAVERAGE5_VERTICES_PER_HEMI


@pytest.fixture(scope="module")
def meshes():
    return projection.template_meshes()


def grid_around_brain(voxel_mm: float) -> tuple[np.ndarray, tuple[int, int, int]]:
    """An axis-aligned grid covering fsaverage5 with a margin: affine and shape."""
    origin = np.array([-78.0, -114.0, -60.0])
    shape = tuple(int(n) for n in np.ceil(np.array([156.0, 192.0, 150.0]) / voxel_mm))
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = origin
    return affine, shape


def test_midthickness_is_the_vertexwise_mean_of_nilearns_white_and_pial(meshes):
    fsaverage = load_fsaverage("fsaverage5")
    for hemi, part in (("L", "left"), ("R", "right")):
        white = fsaverage["white_matter"].parts[part].coordinates
        pial = fsaverage["pial"].parts[part].coordinates
        np.testing.assert_allclose(meshes[hemi].midthickness.coordinates, (white + pial) / 2)
        assert meshes[hemi].n_vertices == N_PER_HEMI
    # fsaverage5's cortex is 2.5 mm thick at the median vertex: the 3 mm line spans it
    assert 2.0 < np.median(meshes["L"].thickness) < 3.0


@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")  # nilearn, masked vertices
def test_projection_equals_a_direct_nilearn_computation(meshes):
    affine, shape = grid_around_brain(4.0)
    rng = np.random.default_rng(0)
    image = nib.Nifti1Image(rng.normal(size=(*shape, 3)).astype(np.float32), affine)
    mask_data = np.zeros(shape, dtype=np.uint8)
    mask_data[:, :, shape[2] // 3 :] = 1  # the lowest third is outside the brain mask
    mask = nib.Nifti1Image(mask_data, affine)

    projected = projection.project_to_surface(image, meshes, mask, line_mm=3.0, n_samples=10)

    fsaverage = load_fsaverage("fsaverage5")
    expected = []
    for part in ("left", "right"):
        white, pial = fsaverage["white_matter"].parts[part], fsaverage["pial"].parts[part]
        mid = InMemoryMesh((white.coordinates + pial.coordinates) / 2, pial.faces)
        expected.append(
            vol_to_surf(image, mid, kind="line", radius=1.5, n_samples=10, mask_img=mask)
        )
    expected = np.concatenate(expected).T
    assert projected.shape == (3, 2 * N_PER_HEMI)
    np.testing.assert_array_equal(np.isnan(projected), np.isnan(expected))
    np.testing.assert_array_equal(projected, expected)
    assert 0 < np.isnan(projected[0]).sum() < N_PER_HEMI  # the masked third left some unsampled


def test_line_is_3_mm_centred_on_the_midthickness_along_its_outward_normal(meshes):
    points = projection.line_sample_points(meshes["L"], line_mm=3.0, n_samples=10)
    mid = np.asarray(meshes["L"].midthickness.coordinates)
    assert points.shape == (N_PER_HEMI, 10, 3)
    np.testing.assert_allclose(points.mean(axis=1), mid, atol=1e-5)
    lengths = np.linalg.norm(points[:, 0] - points[:, -1], axis=1)
    thick = meshes["L"].thickness > 1.0  # medial wall: white and pial coincide
    np.testing.assert_allclose(lengths[thick], 3.0, rtol=1e-6)  # float32 meshes
    # the line runs roughly from white to pial: outwards, first point towards the pial side
    towards_pial = np.einsum(
        "ij,ij->i", points[:, 0] - points[:, -1], meshes["L"].outer - meshes["L"].inner
    )
    assert (towards_pial[thick] > 0).mean() > 0.95


def test_signal_planted_in_known_voxels_lands_on_the_expected_vertices(meshes):
    """A block of 3 x 3 x 3 voxels of value 1 around one vertex's mid-thickness point: every
    vertex within 0.6 voxel of its centre reads exactly 1 (all its samples interpolate inside
    the block), every vertex farther than 2.4 voxels reads exactly 0 (none reaches it)."""
    voxel_mm = 4.0
    affine, shape = grid_around_brain(voxel_mm)
    mids = np.concatenate([meshes[h].midthickness.coordinates for h in surface.HEMISPHERES])
    index = nib.affines.apply_affine(np.linalg.inv(affine), mids)
    for vertex in (1234, N_PER_HEMI + 5678):
        centre = np.rint(index[vertex]).astype(int)
        data = np.zeros(shape, dtype=np.float32)
        data[tuple(slice(c - 1, c + 2) for c in centre)] = 1.0
        projected = projection.project_to_surface(nib.Nifti1Image(data, affine), meshes)
        distance = np.abs(index - centre).max(axis=1)  # in voxels, along the worst axis
        assert projected[vertex] == pytest.approx(1.0)
        np.testing.assert_allclose(projected[distance < 0.6], 1.0, rtol=1e-6)
        np.testing.assert_array_equal(projected[distance > 2.4], 0.0)
        assert (projected > 0).sum() < 200  # a few dozen vertices, not a smear


def test_cleaning_in_the_volume_leaves_nothing_for_the_surface_cleaning_to_remove(meshes):
    """The workflow cleans in the volume as section 2.2 does (clean_img's defaults: detrend,
    confounds, z-score), then projects. Projection is linear, so the projected data hold no
    confound or trend, and cleaning them again on the surface changes only their scale."""
    affine, shape = grid_around_brain(8.0)
    rng = np.random.default_rng(1)
    n_scans = 40
    regressors = rng.normal(size=(n_scans, 5))
    loadings = rng.normal(size=(5, *shape))
    data = 1000 + np.einsum("tk,kxyz->xyzt", regressors, loadings) + rng.normal(size=(*shape, 40))
    bold = nib.Nifti1Image(data.astype(np.float32), affine)
    mask = nib.Nifti1Image(np.ones(shape, dtype=np.uint8), affine)

    volume_first = projection.project_to_surface(
        projection.clean_volume(bold, mask, regressors), meshes, mask
    )
    sampled = np.isfinite(volume_first).all(axis=0)
    volume_first = volume_first[:, sampled]
    again = confounds.regress_out_confounds(volume_first, regressors)
    scale = volume_first.std(axis=0, ddof=1)
    np.testing.assert_allclose(again * scale, volume_first - volume_first.mean(0), atol=1e-3)
    design = np.column_stack([np.ones(n_scans), np.arange(n_scans), regressors])
    fit = np.linalg.lstsq(design, volume_first, rcond=None)[0]
    assert np.abs(design @ fit - volume_first.mean(0)).max() < 1e-3 * scale.max()


# --- the subject's FreeSurfer surfaces ------------------------------------------------------------

CENTRE_MM = np.array([2.5, -17.0, 11.0])


def write_freesurfer_subject(folder, meshes, permutation):
    """A fake recon-all: fsaverage5's surfaces in another vertex order, in tkr coordinates."""
    volume_info = {
        "head": [2, 0, 20],
        "valid": "1  # volume info valid",
        "filename": "orig.mgz",
        "volume": [256, 256, 256],
        "voxelsize": [1.0, 1.0, 1.0],
        "xras": [-1.0, 0.0, 0.0],
        "yras": [0.0, 0.0, -1.0],
        "zras": [0.0, 1.0, 0.0],
        "cras": list(CENTRE_MM),
    }
    inverse = np.argsort(permutation)
    (folder / "surf").mkdir(parents=True)
    for hemi, fs in (("L", "lh"), ("R", "rh")):
        faces = inverse[meshes[hemi].faces]
        for kind, xyz in (
            ("white", meshes[hemi].inner),
            ("pial", meshes[hemi].outer),
            ("sphere.reg", surface.fsaverage5_sphere(hemi)),
        ):
            shift = CENTRE_MM if kind != "sphere.reg" else 0.0
            nib.freesurfer.write_geometry(
                folder / "surf" / f"{fs}.{kind}",
                xyz[permutation] - shift,
                faces,
                volume_info=volume_info,
            )


def test_subject_surfaces_are_resampled_onto_fsaverage5_in_scanner_coordinates(meshes, tmp_path):
    permutation = np.random.default_rng(2).permutation(N_PER_HEMI)
    write_freesurfer_subject(tmp_path / "sub-01", meshes, permutation)
    subject = projection.freesurfer_meshes(tmp_path / "sub-01")
    for hemi in surface.HEMISPHERES:
        # vertex i is fsaverage5's vertex i again, and the centre offset is undone
        np.testing.assert_allclose(subject[hemi].inner, meshes[hemi].inner, atol=1e-4)
        np.testing.assert_allclose(subject[hemi].outer, meshes[hemi].outer, atol=1e-4)
        np.testing.assert_array_equal(subject[hemi].faces, meshes[hemi].faces)
    assert projection.meshes_for("T1w", tmp_path / "sub-01")["L"].source.startswith(str(tmp_path))


def test_missing_freesurfer_surface_names_the_file(meshes, tmp_path):
    write_freesurfer_subject(tmp_path / "sub-01", meshes, np.arange(N_PER_HEMI))
    (tmp_path / "sub-01" / "surf" / "rh.pial").unlink()
    with pytest.raises(InputError, match=r"sub-01/surf/rh.pial: FreeSurfer surface not found"):
        projection.freesurfer_meshes(tmp_path / "sub-01")


@pytest.mark.parametrize(
    ("space", "subject_dir", "message"),
    [
        ("T1w", None, "surface.freesurfer_dir: T1w-space BOLD"),
        ("MNI152NLin2009cAsym:res-2", "fs/sub-01", "are in T1w space"),
        ("MNI152NLin6Asym", None, "surface.volume_space: expected one of"),
    ],
)
def test_meshes_that_cannot_match_the_bold_space_are_refused(space, subject_dir, message):
    with pytest.raises(InputError, match=message):
        projection.meshes_for(space, subject_dir)


# --- one run's volume: checks ---------------------------------------------------------------------


def save_image(path, data, affine, zooms=None):
    image = nib.Nifti1Image(np.asarray(data), affine)
    if zooms is not None:
        image.header.set_zooms(zooms)
    nib.save(image, path)
    return path


@pytest.fixture
def run_files(tmp_path):
    affine, _ = grid_around_brain(12.0)
    bold = save_image(
        tmp_path / "sub-01_task-a_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz",
        np.ones((13, 16, 13, 5), dtype=np.float32),
        affine,
    )
    mask = save_image(projection.brain_mask_path(bold), np.ones((13, 16, 13), np.uint8), affine)
    return bold, mask, affine


def test_brain_mask_is_found_beside_the_bold(run_files):
    bold, mask, _ = run_files
    assert mask.name == "sub-01_task-a_space-MNI152NLin2009cAsym_desc-brain_mask.nii.gz"
    loaded_bold, loaded_mask = projection.load_bold_volume(bold, mask)
    assert loaded_bold.shape == (13, 16, 13, 5) and loaded_mask.shape == (13, 16, 13)


def test_mask_of_another_shape_names_both_files(run_files):
    bold, mask, affine = run_files
    save_image(mask, np.ones((13, 16, 12), np.uint8), affine)
    with pytest.raises(InputError, match=r"desc-brain_mask.*\(13, 16, 12\) differs from .*bold"):
        projection.load_bold_volume(bold, mask)


def test_mask_with_another_affine_names_both_files(run_files):
    bold, mask, affine = run_files
    shifted = affine.copy()
    shifted[0, 3] += 2.0
    save_image(mask, np.ones((13, 16, 13), np.uint8), shifted)
    with pytest.raises(InputError, match=r"desc-brain_mask.*affine differs.*largest difference 2"):
        projection.load_bold_volume(bold, mask)


def test_runs_on_different_grids_are_an_error(run_files, tmp_path):
    bold, _, affine = run_files
    other = save_image(tmp_path / "run-2.nii.gz", np.ones((26, 32, 26, 5)), affine / [2, 2, 2, 1])
    images = {str(bold): nib.load(bold), str(bold) + "(again)": nib.load(bold)}
    projection.check_same_grid(images)  # same grid: fine
    with pytest.raises(InputError, match=r"run-2.nii.gz: voxel grid \(26, 32, 26\) differs"):
        projection.check_same_grid({**images, str(other): nib.load(other)})


@pytest.mark.parametrize(
    ("which", "data", "message"),
    [
        ("bold", np.ones((13, 16, 13), np.float32), "expected a 4D"),
        ("mask", np.ones((13, 16, 13, 2), np.uint8), "expected a 3D brain mask"),
        ("mask", np.zeros((13, 16, 13), np.uint8), "selects no voxel"),
    ],
)
def test_bold_and_mask_of_the_wrong_kind_are_clear_errors(run_files, which, data, message):
    bold, mask, affine = run_files
    save_image(bold if which == "bold" else mask, data, affine)
    with pytest.raises(InputError, match=message):
        projection.load_bold_volume(bold, mask)


def test_missing_bold_names_the_file(run_files):
    bold, mask, _ = run_files
    bold.unlink()
    with pytest.raises(InputError, match=r"desc-preproc_bold.nii.gz: file not found"):
        projection.load_bold_volume(bold, mask)


def test_bold_whose_brain_mask_misses_the_meshes_is_refused(meshes):
    values = np.full((2, 2 * N_PER_HEMI), np.nan)
    values[:, :100] = 1.0
    with pytest.raises(InputError, match=r"run.nii.gz: only 100 of 20484 vertices.*same space"):
        projection.sampled_vertices(values, "run.nii.gz")


# --- the demo's volumetric variant ----------------------------------------------------------------

TINY = dict(n_subjects=1, pool_size=20, n_blocks=4, sentences_per_block=5, seed=3)
SETTINGS = dict(
    tr_s=2.0, trial_type="sentence", n_blocks=4, decimation=10, n_compcor=6, n_cosine=1,
    volume_space="MNI152NLin2009cAsym",
)  # fmt: skip


@pytest.fixture(scope="module")
def volume_demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("volume-demo")
    simulate.simulate_demo(root, volume=True, **TINY)
    return simulate.DemoLayout(root, "auditory")


@pytest.fixture(scope="module")
def cleaned(volume_demo, tmp_path_factory):
    output = tmp_path_factory.mktemp("clean") / "clean.npz"
    clean_volume(volume_demo, output)
    return output


@pytest.fixture
def layout(volume_demo, tmp_path):
    """A private copy that a test may corrupt."""
    shutil.copytree(volume_demo.root, tmp_path / "demo")
    return simulate.DemoLayout(tmp_path / "demo", "auditory")


def clean_volume(layout, output, **overrides):
    events = output.parent / "sub-01_task-auditory_desc-trials_events.tsv"
    pipeline.derive_events(
        layout.events("01"), layout.stimuli, events, events_format="mous", n_blocks=4,
        sentences_per_block=5,
    )  # fmt: skip
    pipeline.clean_subject_volume(
        simulate_volume.volume_bold_path(layout, "01"),
        simulate_volume.brain_mask_path(layout, "01"),
        events,
        output,
        **{**SETTINGS, **overrides},
    )


def test_volume_demo_has_fmriprep_names_and_a_coarse_mni_grid(volume_demo):
    func = volume_demo.fmriprep / "sub-01" / "func"
    bold = nib.load(
        func / "sub-01_task-auditory_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz"
    )
    mask = nib.load(func / "sub-01_task-auditory_space-MNI152NLin2009cAsym_desc-brain_mask.nii.gz")
    assert bold.header.get_zooms() == (6.0, 6.0, 6.0, 2.0)
    np.testing.assert_array_equal(bold.affine, mask.affine)
    data, inside = np.asarray(bold.dataobj), np.asarray(mask.dataobj).astype(bool)
    assert np.all(data[~inside] == 0) and np.all(data[inside] > 0)
    truth = load_json(volume_demo.truth / "truth.json")
    assert truth["volume"]["n_mask_voxels"] == int(inside.sum())
    assert {roi: entry["n_voxels"] > 0 for roi, entry in truth["rois"].items()} == {
        "A1": True, "Belt": True, "TPJ": True,
    }  # fmt: skip


def test_volume_demo_mask_holds_everything_the_projection_reads(volume_demo, meshes):
    """Outside the mask the projection reads nothing, so no vertex mixes in empty voxels."""
    mask = nib.load(simulate_volume.brain_mask_path(volume_demo, "01"))
    outside = (np.asarray(mask.dataobj) == 0).astype(np.float32)
    read = projection.project_to_surface(nib.Nifti1Image(outside, mask.affine), meshes)
    np.testing.assert_array_equal(read, 0.0)


def test_volume_demo_vertex_shares_follow_the_voxels_labels(volume_demo):
    truth = read_tsv(volume_demo.truth / "vertex_truth.tsv")
    voxels = read_tsv(volume_demo.truth / "voxel_truth.tsv")
    assert len(truth) == 2 * N_PER_HEMI
    shares = truth[["share_A1", "share_Belt", "share_TPJ"]].to_numpy()
    assert np.all(shares >= 0) and np.all(shares.sum(axis=1) <= 1 + 1e-6)
    assert set(voxels.loc[voxels["roi"] == "A1", "label"]) == {"transversetemporal"}
    # vertices labelled transversetemporal mostly read A1 voxels; null vertices none at all
    a1 = truth["label"] == "transversetemporal"
    assert truth.loc[a1, "share_A1"].median() > 0.7
    assert (truth.loc[truth["signal"] == "null", ["share_A1", "share_TPJ"]] == 0).all().all()


def test_planted_voxel_signal_lands_on_the_expected_vertices(volume_demo, cleaned):
    """Through cleaning and projection, vertices that read A1 voxels follow the planted acoustic
    regressors, vertices that read TPJ voxels the deep ones, and null vertices neither."""
    data = load_npz(cleaned)
    truth = read_tsv(volume_demo.truth / "vertex_truth.tsv").set_index("vertex")
    signal = truth.loc[data["vertices"], "signal"].to_numpy()
    regressors = {k: v[data["scans"]] for k, v in load_npz(volume_demo.regressors("01")).items()}

    def r_squared(design):
        design = np.column_stack([np.ones(len(design)), design])
        bold = data["bold"].astype(np.float64)
        residual = bold - design @ np.linalg.lstsq(design, bold, rcond=None)[0]
        return 1 - (residual**2).sum(axis=0) / ((bold - bold.mean(axis=0)) ** 2).sum(axis=0)

    acoustic, deep = r_squared(regressors["acoustic"]), r_squared(regressors["deep"])
    assert (signal == "acoustic").sum() >= 10 and (signal == "deep").sum() >= 50
    # the sentence blocks' scans only: chance R^2 is about 4/n for the acoustic and 8/n for the
    # deep regressors
    assert np.median(acoustic[signal == "acoustic"]) > 0.3
    assert np.median(deep[signal == "deep"]) > 0.35
    assert np.quantile(acoustic[signal == "null"], 0.95) < 0.2
    assert np.quantile(deep[signal == "null"], 0.95) < 0.3


def test_clean_volume_writes_decimated_standardised_fsaverage5_data(cleaned):
    data = load_npz(cleaned)
    np.testing.assert_array_equal(data["vertices"], surface.decimated_vertices(10))
    assert data["bold"].shape == (data["scans"].size, data["vertices"].size)
    assert data["scans"].size < 0.7 * int(data["n_run_scans"])  # the word lists left out
    np.testing.assert_allclose(data["bold"].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(data["bold"].std(axis=0, ddof=1), 1, atol=1e-4)
    assert data["sampled"].all()
    meta = load_json(cleaned.with_suffix(".json"))
    assert meta["projection"] == {"kind": "line", "line_mm": 3.0, "n_samples": 10}
    assert meta["meshes"] == "fsaverage5 (nilearn)"


def test_vertices_outside_the_brain_mask_become_zero(layout, tmp_path):
    mask_path = simulate_volume.brain_mask_path(layout, "01")
    mask = nib.load(mask_path)
    data = np.asarray(mask.dataobj).copy()
    data[:, :10, :] = 0  # drop the occipital third of the field of view
    simulate_volume.write_nifti(mask_path, nib.Nifti1Image(data, mask.affine))
    clean_volume(layout, tmp_path / "clean.npz")
    cleaned = load_npz(tmp_path / "clean.npz")
    unsampled = ~cleaned["sampled"]
    assert 0 < unsampled.sum() < 0.5 * unsampled.size
    np.testing.assert_array_equal(cleaned["bold"][:, unsampled], 0.0)
    mids = np.concatenate(
        [projection.template_meshes()[h].midthickness.coordinates for h in ("L", "R")]
    )
    assert mids[cleaned["vertices"][unsampled], 1].max() < -40  # all posterior


def test_volume_mask_on_another_grid_stops_before_writing(layout, tmp_path):
    mask_path = simulate_volume.brain_mask_path(layout, "01")
    mask = nib.load(mask_path)
    simulate_volume.write_nifti(
        mask_path, nib.Nifti1Image(np.asarray(mask.dataobj)[:, :, :-1], mask.affine)
    )
    with pytest.raises(InputError, match=r"desc-brain_mask.nii.gz: voxel grid .* differs"):
        clean_volume(layout, tmp_path / "clean.npz")
    assert not (tmp_path / "clean.npz").exists()


def test_volume_repetition_time_that_disagrees_with_config_names_both(layout, tmp_path):
    with pytest.raises(InputError, match=r"desc-preproc_bold.nii.gz: repetition time 2 s.*2.5"):
        clean_volume(layout, tmp_path / "clean.npz", tr_s=2.5)
    assert not (tmp_path / "clean.npz").exists()


def test_nifti_writer_gives_the_same_bytes_for_the_same_image(tmp_path):
    image = nib.Nifti1Image(np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.eye(4))
    simulate_volume.write_nifti(tmp_path / "a.nii.gz", image)
    simulate_volume.write_nifti(tmp_path / "b.nii.gz", image)
    assert (tmp_path / "a.nii.gz").read_bytes() == (tmp_path / "b.nii.gz").read_bytes()
    np.testing.assert_array_equal(nib.load(tmp_path / "a.nii.gz").get_fdata(), image.get_fdata())
