# Coarse-to-fine audio reconstruction, part 2 (c2f-ldm paper, sections 2.2-2.3, 3.4): the latent
# diffusion model G fine-tuned per subject with D_aco (C2F-LDM for each P_gt, Fine-LDM), samples
# for the evaluation clips with and without text/audio prompts, and the check that G uses c.


rule recon_ldm_vae:
    input:
        table=recon_path("{dataset}", "stimuli.tsv"),
        mels=recon_path("{dataset}", "features/vocoder_mel.npz"),
    output:
        model=recon_path("{dataset}", "ldm", "vae.pt"),
        metrics=recon_path("{dataset}", "ldm", "vae_metrics.tsv"),
    log:
        "logs/recon/{dataset}/ldm_vae.log",
    benchmark:
        "benchmarks/rules/recon/{dataset}/ldm_vae.tsv"
    conda:
        "../envs/torch.yaml"
    threads: RECON_THREADS
    resources:
        **SLURM_SITE.gpu_resources(RECON_DEVICE),
        mem_mb=recon_mem_mb(32000),
        runtime=720,
    params:
        settings=recon_ldm_settings,
        seed=RECON["seed"],
        resume=lambda wildcards: recon_path(wildcards.dataset, "resume", "vae.pt"),
        device=RECON_DEVICE,
    script:
        "../workflow/scripts/recon_ldm_vae.py"


# Pre-flight, before any fine-tuning job: the pretrained VAE must reconstruct the training mels
# (mean mel PCC >= recon.ldm.vae_min_pcc), so that G learns in a latent space that fits them.
rule recon_vae_check:
    input:
        table=recon_path("{dataset}", "stimuli.tsv"),
        mels=recon_path("{dataset}", "features/vocoder_mel.npz"),
        vae=recon_vae_input,
    output:
        recon_path("{dataset}", "ldm", "vae_check.tsv"),
    log:
        "logs/recon/{dataset}/vae_check.log",
    benchmark:
        "benchmarks/rules/recon/{dataset}/vae_check.tsv"
    conda:
        "../envs/torch.yaml"
    threads: RECON_THREADS
    resources:
        **SLURM_SITE.gpu_resources(RECON_DEVICE),
        mem_mb=recon_mem_mb(16000),
        runtime=60,
    params:
        settings=recon_ldm_settings,
        vae_key=recon_vae_key,
        device=RECON_DEVICE,
    script:
        "../workflow/scripts/recon_vae_check.py"


rule recon_ldm_pretrain:
    input:
        table=recon_path("{dataset}", "stimuli.tsv"),
        audiomae=recon_path("{dataset}", "features/audiomae.npz"),
        mels=recon_path("{dataset}", "features/vocoder_mel.npz"),
        vae=recon_vae_input,
    output:
        model=recon_path("{dataset}", "ldm", "pretrained.pt"),
        metrics=recon_path("{dataset}", "ldm", "pretrained_metrics.tsv"),
    log:
        "logs/recon/{dataset}/ldm_pretrain.log",
    benchmark:
        "benchmarks/rules/recon/{dataset}/ldm_pretrain.tsv"
    conda:
        "../envs/torch.yaml"
    threads: RECON_THREADS
    resources:
        **SLURM_SITE.gpu_resources(RECON_DEVICE),
        mem_mb=recon_mem_mb(64000),
        runtime=1440,
    params:
        settings=recon_ldm_settings,
        seed=RECON["seed"],
        resume=lambda wildcards: recon_path(
            wildcards.dataset, "resume", "pretrained.pt"
        ),
        device=RECON_DEVICE,
    script:
        "../workflow/scripts/recon_ldm_pretrain.py"


rule recon_text_prompts:
    input:
        model=recon_model_files("clap"),
    output:
        recon_path("{dataset}", "features/clap_text.npz"),
    log:
        "logs/recon/{dataset}/text_prompts.log",
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=recon_mem_mb(8000),
        runtime=20,
    params:
        text_prompts=lambda wildcards: recon_dataset(wildcards.dataset)["text_prompts"],
        clap=lambda wildcards: RECON_MODELS["clap"],
    script:
        "../workflow/scripts/recon_text_prompts.py"


rule recon_ldm:
    input:
        unpack(recon_unet_input),
        unpack(recon_vae_check_input),
        fmri=recon_fmri_path("{dataset}", "{subject}"),
        semantic=recon_subject_path(
            "{dataset}", "{subject}", "decoders", "semantic.npz"
        ),
        clap=recon_path("{dataset}", "features/clap.npz"),
        audiomae=recon_path("{dataset}", "features/audiomae.npz"),
        mels=recon_path("{dataset}", "features/vocoder_mel.npz"),
        acoustic=lambda wildcards: recon_subject_path(
            wildcards.dataset,
            wildcards.subject,
            "decoders",
            f"acoustic-{recon_acoustic_variant(wildcards.model)}.pt",
        ),
        vae=recon_vae_input,
        checkpoint=recon_model_files("audiomae"),
    output:
        model=recon_subject_path("{dataset}", "{subject}", "decoders", "ldm-{model}.pt"),
        acoustic=recon_subject_path(
            "{dataset}", "{subject}", "decoders", "ldm-{model}_acoustic.pt"
        ),
        metrics=recon_subject_path(
            "{dataset}", "{subject}", "decoders", "ldm-{model}_metrics.tsv"
        ),
    log:
        "logs/recon/{dataset}/ldm_sub-{subject}_{model}.log",
    benchmark:
        "benchmarks/rules/recon/{dataset}/ldm_sub-{subject}_{model}.tsv"
    wildcard_constraints:
        model="fine|c2f-pgt[0-9.]+",
    conda:
        "../envs/torch.yaml"
    threads: RECON_THREADS
    resources:
        **SLURM_SITE.gpu_resources(RECON_DEVICE),
        mem_mb=recon_mem_mb(64000),
        runtime=1440,
    params:
        settings=recon_ldm_settings,
        p_gt=lambda wildcards: recon_ldm_p_gt(wildcards.model),
        audiomae=RECON_MODELS.get("audiomae"),
        seed=RECON["seed"],
        resume=lambda wildcards: recon_resume_path(wildcards, f"ldm-{wildcards.model}"),
        device=RECON_DEVICE,
    script:
        "../workflow/scripts/recon_ldm.py"


rule recon_ldm_sample:
    input:
        unpack(recon_text_input),
        model=recon_subject_path("{dataset}", "{subject}", "decoders", "ldm-{model}.pt"),
        acoustic=recon_subject_path(
            "{dataset}", "{subject}", "decoders", "ldm-{model}_acoustic.pt"
        ),
        fmri=recon_fmri_path("{dataset}", "{subject}"),
        semantic=recon_subject_path(
            "{dataset}", "{subject}", "decoders", "semantic.npz"
        ),
        table=recon_path("{dataset}", "stimuli.tsv"),
        clap=recon_path("{dataset}", "features/clap.npz"),
        audiomae=recon_path("{dataset}", "features/audiomae.npz"),
        mels=recon_path("{dataset}", "features/vocoder_mel.npz"),
        checkpoint=recon_model_files("audiomae"),
    output:
        recon_subject_path("{dataset}", "{subject}", "predictions", "ldm-{model}.npz"),
    log:
        "logs/recon/{dataset}/ldm_sample_sub-{subject}_{model}.log",
    benchmark:
        "benchmarks/rules/recon/{dataset}/ldm_sample_sub-{subject}_{model}.tsv"
    wildcard_constraints:
        model="fine|c2f-pgt[0-9.]+",
    conda:
        "../envs/torch.yaml"
    threads: RECON_THREADS
    resources:
        **SLURM_SITE.gpu_resources(RECON_DEVICE),
        mem_mb=recon_mem_mb(32000),
        runtime=480,
    params:
        audiomae=RECON_MODELS.get("audiomae"),
        n_clips=recon_n_clips("reconstructions"),
        prompt_clips=recon_n_clips("conditional"),
        seed=RECON["seed"],
        device=RECON_DEVICE,
    script:
        "../workflow/scripts/recon_ldm_sample.py"


rule recon_ldm_conditioning:
    input:
        unpack(recon_conditioning_inputs),
        mels=recon_path("{dataset}", "features/vocoder_mel.npz"),
        table=recon_path("{dataset}", "stimuli.tsv"),
    output:
        report(
            recon_path("{dataset}", "ldm_conditioning.tsv"),
            caption="../report/recon_ldm_conditioning.rst",
            category="Reconstruction",
            subcategory="{dataset}",
        ),
    log:
        "logs/recon/{dataset}/ldm_conditioning.log",
    conda:
        "../envs/analysis.yaml"
    params:
        samples=lambda wildcards: list(recon_conditioning_inputs(wildcards)),
    script:
        "../workflow/scripts/recon_ldm_conditioning.py"
