"""Manifests from tiny SWC, OpenSLR 53, FSDKaggle2019 and demo trees in their real layouts."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiobrain.audio import load_audio, load_segment, power_spectrogram
from audiobrain.brainscores import corpora, text
from audiobrain.demo import corpora as demo_corpora
from audiobrain.io import InputError

FAKE_SR_HZ = 1000  # tiny files: only durations and layouts matter for manifests


def write_audio(path: Path, duration_s: float, sr_hz: int = FAKE_SR_HZ, fmt: str | None = None):
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = np.random.default_rng(len(str(path))).uniform(-0.1, 0.1, round(duration_s * sr_hz))
    subtype = "VORBIS" if fmt == "OGG" else None
    sf.write(path, samples, sr_hz, format=fmt, subtype=subtype)


# --------------------------------------------------------------------------------------------
# Spoken Wikipedia Corpora


def word(pronunciation: str, start_ms: int | None, end_ms: int | None, token: str = "") -> str:
    times = "" if start_ms is None else f' start="{start_ms}" end="{end_ms}"'
    phones = "" if start_ms is None else f'<ph type="x" start="{start_ms}" end="{end_ms}"/>'
    return f'<t>{token or pronunciation}<n pronunciation="{pronunciation}"{times}>{phones}</n></t>'


def sentence(*tokens: str) -> str:
    return "<s>" + " ".join(tokens) + "<t>.</t></s>"


def write_swc(folder: Path, reader: str | None, body: str) -> None:
    """An aligned.swc with the corpus's structure: meta props, extra, sections, paragraphs."""
    folder.mkdir(parents=True, exist_ok=True)
    props = '<prop key="DC.title" value="Test"/>'
    if reader:
        props += f'<prop key="reader.name" value="{reader}"/>'
    (folder / "aligned.swc").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<article><meta>{props}<links/></meta><d>{body}</d></article>\n",
        encoding="utf-8",
    )


def spoken_sentences(rng: np.random.Generator, n: int) -> tuple[str, float]:
    """``n`` fully aligned sentences of 1-3 s one after another; their XML and the end time."""
    parts, clock = [], 500
    for _ in range(n):
        words = []
        for _ in range(int(rng.integers(3, 7))):
            length = int(rng.integers(200, 450))
            words.append(word("woord", clock, clock + length))
            clock += length
        parts.append(f"<p>{sentence(*words)}</p>")
        clock += 300
    return "".join(parts), clock / 1000


@pytest.fixture
def swc_article(tmp_path: Path) -> Path:
    """One Dutch article exercising every sentence case, read by "Anna"."""
    root = tmp_path / "dutch"
    article = root / "De_kat"
    body = (
        "<extra>" + sentence(word("dit", 100, 300), word("is", 300, 500)) + "</extra>"
        '<section level="1"><sectiontitle>' + word("kat", 600, 900, "Kat") + "</sectiontitle>"
        "<sectioncontent><p>"
        + sentence(
            word("de", 1000, 1300, "De"), word("kat", 1300, 1600), word("slaapt", 1600, 2100)
        )
        + sentence(
            word("in", 2500, 2900, "In"),
            '<t>1987<n pronunciation="negentienhonderd" start="3000" end="3500"/>'
            '<n pronunciation="zevenentachtig" start="3500" end="4000"/></t>',
        )
        + sentence(word("niet", 4100, 4300), word("uitgelijnd", None, None))
        + sentence(word("lang", 5000, 6000), word("verhaal", 6000, 26000))
        + sentence(
            word("parijs", 27000, 27500, "Parijs"),
            "<ignored><t>(</t><t>uitspraak<n pronunciation=\"uitspraak\"/></t><t>)</t></ignored>",
            word("is", 27600, 27800),
            word("mooi", 27800, 28200),
        )
        + "<s><t>...</t></s>"
        + "</p></sectioncontent></section>"
    )  # fmt: skip
    write_swc(article, "Anna", body)
    write_audio(article / "audio.ogg", 30.0, sr_hz=8000, fmt="OGG")
    return root


def test_swc_sentences_become_segments_of_fully_aligned_words(swc_article, tmp_path):
    output = tmp_path / "manifest.tsv"
    corpora.prepare_corpus("dutch", "swc", swc_article, output, split_fractions=(1, 0, 0))
    table = corpora.read_manifest(output)
    assert list(table.columns) == list(corpora.MANIFEST_COLUMNS)
    assert table["transcript"].tolist() == [
        "dit is",
        "de kat slaapt",
        "in negentienhonderd zevenentachtig",
        "parijs is mooi",
    ]
    assert table["start_s"].tolist() == [0.1, 1.0, 2.5, 27.0]
    assert table["duration_s"].tolist() == pytest.approx([0.4, 1.1, 1.5, 1.2])
    assert set(table["path"]) == {(swc_article / "De_kat" / "audio.ogg").as_posix()}
    assert set(table["group"]) == {"reader:Anna"}
    assert set(table["split"]) == {"train"}
    info = corpora.read_manifest_info(output)
    assert info["dropped"] == {"not_fully_aligned": 1, "too_long": 1}
    assert "sentence 5" in info["dropped_examples"]["too_long"][0]
    assert info["symbols"] == list(text.ALPHABETS["dutch"])
    assert info["counts"] == {"train": 4, "val": 0, "test": 0}
    # The manifest's segment reads back the right stretch of the recording.
    row = table.iloc[1]
    recording = load_audio(row["path"])
    first, n = round(row["start_s"] * 16_000), round(row["duration_s"] * 16_000)
    segment = load_segment(row["path"], row["start_s"], row["duration_s"])
    inner = slice(200, n - 200)  # away from the resampler's edge effects
    np.testing.assert_allclose(segment[inner], recording[first : first + n][inner], atol=0.02)


def test_swc_article_in_parts_maps_times_onto_each_part(tmp_path):
    root = tmp_path / "english"
    article = root / "Long_article"
    write_swc(
        article,
        None,
        sentence(word("first", 1000, 2000))
        + sentence(word("across", 9500, 10500))
        + sentence(word("second", 12000, 13000)),
    )
    write_audio(article / "audio1.wav", 10.0)
    write_audio(article / "audio2.wav", 10.0)
    output = tmp_path / "manifest.tsv"
    corpora.prepare_corpus("english", "swc", root, output, split_fractions=(1, 0, 0))
    table = corpora.read_manifest(output)
    assert [Path(path).name for path in table["path"]] == ["audio1.wav", "audio2.wav"]
    assert table["start_s"].tolist() == [1.0, 2.0]
    assert set(table["group"]) == {"article:Long_article"}  # no reader named: the article
    assert corpora.read_manifest_info(output)["dropped"] == {"outside_one_audio_file": 1}


@pytest.fixture
def swc_corpus(tmp_path: Path) -> Path:
    """40 articles by 20 readers (two each), 4-6 sentences of 1-3 s per article."""
    rng = np.random.default_rng(5)
    root = tmp_path / "swc"
    for index in range(40):
        body, end_s = spoken_sentences(rng, int(rng.integers(4, 7)))
        article = root / f"Article_{index:02d}"
        write_swc(article, f"Reader {index % 20}", body)
        write_audio(article / "audio.wav", end_s + 1)
    return root


def test_swc_splits_are_leak_free_by_reader_with_the_paper_fractions(swc_corpus, tmp_path):
    output = tmp_path / "manifest.tsv"
    corpora.prepare_corpus("dutch", "swc", swc_corpus, output, seed=3)
    table = corpora.read_manifest(output)
    assert table.groupby("group")["split"].nunique().max() == 1
    assert table["group"].nunique() == 20
    hours = table.groupby("split")["duration_s"].sum() / table["duration_s"].sum()
    largest_group = table.groupby("group")["duration_s"].sum().max() / table["duration_s"].sum()
    for split, fraction in zip(corpora.SPLITS, corpora.PAPER_SPLIT_FRACTIONS, strict=True):
        assert abs(hours[split] - fraction) <= largest_group, split
    info = corpora.read_manifest_info(output)
    assert info["counts"] == table["split"].value_counts().to_dict()
    assert info["hours"]["train"] == pytest.approx(
        table.loc[table["split"] == "train", "duration_s"].sum() / 3600, abs=1e-6
    )
    # Same inputs, same bytes; another seed, other splits.
    again = tmp_path / "again.tsv"
    corpora.prepare_corpus("dutch", "swc", swc_corpus, again, seed=3)
    assert again.read_bytes() == output.read_bytes()
    assert Path(f"{again}.json").read_text() == Path(f"{output}.json").read_text()
    other = tmp_path / "other.tsv"
    corpora.prepare_corpus("dutch", "swc", swc_corpus, other, seed=4)
    assert corpora.read_manifest(other)["split"].tolist() != table["split"].tolist()


def test_subsampling_keeps_a_seeded_subset_of_the_asked_duration(swc_corpus, tmp_path):
    full, half = tmp_path / "full.tsv", tmp_path / "half.tsv"
    corpora.prepare_corpus("dutch", "swc", swc_corpus, full)
    total_s = corpora.read_manifest(full)["duration_s"].sum()
    target_h = total_s / 2 / 3600
    corpora.prepare_corpus("dutch", "swc", swc_corpus, half, total_duration_h=target_h)
    subset = corpora.read_manifest(half)
    longest = corpora.read_manifest(full)["duration_s"].max()
    assert target_h * 3600 - longest <= subset["duration_s"].sum() <= target_h * 3600
    info = corpora.read_manifest_info(half)
    assert info["dropped"]["subsampled_out"] == len(corpora.read_manifest(full)) - len(subset)
    assert info["total"]["hours_before_subsampling"] == pytest.approx(total_s / 3600, abs=1e-6)


def test_max_duration_drops_longer_segments(swc_corpus, tmp_path):
    output = tmp_path / "short.tsv"
    corpora.prepare_corpus("dutch", "swc", swc_corpus, output, max_duration_s=1.5)
    assert corpora.read_manifest(output)["duration_s"].max() <= 1.5
    assert corpora.read_manifest_info(output)["dropped"]["too_long"] > 0


def test_unknown_characters_in_a_corpus_are_reported_with_their_sentences(tmp_path):
    root = tmp_path / "english"
    article = root / "Strasse"
    write_swc(
        article,
        "Bo",
        sentence(word("große", 0, 500), word("street", 500, 900))
        + sentence(word("fine", 1000, 1500)),
    )
    write_audio(article / "audio.wav", 3.0)
    output = tmp_path / "manifest.tsv"
    with pytest.raises(InputError) as error:
        corpora.prepare_corpus("english", "swc", root, output, split_fractions=(1, 0, 0))
    assert "'ß' (U+00DF" in str(error.value)
    assert "Strasse/aligned.swc sentence 1" in str(error.value)
    assert "corpora.english.unknown_characters" in str(error.value)
    assert not output.exists()
    corpora.prepare_corpus(
        "english", "swc", root, output, split_fractions=(1, 0, 0), unknown="map",
        mapping={"ß": "ss"},
    )  # fmt: skip
    assert corpora.read_manifest(output)["transcript"].tolist() == ["grosse street", "fine"]


def test_missing_corpus_is_an_error_naming_the_path_and_config_key(tmp_path):
    missing = tmp_path / "nowhere"
    for task, source in (("dutch", "swc"), ("bengali", "openslr53"), ("scenes", "fsdkaggle2019")):
        with pytest.raises(InputError, match=f"nowhere.*corpora.{task}.root"):
            corpora.prepare_corpus(task, source, missing, tmp_path / "m.tsv")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="utt_spk_text.tsv: file not found.*corpora.bengali.root"):
        corpora.prepare_corpus("bengali", "openslr53", empty, tmp_path / "m.tsv")
    with pytest.raises(InputError, match="no aligned.swc"):
        corpora.prepare_corpus("english", "swc", empty, tmp_path / "m.tsv")
    with pytest.raises(ValueError, match="holds \\['bengali'\\] data, not 'dutch'"):
        corpora.prepare_corpus("dutch", "openslr53", empty, tmp_path / "m.tsv")
    assert not (tmp_path / "m.tsv").exists()


def test_too_few_groups_for_the_splits_is_an_error():
    with pytest.raises(InputError, match="2 group.*'test'"):
        corpora.assign_splits(["a", "b"], [1.0, 1.0], (0.8, 0.1, 0.1), where="tiny")
    splits = corpora.assign_splits([f"g{i % 10}" for i in range(50)], [1.0] * 50)
    assert [splits.count(split) for split in corpora.SPLITS] == [40, 5, 5]


# --------------------------------------------------------------------------------------------
# OpenSLR 53


BENGALI = ("আমি ভাত খাই", "সে বই পড়ে", "আমরা গান শুনি", "তুমি চা খাও")


def test_openslr53_clips_are_romanised_and_grouped_by_speaker(tmp_path):
    root = tmp_path / "asr_bengali"
    rows = []
    for index in range(24):
        utterance = f"{index:02x}{index * 7919 % 4096:04x}"
        rows.append((utterance, f"spk{index % 12:02d}", BENGALI[index % len(BENGALI)]))
        if index == 5:
            continue  # its shard is not downloaded
        write_audio(
            root / "data" / utterance[:2] / f"{utterance}.flac", 25.0 if index == 6 else 2.0
        )
    root.mkdir(exist_ok=True)
    with (root / "utt_spk_text.tsv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter="\t").writerows(rows)
    output = tmp_path / "bengali.tsv"
    corpora.prepare_corpus("bengali", "openslr53", root, output)
    table = corpora.read_manifest(output)
    assert len(table) == 22
    first = rows[0][0]
    assert table["path"].iloc[0] == (root / "data" / first[:2] / f"{first}.flac").as_posix()
    assert table["transcript"].iloc[0] == "aami bhaat khaai"
    assert all(set(t) <= set(text.ALPHABETS["bengali"]) for t in table["transcript"])
    assert table["group"].iloc[0] == "speaker:spk00"
    assert table.groupby("group")["split"].nunique().max() == 1
    info = corpora.read_manifest_info(output)
    assert info["dropped"] == {"audio_missing": 1, "too_long": 1}
    assert info["romaniser"].startswith("uroman ")


def test_openslr53_malformed_line_is_an_error(tmp_path):
    root = tmp_path / "asr_bengali"
    root.mkdir()
    (root / "utt_spk_text.tsv").write_text("abc\tspk\tআমি\nbad line\n", encoding="utf-8")
    with pytest.raises(InputError, match="utt_spk_text.tsv line 2: expected 3 tab-separated"):
        corpora.prepare_corpus("bengali", "openslr53", root, tmp_path / "m.tsv")


# --------------------------------------------------------------------------------------------
# FSDKaggle2019


@pytest.fixture
def fsd_root(tmp_path: Path) -> Path:
    """30 single-label clips of 3 classes, 2 multi-label clips and one 25 s clip."""
    root = tmp_path / "fsd"
    lines = ["fname,labels"]
    for index in range(30):
        lines.append(f"{index:08x}.wav,{('Bark', 'Rain', 'Siren')[index % 3]}")
    lines += ['mmmm0001.wav,"Bark,Rain"', 'mmmm0002.wav,"Church_bell,Siren"', "long0001.wav,Bark"]
    for line in lines[1:]:
        name = line.split(",")[0]
        write_audio(root / "train_curated" / name, 25.0 if name.startswith("long") else 1.5)
    (root / "train_curated.csv").write_text("\n".join(lines) + "\n")
    return root


def test_fsdkaggle2019_drops_multilabel_clips_by_default(fsd_root, tmp_path):
    output = tmp_path / "scenes.tsv"
    corpora.prepare_corpus("scenes", "fsdkaggle2019", fsd_root, output)
    table = corpora.read_manifest(output)
    assert len(table) == 30
    assert set(table["transcript"]) == {"Bark", "Rain", "Siren"}
    assert table["path"].iloc[0] == (fsd_root / "train_curated" / "00000000.wav").as_posix()
    assert (table["start_s"] == 0).all() and (table["duration_s"] == 1.5).all()
    info = corpora.read_manifest_info(output)
    assert info["classes"] == ["Bark", "Church_bell", "Rain", "Siren"]  # sorted, all labels
    assert info["dropped"] == {"multilabel": 2, "too_long": 1}
    assert info["multilabel_clips"] == 2
    assert info["counts"] == {"train": 24, "val": 3, "test": 3}
    targets = [text.target_indices(label, "scenes", info["classes"]) for label in table.transcript]
    assert {tuple(target) for target in targets} == {(1,), (3,), (4,)}


def test_fsdkaggle2019_can_keep_one_row_per_label(fsd_root, tmp_path):
    output = tmp_path / "scenes.tsv"
    corpora.prepare_corpus("scenes", "fsdkaggle2019", fsd_root, output, multilabel="duplicate")
    table = corpora.read_manifest(output)
    both = table[table["path"].str.endswith("mmmm0001.wav")]
    assert both["transcript"].tolist() == ["Bark", "Rain"]
    assert both["split"].nunique() == 1 and both["group"].nunique() == 1
    assert len(table) == 34


# --------------------------------------------------------------------------------------------
# Demo corpora


@pytest.mark.parametrize("task", corpora.TASKS)
def test_demo_corpus_is_deterministic_and_prepares_into_a_valid_manifest(task, tmp_path):
    n_clips = 20
    first, second = tmp_path / "a" / task, tmp_path / "b" / task
    demo_corpora.generate_demo_corpus(task, first, n_clips=n_clips, seed=7)
    demo_corpora.generate_demo_corpus(task, second, n_clips=n_clips, seed=7)
    files = sorted(path.relative_to(first) for path in first.rglob("*") if path.is_file())
    assert len(files) == n_clips + 1
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    output = tmp_path / f"{task}.tsv"
    corpora.prepare_corpus(task, "demo", first, output)
    table = corpora.read_manifest(output)
    info = corpora.read_manifest_info(output)
    assert len(table) == n_clips
    assert set(table["split"]) == set(corpora.SPLITS)
    assert table["duration_s"].between(0.5, 3.5).all()
    for path, duration_s in zip(table["path"], table["duration_s"], strict=True):
        details = sf.info(path)
        assert details.samplerate == 16_000 and details.channels == 1
        assert details.frames / 16_000 == pytest.approx(duration_s, abs=1e-6)
    if task == "scenes":
        assert info["classes"] == sorted(demo_corpora.DEMO_SCENE_CLASSES)
        assert len(info["classes"]) >= 8
        assert set(table["transcript"]) == set(demo_corpora.DEMO_SCENE_CLASSES)
    else:
        assert all(text.encode(transcript, task) for transcript in table["transcript"])
        assert table["transcript"].str.split().str.len().between(3, 6).all()
        assert table["transcript"].nunique() == n_clips
        if task == "bengali":
            listing = (first / "clips.tsv").read_text(encoding="utf-8")
            assert "খ" in listing or "ভ" in listing  # the listing keeps Bengali script
            assert table["transcript"].map(str.isascii).all()


def test_demo_scene_classes_are_learnable_from_their_spectrograms():
    """A linear classifier on band energies and their changes tells the demo classes apart."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def features(clip):
        bands = np.log(power_spectrogram(clip).reshape(-1, 20, 8).mean(axis=2) + 1e-8)
        flux = np.abs(np.diff(bands, axis=0)).mean(axis=0)
        return np.concatenate([bands.mean(axis=0), bands.std(axis=0), flux])

    rng = np.random.default_rng(0)
    n_train, n_test = 10, 4
    labels = list(demo_corpora.DEMO_SCENE_CLASSES) * (n_train + n_test)
    clips = np.array([features(demo_corpora.synthesize_scene(label, rng)) for label in labels])
    split = n_train * len(demo_corpora.DEMO_SCENE_CLASSES)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(clips[:split], labels[:split])
    chance = 1 / len(demo_corpora.DEMO_SCENE_CLASSES)
    assert model.score(clips[split:], labels[split:]) >= 0.85 > 3 * chance
