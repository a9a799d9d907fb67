# The embedded demo dataset: generated offline from a seed, with its planted truth beside it.
if "demo" in config:

    rule simulate_demo:
        output:
            stimuli=directory(stimuli_dir()),
            events=expand(events_path("{subject}"), subject=SUBJECTS),
            bold=[surface_bold_path(s, hemi) for s in SUBJECTS for hemi in HEMIS],
            confounds=expand(confounds_path("{subject}", "tsv"), subject=SUBJECTS),
            confounds_json=expand(confounds_path("{subject}", "json"), subject=SUBJECTS),
            truth=f"{config['demo']['root']}/truth/vertex_truth.tsv",
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
            root=lambda wildcards, output: Path(output.truth).parent.parent,
            subjects=SUBJECTS,
            task=TASK,
            tr_s=DATASET["tr_s"],
            n_blocks=DATASET["n_blocks"],
            sentences_per_block=DATASET["sentences_per_block"],
            pool_size=config["demo"]["pool_size"],
            noise_level=config["demo"]["noise_level"],
            seed=config["demo"]["seed"],
        script:
            "../workflow/scripts/simulate_demo.py"
