"""The web page: a song (with a player for what was sent) or a spectrogram image, uploaded or from the
examples rows, in; the top genre (and whether it is a near-tie), the genres ranked by probability, the genre
through the song, the model's view of it and predict.py's JSON record out.

A file that cannot be used gets one line naming it where the answer would be, and the next file's answer
replaces it; the API endpoint `/classify` raises it instead (gradio_client's AppError). The page keeps
serving.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import gradio as gr

from genre_lightning.app.charts import timeline_chart, window_sheet
from genre_lightning.app.classify import Answer, FileClassifier
from genre_lightning.app.uncertainty import Uncertainty
from genre_lightning.app.why import Why, why_panel
from genre_lightning.constants import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS
from genre_lightning.errors import UserError, one_line
from genre_lightning.predict.inference import Prediction
from genre_lightning.predict.report import clock, to_records, top_k
from genre_lightning.pretrained import DESCRIPTION, bundled_checkpoints

TITLE = "genre-lightning"
# probabilities on the page and through the API are rounded to this many decimals (0.1234: 12.34%); the
# digits beyond say nothing to a reader
DECIMALS = 4


def formats(extensions: tuple[str, ...]) -> str:
    return ", ".join(ext.lstrip(".") for ext in extensions)


def introduction(classifier: FileClassifier) -> str:
    ensemble, rendering = classifier.ensemble, classifier.rendering
    count = len(ensemble.checkpoints)
    models = "one checkpoint" if count == 1 else f"{count} checkpoints, averaged"
    if ensemble.checkpoints == bundled_checkpoints():
        models = f"{DESCRIPTION}, {models}"
    window = "whole songs" if rendering.window_seconds is None else f"{rendering.window_seconds:g} s windows"
    genres = ", ".join(ensemble.class_names)
    return (
        f"# {TITLE}\n"
        f"Drop in a song ({formats(AUDIO_EXTENSIONS)}, up to {classifier.max_seconds:g} s) or a spectrogram "
        f"image ({formats(IMAGE_EXTENSIONS)}). The model ({models}) knows {len(ensemble.class_names)} "
        f"genres: {genres}. It hears songs in {window}; a song's answer is the {classifier.aggregate} of its "
        "windows'."
    )


def headline(answer: Answer, classifier: FileClassifier, uncertainty: Uncertainty) -> str:
    """The top genre, the near-tie it is part of (if it is), and which file the answer was made from, how."""
    p = answer.prediction
    ranked = top_k(p, classifier.ensemble.class_names, 2)
    genre, probability = ranked[0]
    doubt = uncertainty.line(ranked)
    if p.spans is None:
        made_of = "a spectrogram image (one picture, so no timeline)"
    else:
        windows = "one window" if p.windows == 1 else f"{p.windows} windows"
        made_of = f"{windows} over {clock(p.spans[-1][1])} of audio, combined by their {classifier.aggregate}"
    # the file's name: the page has two inputs, and an example may have been picked
    made_of = f"{Path(p.file).name}: {made_of}"
    return f"## {genre} · {probability:.1%}\n" + (f"**{doubt}**\n\n" if doubt else "") + made_of


def rounded(prediction: Prediction) -> Prediction:
    """The prediction with its probabilities rounded to ``DECIMALS``, so that every part of the page
    (headline, ranking, uncertainty, JSON record) tells the same numbers."""

    def digits(values: list[float]) -> list[float]:
        return [round(q, DECIMALS) for q in values]

    windows = [digits(window) for window in prediction.window_probabilities]
    return replace(prediction, probabilities=digits(prediction.probabilities), window_probabilities=windows)


def show(answer: Answer, classifier: FileClassifier, uncertainty: Uncertainty) -> tuple:
    """The outputs, in the page's order: headline, genres ranked, timeline, model's view, JSON record."""
    answer = replace(answer, prediction=rounded(answer.prediction))
    p, names = answer.prediction, classifier.ensemble.class_names
    timeline = (
        gr.Plot(visible=False)
        if p.spans is None
        else gr.Plot(timeline_chart(names, p.spans, p.window_probabilities), visible=True)
    )
    [record] = to_records([p], names, len(names), per_window=True)
    record["file"] = Path(p.file).name  # uploads sit in a temporary folder; show the name the user knows
    return (
        headline(answer, classifier, uncertainty),
        record["probabilities"],  # gr.Label ranks them, highest first
        timeline,
        window_sheet(answer.images, p.spans),
        record,
    )


def blank() -> tuple:
    """Empty outputs: while a new file is read (no answer of the last file stays beside it), or with no
    file."""
    return "", None, gr.Plot(visible=False), None, None


def cannot_use(message: str) -> tuple:
    """The outputs for a file that cannot be used: its message where the answer would be."""
    return f"## Cannot use this file\n{message}", *blank()[1:]


def examples_row(paths: list[Path], target: gr.components.Component, label: str) -> None:
    """A row of example files (none: no row) that fill ``target`` when clicked."""
    if paths:
        names = [path.name for path in paths]
        gr.Examples([[str(path)] for path in paths], target, label=label, example_labels=names)


def build_page(
    classifier: FileClassifier, examples: list[Path], uncertainty: Uncertainty, why: Why | None = None
) -> gr.Blocks:
    """The page; its API endpoint `/classify` takes a file (a song or an image) and returns the five outputs
    of ``show``; with ``why``, the Why panel (and `/why`) below them."""

    def classify(file: str) -> tuple:
        """``show``'s outputs for the file; a UserError naming the file as the user knows it."""
        path = Path(file)
        try:
            return show(classifier.classify(path), classifier, uncertainty)
        except UserError as err:
            message = one_line(err).replace(str(path), path.name)
            print(f"error: {message}", file=sys.stderr)
            raise UserError(message) from None

    def api(file: str | None) -> tuple:
        """`/classify`: a file that cannot be used is an error for the caller (gradio_client's AppError)."""
        if file is None:
            return blank()
        try:
            return classify(file)
        except UserError as err:
            raise gr.Error(str(err), print_exception=False) from None

    def on_page(file: str | None) -> tuple:
        # an error in a toast would stay up beside the next answer; where the answer would be, it is replaced
        if file is None:  # emptied: see start
            return tuple(gr.skip() for _ in outputs)
        try:
            return classify(file)
        except UserError as err:
            return cannot_use(str(err))

    def start(file: str | None) -> tuple:
        """A new file: the other input emptied (one file at a time) and the outputs blank while it is read.
        An input emptied changes nothing here: by the user, its clear event blanks the outputs; by the other
        input's start, that file's answer is on its way."""
        if file is None:
            return tuple(gr.skip() for _ in range(1 + len(outputs)))
        return None, *blank()

    songs = [path for path in examples if classifier.kind(path) == "audio"]
    images = [path for path in examples if classifier.kind(path) == "image"]
    with gr.Blocks(title=TITLE, analytics_enabled=False) as page:
        gr.Markdown(introduction(classifier))
        with gr.Row():
            with gr.Column(scale=2):
                # format=None: the upload reaches classify as it was sent (Gradio neither decodes nor converts
                # it before classify's checks), and the player plays that file
                song = gr.Audio(
                    label="Song",
                    sources=["upload"],
                    type="filepath",
                    format=None,
                    editable=False,
                    elem_id="song",
                )
                examples_row(songs, song, "Example songs from the demo synthesiser")
                image = gr.File(label="Or a spectrogram image", type="filepath", elem_id="image")
                examples_row(images, image, "Example spectrograms")
            with gr.Column(scale=3):
                top = gr.Markdown(elem_id="top-genre")
                bars = gr.Label(label="Genre probabilities", show_heading=False, elem_id="genres")
        timeline = gr.Plot(label="Genre through the song", format="png", visible=False)
        # a heading rather than the image's own label, which would cover the first windows
        gr.Markdown("The spectrogram as the model sees it: each window, resized and cropped as in training")
        view = gr.Image(show_label=False, format="png", interactive=False)
        with gr.Accordion("The answer as predict.py writes it (per_window=true)", open=False):
            record = gr.JSON()
        if why is not None:
            why_panel(why, song, image)
        outputs = [top, bars, timeline, view, record]
        for source, other in ((song, image), (image, song)):
            source.change(start, source, [other, *outputs], queue=False, api_visibility="private").then(
                on_page, source, outputs, api_visibility="private"
            )
            source.clear(blank, None, outputs, queue=False, api_visibility="private")
        # the API's endpoint takes any file, song or image, on an input of its own that the page hides
        api_file = gr.File(visible=False)
        api_file.change(api, api_file, outputs, api_name="classify")
    return page


def launch(
    page: gr.Blocks,
    host: str = "127.0.0.1",
    port: int | None = 7860,
    share: bool = False,
    max_upload_mb: float = 100,
    allowed_paths: list[str | os.PathLike] = (),
    block: bool = True,
) -> str:
    """Serve the page (until interrupted when ``block``); returns its local URL."""
    try:
        _, url, share_url = page.launch(
            server_name=host,
            server_port=port,
            share=share,
            max_file_size=f"{max_upload_mb:g}mb",
            allowed_paths=[str(path) for path in allowed_paths],
            prevent_thread_lock=True,
            ssr_mode=False,
            # Gradio's own lines name its launch() arguments; ours below name the app's settings
            quiet=True,
        )
    except OSError:
        raise UserError(
            f"cannot serve on {host}:{port} (the port is taken, or the host is not this machine's); "
            "pass another port= (null: the first free one from 7860) or host="
        ) from None
    if block:
        print(f"serving on {url}" + (f" and {share_url}" if share_url else "") + " (Ctrl+C stops)")
        page.block_thread()
    return url
