"""ROIs from atlas files named in config, mapped to the paper's ROI names."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from audiobrain import surface
from audiobrain.brainscores import atlas, pipeline, projection
from audiobrain.io import InputError, read_tsv, save_arrays, write_tsv

N_PER_HEMI = surface.FSAVERAGE5_VERTICES_PER_HEMI
ALL_VERTICES = np.arange(2 * N_PER_HEMI)
HCP_LIKE = ["???", "{hemi}_A1_ROI", "{hemi}_LBelt_ROI", "{hemi}_MBelt_ROI", "{hemi}_PBelt_ROI"]
PAPER_BELT = {
    "atlas": "hcp",
    "labels": ["{hemi}_LBelt_ROI", "{hemi}_MBelt_ROI", "{hemi}_PBelt_ROI"],
}


def write_annotation(path, labels, names):
    colours = np.column_stack(
        [np.arange(len(names)) * 10 % 256, np.full(len(names), 50), np.full(len(names), 90)]
    )
    table = np.column_stack([colours, np.zeros(len(names)), np.zeros(len(names))]).astype(int)
    nib.freesurfer.write_annot(path, np.asarray(labels), table, names, fill_ctab=True)
    return path


@pytest.fixture
def hcp_like(tmp_path):
    """HCP-MMP-like annotations of fsaverage (163,842 vertices), hemisphere-prefixed names."""
    rng = np.random.default_rng(0)
    paths, labels = {}, {}
    for hemi, fs in (("L", "lh"), ("R", "rh")):
        labels[hemi] = rng.integers(0, len(HCP_LIKE), 163_842)
        names = [name.replace("{hemi}", hemi) for name in HCP_LIKE]
        paths[hemi] = write_annotation(tmp_path / f"{fs}.HCPMMP1.annot", labels[hemi], names)
    return paths, labels


def test_default_atlas_reproduces_the_demo_desikan_masks():
    definitions = atlas.roi_definitions(
        {
            "A1": ["transversetemporal"],
            "Belt": ["superiortemporal"],
            "TPJ": ["supramarginal", "bankssts"],
        }
    )
    masks = atlas.roi_masks(atlas.load_atlases(definitions), definitions, ALL_VERTICES)
    before = atlas.annotation_roi_masks(surface.nilearn_desikan_annotation(), ALL_VERTICES)
    for roi in ("A1", "Belt", "TPJ"):
        np.testing.assert_array_equal(masks[roi], before[roi])
    assert masks["A1"][:N_PER_HEMI].sum() == 68  # transversetemporal in nilearn's annotation


def test_decimated_roi_masks_have_the_expected_sizes():
    definitions = atlas.roi_definitions({"A1": ["transversetemporal"]})
    loaded = atlas.load_atlases(definitions)
    full = atlas.roi_masks(loaded, definitions, ALL_VERTICES)["A1"]
    kept = surface.decimated_vertices(10)
    decimated = atlas.roi_masks(loaded, definitions, kept)["A1"]
    assert decimated.sum() == full[kept].sum()
    assert 8 <= decimated.sum() <= 20  # about a tenth of the 68 + ~68 vertices


def test_fsaverage_annotations_are_read_on_their_fsaverage5_vertices(hcp_like):
    paths, labels = hcp_like
    definitions = atlas.roi_definitions({"Belt": PAPER_BELT})
    loaded = atlas.load_atlases(
        definitions, atlases={"hcp": {"left": paths["L"], "right": paths["R"]}}
    )
    belt = atlas.roi_masks(loaded, definitions, ALL_VERTICES)["Belt"]
    for hemi, half in zip("LR", np.split(belt, 2), strict=True):
        expected = np.isin(labels[hemi][:N_PER_HEMI], [2, 3, 4])  # the three belt parcels
        np.testing.assert_array_equal(half, expected)
        assert half.sum() == pytest.approx(0.6 * N_PER_HEMI, rel=0.05)


def test_fsaverage5_annotation_per_hemisphere(tmp_path):
    rng = np.random.default_rng(1)
    names = ["unknown", "Brodmann.41", "Brodmann.42", "Brodmann.22"]
    labels = {hemi: rng.integers(0, 4, N_PER_HEMI) for hemi in "LR"}
    left = write_annotation(tmp_path / "lh.PALS_B12_Brodmann.annot", labels["L"], names)
    right = write_annotation(tmp_path / "rh.PALS_B12_Brodmann.annot", labels["R"], names)
    definitions = atlas.roi_definitions(
        {"A1": {"atlas": "pals", "labels": ["Brodmann.41", "Brodmann.42"]}}
    )
    loaded = atlas.load_atlases(definitions, atlases={"pals": {"left": left, "right": right}})
    kept = surface.decimated_vertices(10)
    a1 = atlas.roi_masks(loaded, definitions, kept)["A1"]
    expected = np.isin(np.concatenate([labels["L"], labels["R"]])[kept], [1, 2])
    np.testing.assert_array_equal(a1, expected)


def test_annotation_of_another_mesh_names_file_and_counts(tmp_path):
    path = write_annotation(tmp_path / "lh.fsLR.annot", np.zeros(32_492, int), ["a"])
    with pytest.raises(InputError, match=r"lh.fsLR.annot: annotation has 32492 vertices; expected"):
        atlas.read_hemisphere_annotation(path)
    coarser = write_annotation(tmp_path / "lh.fsaverage4.annot", np.zeros(2562, int), ["a"])
    with pytest.raises(InputError, match=r"fsaverage4.annot: annotation has 2562 vertices"):
        atlas.read_hemisphere_annotation(coarser)


def test_missing_atlas_file_is_named(hcp_like, tmp_path):
    paths, _ = hcp_like
    definitions = atlas.roi_definitions({"Belt": PAPER_BELT})
    missing = {"left": paths["L"], "right": tmp_path / "rh.missing.annot"}
    with pytest.raises(InputError, match=r"rh.missing.annot: atlas annotation not found"):
        atlas.load_atlases(definitions, atlases={"hcp": missing})


def test_label_not_in_the_atlas_names_file_and_label(hcp_like):
    paths, _ = hcp_like
    definitions = atlas.roi_definitions({"TPJ": {"atlas": "hcp", "labels": ["{hemi}_STV_ROI"]}})
    loaded = atlas.load_atlases(
        definitions, atlases={"hcp": {"left": paths["L"], "right": paths["R"]}}
    )
    with pytest.raises(
        InputError, match=r"lh.HCPMMP1.annot: ROI 'TPJ' names label 'L_STV_ROI'.*'L_LBelt_ROI'"
    ):
        atlas.roi_masks(loaded, definitions, ALL_VERTICES)


def test_label_missing_from_the_default_annotation_is_named():
    definitions = atlas.roi_definitions({"A1": ["Heschl"]})
    with pytest.raises(InputError, match=r"test.annot: ROI 'A1' names label 'Heschl'"):
        atlas.roi_masks(atlas.load_atlases(definitions), definitions, ALL_VERTICES)


def test_roi_of_an_undefined_atlas_is_an_error():
    definitions = atlas.roi_definitions({"Belt": PAPER_BELT})
    with pytest.raises(
        InputError, match=r"\['Belt'\] use atlas 'hcp', which rois.atlases does not"
    ):
        atlas.load_atlases(definitions, atlases={"pals": {"left": "a", "right": "b"}})


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("transversetemporal", "non-empty list"),
        ({"labels": ["x"]}, "expected {atlas: NAME"),
        ([], "non-empty"),
    ],
)
def test_bad_roi_definitions_are_named(entry, message):
    with pytest.raises(InputError, match=rf"rois.definitions.A1: .*{message}"):
        atlas.roi_definitions({"A1": entry})


# --- a volumetric label image ---------------------------------------------------------------------


@pytest.fixture
def hemisphere_labels(tmp_path):
    """An MNI label image: 1 left of the midline, 2 right of it (4 mm voxels)."""
    affine = np.diag([4.0, 4.0, 4.0, 1.0])
    affine[:3, 3] = [-78.0, -114.0, -60.0]
    shape = (40, 48, 38)
    x = nib.affines.apply_affine(affine, np.indices(shape).reshape(3, -1).T)[:, 0].reshape(shape)
    data = np.where(x < 0, 1, 2).astype(np.int16)
    image = tmp_path / "atlas.nii.gz"
    nib.save(nib.Nifti1Image(data, affine), image)
    table = tmp_path / "atlas.tsv"
    write_tsv(pd.DataFrame({"index": [0, 1, 2], "name": ["background", "left", "right"]}), table)
    return {"image": str(image), "labels": str(table)}


def test_volumetric_label_image_is_sampled_on_the_midthickness(hemisphere_labels):
    definitions = atlas.roi_definitions({"Left": {"atlas": "halves", "labels": ["left"]}})
    loaded = atlas.load_atlases(definitions, atlases={"halves": hemisphere_labels})
    left_roi = atlas.roi_masks(loaded, definitions, ALL_VERTICES)["Left"]
    meshes = projection.template_meshes()
    x = np.concatenate([meshes[h].midthickness.coordinates[:, 0] for h in "LR"])
    # 1.5 mm of line and the nearest 4 mm voxel: beyond 4 mm of the midline the label is exact
    assert left_roi[x < -4].all() and not left_roi[x > 4].any()
    assert left_roi.sum() == pytest.approx(N_PER_HEMI, rel=0.02)


def test_volumetric_atlas_without_its_label_table_is_named(hemisphere_labels, tmp_path):
    definitions = atlas.roi_definitions({"Left": {"atlas": "halves", "labels": ["left"]}})
    spec = {**hemisphere_labels, "labels": str(tmp_path / "nowhere.tsv")}
    with pytest.raises(InputError, match=r"nowhere.tsv: atlas label table not found"):
        atlas.load_atlases(definitions, atlases={"halves": spec})


def test_volumetric_label_not_in_its_table_names_file_and_label(hemisphere_labels):
    definitions = atlas.roi_definitions({"A1": {"atlas": "halves", "labels": ["Heschl"]}})
    loaded = atlas.load_atlases(definitions, atlases={"halves": hemisphere_labels})
    with pytest.raises(
        InputError, match=r"atlas.nii.gz \(labels .*atlas.tsv\): ROI 'A1' names label 'Heschl'"
    ):
        atlas.roi_masks(loaded, definitions, ALL_VERTICES)


# --- the ROI table ------------------------------------------------------------------------------


def test_roi_summary_table_reads_rois_from_configured_atlases(hcp_like, tmp_path):
    paths, labels = hcp_like
    vertices = surface.decimated_vertices(10)
    on_fsaverage5 = np.concatenate([labels["L"][:N_PER_HEMI], labels["R"][:N_PER_HEMI]])
    belt = np.isin(on_fsaverage5[vertices], [2, 3, 4])
    rng = np.random.default_rng(3)
    maps = rng.normal(0.0, 0.01, (1, 6, vertices.size)) + 0.2 * belt  # 6 subjects
    save_arrays(
        tmp_path / "group.npz",
        {"contrasts": np.asarray(["R L0"]), "subject_maps": maps, "vertices": vertices},
    )
    pipeline.roi_summary_table(
        [tmp_path / "group.npz"],
        tmp_path / "roi_summary.tsv",
        networks_=["untrained"],
        annotation=None,
        rois={"A1": ["transversetemporal"], "Belt": PAPER_BELT},
        q=0.05,
        alternative="greater",
        atlases={"hcp": {"left": str(paths["L"]), "right": str(paths["R"])}},
    )
    table = read_tsv(tmp_path / "roi_summary.tsv").set_index("roi")
    a1 = atlas.annotation_roi_masks(surface.nilearn_desikan_annotation(), vertices)["A1"]
    assert table.loc["Belt", "mean"] == pytest.approx(maps[0][:, belt].mean(), abs=1e-9)
    assert table.loc["A1", "mean"] == pytest.approx(maps[0][:, a1].mean(), abs=1e-9)
    assert table.loc["Belt", "mean"] == pytest.approx(0.2, abs=0.005)
    assert table.loc["Belt", "n_subjects"] == 6
