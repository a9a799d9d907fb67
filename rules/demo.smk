# The embedded demo dataset: generated offline from a seed, with its planted truth beside it, in
# MOUS's layout (raw events as MOUS ships them, word-list blocks, MOUS's stimulus names).
# surface.source "volume" gives its volumetric variant: MNI-space NIfTI (6 mm voxels, brain mask)
# with the signal planted in known voxels, which the workflow then projects onto fsaverage5.
# These rules exist only for dataset.source "demo"; the demo writes under demo.root only.
if DEMO:

    rule simulate_demo:
        output:
            stimuli=directory(stimuli_dir()),
            participants=f"{BIDS_DIR}/participants.tsv",
            events=expand(raw_events("{subject}"), subject=SUBJECTS),
            bold=[path for s in SUBJECTS for path in bold_files(s)],
            timing=[path for s in SUBJECTS for path in bold_sidecars(s)],
            confounds=expand(confounds_path("{subject}", "tsv"), subject=SUBJECTS),
            confounds_json=expand(confounds_path("{subject}", "json"), subject=SUBJECTS),
            raw_timing=sidecars([raw_bold(s) for s in SUBJECTS]),
            descriptions=[
                f"{folder}/dataset_description.json"
                for folder in (BIDS_DIR, FMRIPREP_DIR)
            ],
            truth=directory(f"{config['demo']['root']}/truth"),
        log:
            "logs/simulate_demo.log",
        benchmark:
            "benchmarks/rules/simulate_demo.tsv"
        conda:
            "../envs/analysis.yaml"
        resources:
            mem_mb=4000,
            runtime=30,
        params:
            root=lambda wildcards, output: Path(output.truth).parent,
            subjects=SUBJECTS,
            task=TASK,
            tr_s=DATASET["tr_s"],
            n_blocks=DATASET["n_blocks"],
            sentences_per_block=DATASET["sentences_per_block"],
            pool_size=config["demo"]["pool_size"],
            noise_level=config["demo"]["noise_level"],
            seed=config["demo"]["seed"],
            volume=SURFACE_SOURCE == "volume",
        script:
            "../workflow/scripts/simulate_demo.py"
