# Brain scores (section 2.6): per subject and network, every cumulative level L0..L5 and every
# layer alone, 12 leave-one-block-out folds, ridge with per-voxel alpha, Pearson r. One job scores
# every seed of a network type (one file per seed): the seeds share the job's start, its imports
# and the L0 (mel) scores, which do not depend on the network.


rule brain_scores:
    input:
        bold=clean_bold_path("{subject}"),
        events=events_path("{subject}"),
        mel="results/features/stimuli_mel.npz",
        activations=expand(activations_path("{{network}}", "{seed}"), seed=SEEDS),
    output:
        scores=expand(
            brainscore_path("{{subject}}", "{{network}}", "{seed}"), seed=SEEDS
        ),
        sidecars=sidecars(
            expand(brainscore_path("{{subject}}", "{{network}}", "{seed}"), seed=SEEDS)
        ),
    log:
        "logs/brain_scores/sub-{subject}_net-{network}.log",
    benchmark:
        "benchmarks/rules/brain_scores/sub-{subject}_net-{network}.tsv"
    group:
        "brainscores"
    conda:
        # the torch ridge back end needs torch; the numpy one runs in the light env
        (
            "../envs/torch.yaml"
            if config["ridge"]["backend"] == "torch"
            else "../envs/analysis.yaml"
        )
    threads: config["ridge"]["threads"]
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        tr_s=DATASET["tr_s"],
        trial_type=DATASET["trial_type"],
        alphas=RIDGE_ALPHAS,
        n_splits=config["ridge"]["n_splits"],
        backend=config["ridge"]["backend"],
        dtype=config["ridge"]["dtype"],
        targets_batch_size=config["ridge"]["targets_batch_size"],
    script:
        "../workflow/scripts/brain_scores.py"
