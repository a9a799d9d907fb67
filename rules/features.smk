# Stimulus features (sections 2.3, 2.5, 2.6): the pool's spectrograms and mel filterbanks, then
# each network's layer activations normalised to [0, 1] across the pool.


rule stimulus_features:
    input:
        events=expand(events_path("{subject}"), subject=SUBJECTS),
        stimuli=stimuli_dir(),
    output:
        spectrogram="results/features/stimuli_spectrogram.npz",
        mel="results/features/stimuli_mel.npz",
        sidecars=sidecars(
            [
                "results/features/stimuli_spectrogram.npz",
                "results/features/stimuli_mel.npz",
            ]
        ),
    log:
        "logs/stimulus_features.log",
    benchmark:
        "benchmarks/rules/stimulus_features.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        sample_rate_hz=config["features"]["sample_rate_hz"],
        n_mels=config["features"]["n_mels"],
        trial_type=DATASET["trial_type"],
    script:
        "../workflow/scripts/stimulus_features.py"


rule activations:
    input:
        unpack(activation_inputs),
    output:
        activations=activations_path("{network}", "{seed}"),
        sidecar=sidecars([activations_path("{network}", "{seed}")]),
    log:
        "logs/activations/net-{network}_seed-{seed}.log",
    benchmark:
        "benchmarks/rules/activations/net-{network}_seed-{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        conv_channels=config["networks"]["conv_channels"],
        gru_hidden=config["networks"]["gru_hidden"],
        untrained_outputs=config["networks"]["untrained_outputs"],
    script:
        "../workflow/scripts/activations.py"
