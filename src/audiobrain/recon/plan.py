"""Which models, clips and files the reconstruction study runs, from the validated ``recon``
config: the rules build their paths and inputs from these, so that the names the trainings write
and the names the tables read come from one place.

A C2F-LDM trained with P_gt = p is named ``c2f-pgt<p>``; its D_aco is the study's own C2F
(``c2f``) at the config's P_gt, else ``c2f-pgt<p>``. Tables 1-2 vocode every method at the config's
P_gt without prompt; Table 3 vocodes C2F-LDM for each of the study's P_gt values and prompts.
Torch-free, so that Snakemake's parse stays fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from audiobrain.io import InputError

METHODS = ("lir", "mlp", "bilstm", "transformer", "fine", "c2f")  # decoders of Tables 1-2
PARTS = ("reconstructions", "conditional")  # Tables 1-2; Table 3
_SAME_P_GT = 1e-9


def check_datasets(recon: Mapping) -> None:
    """Every dataset that ``recon.datasets`` runs has its entry under ``recon.sources`` (a check
    across keys whose names are values, which JSON Schema cannot state)."""
    unknown = [name for name in recon["datasets"] if name not in recon["sources"]]
    if unknown:
        raise InputError(
            f"config recon.datasets: {unknown} have no entry under recon.sources "
            "(each needs source and subjects; see configs/c2f-ldm.yaml)"
        )


def c2f_ldm_name(p_gt: float) -> str:
    """The C2F-LDM trained with this P_gt (its D_aco trained with it too)."""
    return f"c2f-pgt{float(p_gt):g}"


def model_p_gt(model: str, p_gt: float) -> float:
    """The P_gt an LDM or D_aco variant name carries; ``p_gt`` (the config's) for the others."""
    return float(model.split("pgt")[1]) if "pgt" in model else p_gt


def acoustic_variant(model: str, p_gt: float) -> str:
    """The D_aco an LDM starts from: Fine, or C2F trained with the LDM's P_gt."""
    if model == "fine":
        return "fine"
    model_p = model_p_gt(model, p_gt)
    return "c2f" if abs(model_p - p_gt) < _SAME_P_GT else c2f_ldm_name(model_p)


def study_subjects(subjects: Sequence[str], study: Mapping) -> list[str]:
    """The subjects of Table 3: the first ``study.n_subjects`` (null: all)."""
    n_subjects = study["n_subjects"]
    return list(subjects if n_subjects is None else subjects[:n_subjects])


def ldm_models(p_gt: float, study_p_gts: Sequence[float], in_study: bool) -> list[str]:
    """Fine-LDM and C2F-LDM for Tables 1-2, and for a Table 3 subject C2F-LDM per P_gt."""
    p_gts = {float(p_gt)}
    if in_study:
        p_gts.update(float(p) for p in study_p_gts)
    return ["fine"] + [c2f_ldm_name(p) for p in sorted(p_gts)]


def vocode_entries(part: str, p_gt: float, study: Mapping) -> list[dict]:
    """What a subject's vocoding job of ``part`` vocodes: method, prompt, P_gt and the key of
    the predictions it reads (see :func:`prediction_file`)."""
    if part == "reconstructions":
        inputs = {"fine_ldm": "ldm-fine", "c2f_ldm": f"ldm-{c2f_ldm_name(p_gt)}"}
        return [
            {
                "method": method,
                "prompt": "none",
                "p_gt": p_gt if method.startswith("c2f") else None,
                "input": inputs.get(method, method),
            }
            for method in [*METHODS, "fine_ldm", "c2f_ldm"]
        ]
    return [
        {
            "method": "c2f_ldm",
            "prompt": prompt,
            "p_gt": float(study_p),
            "input": f"ldm-{c2f_ldm_name(study_p)}",
            "prefix": "" if prompt == "none" else f"{prompt}_",
        }
        for study_p in study["p_gt"]
        for prompt in study["prompts"]
    ]


def n_clips(part: str, recon: Mapping) -> int | None:
    """Test clips per subject a part scores: ``recon.evaluation.n_clips``, or for Table 3 the
    study's own ``n_clips`` where it sets one (null: all)."""
    if part == "conditional" and "n_clips" in recon["study"]:
        return recon["study"]["n_clips"]
    return recon["evaluation"]["n_clips"]


def prediction_file(key: str) -> str:
    """The file of a subject's test predictions for a vocoding input key (method or
    ``ldm-<model>``)."""
    if key.startswith("ldm-"):
        return f"{key}.npz"
    if key in ("c2f", "fine"):
        return f"acoustic-{key}.npz"
    return f"direct-{key}.npz"


def ldm_settings(recon: Mapping, dataset: Mapping) -> dict:
    """``recon.ldm`` with the dataset's own overrides (epochs, pretrained checkpoints)."""
    return {**recon["ldm"], **dataset["ldm"]}


def acoustic_settings(recon: Mapping, dataset: Mapping, variant: str) -> dict:
    """``recon.acoustic``, with the dataset's own epochs where it sets them, and the P_gt that a
    study variant (``c2f-pgt<p>``) names."""
    settings = dict(recon["acoustic"])
    if dataset["acoustic_epochs"] is not None:
        settings["epochs"] = dataset["acoustic_epochs"]
    if "pgt" in variant:
        settings["p_gt"] = model_p_gt(variant, settings["p_gt"])
    return settings
