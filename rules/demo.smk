# The embedded demo dataset: generated offline from a seed, with its planted truth beside it, in
# MOUS's layout (raw events as MOUS ships them, word-list blocks, MOUS's stimulus names).
# surface.source "volume" gives its volumetric variant: MNI-space NIfTI (6 mm voxels, brain mask)
# with the signal planted in known voxels, which the workflow then projects onto fsaverage5.
# These rules exist only for dataset.source "demo"; the demo writes under demo.root only.
# They, and the reconstruction demo's rules below, are the only rules whose scripts call
# audiobrain.demo.
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

    # The networks' training corpora (section 2.4), synthesised offline: eSpeak NG speech in the
    # three languages and procedural acoustic scenes.
    rule demo_corpus:
        output:
            corpus=directory(demo_corpus_dir("{task}")),
        log:
            "logs/demo_corpus/{task}.log",
        benchmark:
            "benchmarks/rules/demo_corpus/{task}.tsv"
        conda:
            "../envs/torch.yaml"
        resources:
            mem_mb=2000,
            runtime=20,
        params:
            n_clips=config["demo"]["corpus_clips"],
            max_words=config["demo"]["corpus_max_words"],
            seed=config["demo"]["seed"],
        script:
            "../workflow/scripts/demo_corpus.py"


# The reconstruction study's demo datasets (recon.sources.<name>.source: demo): clips, fMRI with
# planted truth, and stand-ins for the pretrained models.
# The demo's feature and evaluation models, trained on its training clips (the first demo
# dataset's): no pretrained weights can be downloaded, and random ones would make every distance a
# distance in a random space.
rule recon_demo_models:
    input:
        table=(
            recon_path(RECON_DEMO_DATASETS[0], "stimuli.tsv")
            if RECON_DEMO_DATASETS
            else []
        ),
    output:
        clap=directory(f"{RECON_DEMO_MODELS}/clap"),
        audiomae=f"{RECON_DEMO_MODELS}/audiomae.pth",
        panns=f"{RECON_DEMO_MODELS}/Cnn14_16k.pth",
        vggish=f"{RECON_DEMO_MODELS}/vggish.pth",
    log:
        "logs/recon/demo_models.log",
    benchmark:
        "benchmarks/rules/recon/demo_models.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        audiomae=RECON_MODELS.get("audiomae"),
        settings=RECON["demo_models"],
        captions=(
            recon_dataset(RECON_DEMO_DATASETS[0])["text_prompts"]
            if RECON_DEMO_DATASETS
            else {}
        ),
    script:
        "../workflow/scripts/recon_demo_models.py"


rule recon_demo_stimuli:
    output:
        table=recon_path("{dataset}", "stimuli.tsv"),
        audio=recon_path("{dataset}", "stimuli.npz"),
        audio_sidecar=sidecars([recon_path("{dataset}", "stimuli.npz")]),
    log:
        "logs/recon/{dataset}/demo_stimuli.log",
    benchmark:
        "benchmarks/rules/recon/{dataset}/demo_stimuli.tsv"
    wildcard_constraints:
        dataset=RECON_DEMO_PATTERN,
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        settings=lambda wildcards: recon_dataset(wildcards.dataset),
    script:
        "../workflow/scripts/recon_demo_stimuli.py"


rule recon_demo_fmri:
    input:
        table=recon_path("{dataset}", "stimuli.tsv"),
    output:
        fmri=recon_fmri_path("{dataset}", "{subject}"),
        truth=recon_path("{dataset}", "sub-{subject}_truth.npz"),
        sidecars=sidecars(
            [
                recon_fmri_path("{dataset}", "{subject}"),
                recon_path("{dataset}", "sub-{subject}_truth.npz"),
            ]
        ),
    log:
        "logs/recon/{dataset}/demo_fmri_sub-{subject}.log",
    wildcard_constraints:
        dataset=RECON_DEMO_PATTERN,
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=lambda wildcards: recon_dataset(wildcards.dataset),
        where=lambda wildcards: f"recon.sources.{wildcards.dataset}",
    script:
        "../workflow/scripts/recon_demo_fmri.py"
