# Coarse-to-fine audio reconstruction from fMRI (c2f-ldm paper, part 1): each dataset in the common
# per-subject format -> CLAP, AudioMAE and vocoder features of its stimuli -> per subject the
# semantic decoder (ridge with voxel selection), the acoustic decoder (C2F and Fine), the direct
# baselines -> vocoded reconstructions -> the paper's metrics, tables and semantic analysis.


rule recon_demo_sample_counts:
    input:
        fmri=lambda wildcards: recon_fmri_paths(wildcards.dataset),
    output:
        report(
            recon_path("{dataset}", "sample_counts.tsv"),
            caption="../report/recon_sample_counts.rst",
            category="Reconstruction",
            subcategory="{dataset}",
        ),
    log:
        "logs/recon/{dataset}/sample_counts.log",
    wildcard_constraints:
        dataset=RECON_DEMO_PATTERN,
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/recon_sample_counts.py"


# A real dataset is converted in one job (its loaders read shared files for all subjects), so the
# rule's outputs list the dataset's subjects: one rule per configured dataset.
for _dataset in RECON_REAL_DATASETS:

    rule:
        name:
            f"recon_prepare_{_dataset}"
        input:
            recon_dataset_inputs(_dataset),
            **recon_prepare_extra_inputs(_dataset),
        output:
            table=recon_path(_dataset, "stimuli.tsv"),
            audio=recon_path(_dataset, "stimuli.npz"),
            fmri=recon_fmri_paths(_dataset),
            counts=report(
                recon_path(_dataset, "sample_counts.tsv"),
                caption="../report/recon_sample_counts.rst",
                category="Reconstruction",
                subcategory=_dataset,
            ),
        log:
            f"logs/recon/{_dataset}/prepare_dataset.log",
        benchmark:
            f"benchmarks/rules/recon/{_dataset}/prepare_dataset.tsv"
        conda:
            "../envs/analysis.yaml"
        resources:
            mem_mb=64000,
            runtime=480,
        params:
            settings=recon_dataset(_dataset),
            where=f"recon.sources.{_dataset}",
            audio_dir=lambda wildcards, input: input.get("stimulus_clips"),
        script:
            "../workflow/scripts/recon_prepare_dataset.py"


# Brain2Sound's 8 s clips, cut from the downloaded YouTube audio by the release's stimulus table
# (times in ms), named <YouTube ID>_<start_ms>: some IDs occur twice.
rule recon_stimulus_clips:
    input:
        table=recon_release_stimulus_table,
        audio=lambda wildcards: recon_dataset(wildcards.dataset)["source_audio"],
    output:
        clips=directory(recon_path("{dataset}", "stimulus_clips")),
        table=recon_path("{dataset}", "stimulus_clips.tsv"),
    log:
        "logs/recon/{dataset}/stimulus_clips.log",
    benchmark:
        "benchmarks/rules/recon/{dataset}/stimulus_clips.tsv"
    wildcard_constraints:
        dataset=RECON_CLIP_PATTERN,
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        where=lambda wildcards: f"recon.sources.{wildcards.dataset}.source_audio",
    script:
        "../workflow/scripts/recon_stimulus_clips.py"


# Pre-flight: D_sem's test PCC on the first subject for each hemodynamic lag of the Brain2Music
# pairing (0-4 TRs; neither the dataset nor the paper states it), logged before any D_sem job.
rule recon_lag_scan:
    input:
        root=lambda wildcards: recon_dataset(wildcards.dataset)["root"],
        clap=recon_path("{dataset}", "features/clap.npz"),
    output:
        recon_path("{dataset}", "lag_scan.tsv"),
    log:
        "logs/recon/{dataset}/lag_scan.log",
    benchmark:
        "benchmarks/rules/recon/{dataset}/lag_scan.tsv"
    wildcard_constraints:
        dataset=RECON_LAG_SCAN_PATTERN,
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=recon_mem_mb(32000),
        runtime=120,
    params:
        settings=lambda wildcards: recon_dataset(wildcards.dataset),
        semantic=RECON["semantic"],
        subject=lambda wildcards: recon_dataset(wildcards.dataset)["subjects"][0],
        where=lambda wildcards: f"recon.sources.{wildcards.dataset}",
    script:
        "../workflow/scripts/recon_lag_scan.py"


rule recon_clap_features:
    input:
        audio=recon_path("{dataset}", "stimuli.npz"),
        model=recon_model_files("clap"),
    output:
        recon_path("{dataset}", "features/clap.npz"),
    log:
        "logs/recon/{dataset}/clap_features.log",
    benchmark:
        "benchmarks/rules/recon/{dataset}/clap_features.tsv"
    conda:
        "../envs/torch.yaml"
    threads: RECON_THREADS
    resources:
        **SLURM_SITE.gpu_resources(RECON_DEVICE),
        mem_mb=recon_mem_mb(8000),
        runtime=120,
    params:
        clap=lambda wildcards: RECON_MODELS["clap"],
    script:
        "../workflow/scripts/recon_clap_features.py"


rule recon_audiomae_features:
    input:
        audio=recon_path("{dataset}", "stimuli.npz"),
        checkpoint=recon_model_files("audiomae"),
    output:
        recon_path("{dataset}", "features/audiomae.npz"),
    log:
        "logs/recon/{dataset}/audiomae_features.log",
    benchmark:
        "benchmarks/rules/recon/{dataset}/audiomae_features.tsv"
    conda:
        "../envs/torch.yaml"
    threads: RECON_THREADS
    resources:
        **SLURM_SITE.gpu_resources(RECON_DEVICE),
        mem_mb=recon_mem_mb(16000),
        runtime=240,
    params:
        settings=RECON_MODELS.get("audiomae"),
        n_patch=lambda wildcards: recon_dataset(wildcards.dataset)["n_patch"],
    script:
        "../workflow/scripts/recon_audiomae_features.py"


rule recon_vocoder_mels:
    input:
        audio=recon_path("{dataset}", "stimuli.npz"),
        vocoder=recon_model_files("vocoder"),
    output:
        recon_path("{dataset}", "features/vocoder_mel.npz"),
    log:
        "logs/recon/{dataset}/vocoder_mels.log",
    benchmark:
        "benchmarks/rules/recon/{dataset}/vocoder_mels.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=recon_mem_mb(8000),
        runtime=60,
    params:
        vocoder=recon_vocoder,
    script:
        "../workflow/scripts/recon_vocoder_mels.py"


rule recon_semantic_decoder:
    input:
        unpack(recon_lag_scan_input),
        fmri=recon_fmri_path("{dataset}", "{subject}"),
        clap=recon_path("{dataset}", "features/clap.npz"),
    output:
        recon_subject_path("{dataset}", "{subject}", "decoders", "semantic.npz"),
    log:
        "logs/recon/{dataset}/semantic_decoder_sub-{subject}.log",
    benchmark:
        "benchmarks/rules/recon/{dataset}/semantic_decoder_sub-{subject}.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=recon_mem_mb(16000),
        runtime=120,
    params:
        settings=RECON["semantic"],
        d_model=lambda wildcards: RECON_MODELS["audiomae"]["embed_dim"],
    script:
        "../workflow/scripts/recon_semantic_decoder.py"


rule recon_acoustic_decoder:
    input:
        unpack(recon_vae_check_input),
        fmri=recon_fmri_path("{dataset}", "{subject}"),
        semantic=recon_subject_path(
            "{dataset}", "{subject}", "decoders", "semantic.npz"
        ),
        clap=recon_path("{dataset}", "features/clap.npz"),
        audiomae=recon_path("{dataset}", "features/audiomae.npz"),
        stimuli=recon_path("{dataset}", "stimuli.npz"),
        checkpoint=recon_model_files("audiomae"),
    output:
        model=recon_subject_path(
            "{dataset}", "{subject}", "decoders", "acoustic-{variant}.pt"
        ),
        predictions=recon_subject_path(
            "{dataset}", "{subject}", "predictions", "acoustic-{variant}.npz"
        ),
        metrics=recon_subject_path(
            "{dataset}", "{subject}", "decoders", "acoustic-{variant}_metrics.tsv"
        ),
    log:
        "logs/recon/{dataset}/acoustic_decoder_sub-{subject}_{variant}.log",
    benchmark:
        "benchmarks/rules/recon/{dataset}/acoustic_decoder_sub-{subject}_{variant}.tsv"
    wildcard_constraints:
        variant="c2f|fine|c2f-pgt[0-9.]+",
    conda:
        "../envs/torch.yaml"
    threads: RECON_THREADS
    resources:
        **SLURM_SITE.gpu_resources(RECON_DEVICE),
        mem_mb=recon_mem_mb(32000),
        runtime=720,
    params:
        variant=lambda wildcards: wildcards.variant.split("-")[0],
        settings=recon_acoustic_settings,
        audiomae=RECON_MODELS.get("audiomae"),
        seed=RECON["seed"],
        resume=lambda wildcards: recon_resume_path(
            wildcards, f"acoustic-{wildcards.variant}"
        ),
        device=RECON_DEVICE,
    script:
        "../workflow/scripts/recon_acoustic_decoder.py"


rule recon_linear_acoustic_decoder:
    input:
        fmri=recon_fmri_path("{dataset}", "{subject}"),
        audiomae=recon_path("{dataset}", "features/audiomae.npz"),
    output:
        recon_subject_path("{dataset}", "{subject}", "predictions", "acoustic-lir.npz"),
    log:
        "logs/recon/{dataset}/linear_acoustic_decoder_sub-{subject}.log",
    benchmark:
        "benchmarks/rules/recon/{dataset}/linear_acoustic_decoder_sub-{subject}.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=recon_mem_mb(64000),
        runtime=120,
    params:
        alpha=RECON["semantic"]["alpha"],
    script:
        "../workflow/scripts/recon_linear_acoustic_decoder.py"


rule recon_direct_decoder:
    input:
        fmri=recon_fmri_path("{dataset}", "{subject}"),
        mels=recon_path("{dataset}", "features/vocoder_mel.npz"),
    output:
        recon_subject_path("{dataset}", "{subject}", "predictions", "direct-{kind}.npz"),
    log:
        "logs/recon/{dataset}/direct_decoder_sub-{subject}_{kind}.log",
    benchmark:
        "benchmarks/rules/recon/{dataset}/direct_decoder_sub-{subject}_{kind}.tsv"
    wildcard_constraints:
        kind="lir|mlp",
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=recon_mem_mb(32000),
        runtime=120,
    params:
        settings=RECON["direct"],
        seed=RECON["seed"],
        resume=lambda wildcards: recon_resume_path(
            wildcards, f"direct-{wildcards.kind}"
        ),
        device=RECON_DEVICE,
    script:
        "../workflow/scripts/recon_direct_decoder.py"


# The BiLSTM and the Transformer train like D_aco: GPU jobs that resume a killed run.
rule recon_direct_network:
    input:
        fmri=recon_fmri_path("{dataset}", "{subject}"),
        mels=recon_path("{dataset}", "features/vocoder_mel.npz"),
    output:
        recon_subject_path("{dataset}", "{subject}", "predictions", "direct-{kind}.npz"),
    log:
        "logs/recon/{dataset}/direct_network_sub-{subject}_{kind}.log",
    benchmark:
        "benchmarks/rules/recon/{dataset}/direct_network_sub-{subject}_{kind}.tsv"
    wildcard_constraints:
        kind="bilstm|transformer",
    conda:
        "../envs/torch.yaml"
    threads: RECON_THREADS
    resources:
        **SLURM_SITE.gpu_resources(RECON_DEVICE),
        mem_mb=recon_mem_mb(32000),
        runtime=480,
    params:
        settings=RECON["direct"],
        seed=RECON["seed"],
        resume=lambda wildcards: recon_resume_path(
            wildcards, f"direct-{wildcards.kind}"
        ),
        device=RECON_DEVICE,
    script:
        "../workflow/scripts/recon_direct_decoder.py"


rule recon_mel_mapping:
    input:
        table=recon_path("{dataset}", "stimuli.tsv"),
        audiomae=recon_path("{dataset}", "features/audiomae.npz"),
        mels=recon_path("{dataset}", "features/vocoder_mel.npz"),
        vocoder=recon_model_files("vocoder"),
    output:
        mapping=recon_path("{dataset}", "melmap.npz"),
        pcc=report(
            recon_path("{dataset}", "melmap_pcc.tsv"),
            caption="../report/recon_melmap.rst",
            category="Reconstruction",
            subcategory="{dataset}",
        ),
    log:
        "logs/recon/{dataset}/mel_mapping.log",
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=recon_mem_mb(8000),
        runtime=30,
    params:
        alpha=RECON["melmap"]["alpha"],
        vocoder=recon_vocoder,
    script:
        "../workflow/scripts/recon_mel_mapping.py"


# Vocoded per subject in two parts: Tables 1-2's methods, and Table 3's cells (C2F-LDM with each
# P_gt and prompt, on recon.study.n_clips clips).
rule recon_vocode:
    input:
        unpack(recon_reconstruction_inputs),
        vocoder=recon_model_files("vocoder"),
    output:
        audio=recon_subject_path("{dataset}", "{subject}", "audio", "{part}.npz"),
        wav=directory(recon_subject_path("{dataset}", "{subject}", "audio", "{part}")),
    log:
        "logs/recon/{dataset}/vocode_sub-{subject}_{part}.log",
    benchmark:
        "benchmarks/rules/recon/{dataset}/vocode_sub-{subject}_{part}.tsv"
    wildcard_constraints:
        part="|".join(RECON_PARTS),
    conda:
        "../envs/torch.yaml"
    # One thread: a second one gained little (short batches, start-up), and a 1-thread job
    # leaves the other core of a laptop to another job.
    threads: RECON_THREADS
    resources:
        **SLURM_SITE.gpu_resources(RECON_DEVICE),
        mem_mb=recon_mem_mb(8000),
        runtime=120,
    params:
        entries=lambda wildcards: recon_vocode_entries(wildcards.part),
        vocoder=recon_vocoder,
        n_clips=lambda wildcards: recon_n_clips(wildcards.part),
    script:
        "../workflow/scripts/recon_vocode.py"


# The reference rows of every table (the clip itself through the vocoder, its class's mean mel,
# the training mean mel, another clip), vocoded once per dataset for all test clips.
rule recon_references:
    input:
        table=recon_path("{dataset}", "stimuli.tsv"),
        mels=recon_path("{dataset}", "features/vocoder_mel.npz"),
        vocoder=recon_model_files("vocoder"),
    output:
        audio=recon_path("{dataset}", "audio", "references.npz"),
        wav=directory(recon_path("{dataset}", "audio", "references")),
    log:
        "logs/recon/{dataset}/references.log",
    benchmark:
        "benchmarks/rules/recon/{dataset}/references.tsv"
    conda:
        "../envs/torch.yaml"
    threads: RECON_THREADS
    resources:
        **SLURM_SITE.gpu_resources(RECON_DEVICE),
        mem_mb=recon_mem_mb(8000),
        runtime=120,
    params:
        vocoder=recon_vocoder,
        seed=lambda wildcards: recon_dataset(wildcards.dataset)["seed"],
    script:
        "../workflow/scripts/recon_references.py"


rule recon_subject_metrics:
    input:
        table=recon_path("{dataset}", "stimuli.tsv"),
        audio=recon_subject_path("{dataset}", "{subject}", "audio", "{part}.npz"),
        reference_audio=recon_path("{dataset}", "audio", "references.npz"),
        models=recon_model_files("clap", "panns", "vggish"),
    output:
        recon_subject_path("{dataset}", "{subject}", "metrics", "{part}.tsv"),
    log:
        "logs/recon/{dataset}/metrics_sub-{subject}_{part}.log",
    benchmark:
        "benchmarks/rules/recon/{dataset}/metrics_sub-{subject}_{part}.tsv"
    wildcard_constraints:
        part="|".join(RECON_PARTS),
    conda:
        "../envs/torch.yaml"
    threads: RECON_THREADS
    resources:
        **SLURM_SITE.gpu_resources(RECON_DEVICE),
        mem_mb=recon_mem_mb(8000),
        runtime=120,
    params:
        models=RECON_MODELS,
    script:
        "../workflow/scripts/recon_subject_metrics.py"


rule recon_metrics:
    input:
        metrics=recon_metrics_inputs,
        conditioning=recon_path("{dataset}", "ldm_conditioning.tsv"),
    output:
        metrics=recon_path("{dataset}", "metrics.tsv"),
        table=recon_path("{dataset}", "table_reconstruction.tsv"),
        table_markdown=recon_path("{dataset}", "table_reconstruction.md"),
        table_html=report(
            recon_path("{dataset}", "table_reconstruction.html"),
            caption="../report/recon_table.rst",
            category="Reconstruction",
            subcategory="{dataset}",
        ),
        conditional=recon_path("{dataset}", "table_conditional.tsv"),
        conditional_markdown=recon_path("{dataset}", "table_conditional.md"),
        conditional_html=report(
            recon_path("{dataset}", "table_conditional.html"),
            caption="../report/recon_conditional.rst",
            category="Reconstruction",
            subcategory="{dataset}",
        ),
        claims=report(
            recon_path("{dataset}", "claims.tsv"),
            caption="../report/recon_claims.rst",
            category="Reconstruction",
            subcategory="{dataset}",
        ),
    log:
        "logs/recon/{dataset}/metrics.log",
    conda:
        "../envs/analysis.yaml"
    params:
        p_gt=RECON_P_GT,
        study_p_gts=RECON_STUDY["p_gt"],
        study_prompts=RECON_STUDY["prompts"],
        source=lambda wildcards: recon_dataset(wildcards.dataset)["source"],
    script:
        "../workflow/scripts/recon_metrics.py"


rule recon_feature_decoding:
    input:
        unpack(recon_feature_inputs),
        clap=recon_path("{dataset}", "features/clap.npz"),
        audiomae=recon_path("{dataset}", "features/audiomae.npz"),
    output:
        table=report(
            recon_path("{dataset}", "feature_pcc.tsv"),
            caption="../report/recon_feature_pcc.rst",
            category="Reconstruction",
            subcategory="{dataset}",
        ),
        figure=report(
            recon_path("{dataset}", "figures/feature_pcc.png"),
            caption="../report/recon_feature_pcc.rst",
            category="Reconstruction",
            subcategory="{dataset}",
        ),
    log:
        "logs/recon/{dataset}/feature_decoding.log",
    conda:
        "../envs/analysis.yaml"
    params:
        subjects=lambda wildcards: recon_dataset(wildcards.dataset)["subjects"],
    script:
        "../workflow/scripts/recon_feature_decoding.py"


rule recon_semantic_analysis:
    input:
        unpack(recon_feature_inputs),
        table=recon_path("{dataset}", "stimuli.tsv"),
        clap=recon_path("{dataset}", "features/clap.npz"),
        audiomae=recon_path("{dataset}", "features/audiomae.npz"),
    output:
        accuracy=recon_path("{dataset}", "semantic_accuracy.tsv"),
        summary=report(
            recon_path("{dataset}", "semantic_summary.tsv"),
            caption="../report/recon_semantic.rst",
            category="Reconstruction",
            subcategory="{dataset}",
        ),
        bars=report(
            recon_path("{dataset}", "figures/semantic_accuracy.png"),
            caption="../report/recon_semantic.rst",
            category="Reconstruction",
            subcategory="{dataset}",
        ),
        tsne=report(
            recon_path("{dataset}", "figures/semantic_tsne.png"),
            caption="../report/recon_tsne.rst",
            category="Reconstruction",
            subcategory="{dataset}",
        ),
    log:
        "logs/recon/{dataset}/semantic_analysis.log",
    conda:
        "../envs/analysis.yaml"
    params:
        subjects=lambda wildcards: recon_dataset(wildcards.dataset)["subjects"],
        seed=RECON["seed"],
    script:
        "../workflow/scripts/recon_semantic_analysis.py"


rule recon_mel_panels:
    input:
        table=recon_path("{dataset}", "stimuli.tsv"),
        audio=recon_subject_path(
            "{dataset}", "{subject}", "audio", "reconstructions.npz"
        ),
        vocoder=recon_model_files("vocoder"),
    output:
        report(
            recon_path("{dataset}", "figures/mel_panels_sub-{subject}.png"),
            caption="../report/recon_mel_panels.rst",
            category="Reconstruction",
            subcategory="{dataset}",
        ),
    log:
        "logs/recon/{dataset}/mel_panels_sub-{subject}.log",
    conda:
        "../envs/torch.yaml"
    params:
        vocoder=recon_vocoder,
    script:
        "../workflow/scripts/recon_mel_panels.py"


rule recon_audio_page:
    input:
        table=recon_path("{dataset}", "stimuli.tsv"),
        reconstructions=lambda wildcards: recon_subject_paths(
            wildcards.dataset, "audio", "reconstructions.npz"
        ),
        conditional=lambda wildcards: [
            recon_subject_path(wildcards.dataset, subject, "audio", "conditional.npz")
            for subject in recon_study_subjects(wildcards.dataset)
        ],
    output:
        report(
            recon_path("{dataset}", "audio.html"),
            caption="../report/recon_audio.rst",
            category="Reconstruction",
            subcategory="{dataset}",
        ),
    log:
        "logs/recon/{dataset}/audio_page.log",
    conda:
        "../envs/analysis.yaml"
    params:
        subjects=lambda wildcards: recon_dataset(wildcards.dataset)["subjects"],
        study_subjects=lambda wildcards: recon_study_subjects(wildcards.dataset),
        n_clips=10,
    script:
        "../workflow/scripts/recon_audio_page.py"


rule recon_learning_curves:
    input:
        metrics=lambda wildcards: [
            path for _, _, path in recon_training_metrics(wildcards.dataset)
        ],
    output:
        report(
            recon_path("{dataset}", "figures/learning_curves.png"),
            caption="../report/recon_learning_curves.rst",
            category="Reconstruction",
            subcategory="{dataset} learning curves",
        ),
    log:
        "logs/recon/{dataset}/learning_curves.log",
    conda:
        "../envs/analysis.yaml"
    params:
        panels=lambda wildcards: [
            panel for panel, _, _ in recon_training_metrics(wildcards.dataset)
        ],
        subjects=lambda wildcards: [
            subject for _, subject, _ in recon_training_metrics(wildcards.dataset)
        ],
    script:
        "../workflow/scripts/recon_learning_curves.py"
