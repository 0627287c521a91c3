"""The web page: a song or a spectrogram image (uploaded, or from the examples row) in; the top genre, the
probability bars, the genre through the song, the model's view of it and predict.py's JSON record out.

Errors are shown on the page as one line naming the file, and the page keeps serving.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import gradio as gr

from genre_lightning.app.charts import probability_bars, timeline_chart, window_sheet
from genre_lightning.app.classify import Answer, FileClassifier
from genre_lightning.constants import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS
from genre_lightning.errors import UserError, one_line
from genre_lightning.predict.report import clock, to_records, top_k

TITLE = "genre-lightning"


def formats(extensions: tuple[str, ...]) -> str:
    return ", ".join(ext.lstrip(".") for ext in extensions)


def introduction(classifier: FileClassifier) -> str:
    ensemble, rendering = classifier.ensemble, classifier.rendering
    count = len(ensemble.checkpoints)
    models = "one checkpoint" if count == 1 else f"{count} fold checkpoints, averaged"
    window = "whole songs" if rendering.window_seconds is None else f"{rendering.window_seconds:g} s windows"
    return (
        f"# {TITLE}\n"
        f"Drop in a song ({formats(AUDIO_EXTENSIONS)}, up to {classifier.max_seconds:g} s) or a spectrogram "
        f"image ({formats(IMAGE_EXTENSIONS)}). The model ({models}; {len(ensemble.class_names)} genres) "
        f"hears songs in {window}; a song's answer is the {classifier.aggregate} of its windows'."
    )


def headline(answer: Answer, classifier: FileClassifier) -> str:
    """The top genre, and what the answer was made from."""
    p = answer.prediction
    [(genre, probability)] = top_k(p, classifier.ensemble.class_names, 1)
    if p.spans is None:
        made_of = "a spectrogram image: one picture, so no timeline"
    else:
        windows = "one window" if p.windows == 1 else f"{p.windows} windows"
        made_of = f"{windows} over {clock(p.spans[-1][1])} of audio, combined by their {classifier.aggregate}"
    return f"## {genre} · {probability:.1%}\n{made_of}"


def show(answer: Answer, classifier: FileClassifier) -> tuple:
    """The outputs, in the order of the page's: headline, bars, timeline, model's view, JSON record."""
    p, names = answer.prediction, classifier.ensemble.class_names
    timeline = (
        gr.Plot(visible=False)
        if p.spans is None
        else gr.Plot(timeline_chart(names, p.spans, p.window_probabilities), visible=True)
    )
    [record] = to_records([p], names, len(names), per_window=True)
    record["file"] = Path(p.file).name  # uploads sit in a temporary folder; show the name the user knows
    return (
        headline(answer, classifier),
        probability_bars(names, p.probabilities),
        timeline,
        window_sheet(answer.images, p.spans),
        record,
    )


def blank() -> tuple:
    """Empty outputs: while a new file is read (no answer of the last file stays beside an error), or with
    no file."""
    return "", None, gr.Plot(visible=False), None, None


def build_page(classifier: FileClassifier, examples: list[Path]) -> gr.Blocks:
    """The page; its API endpoint `/classify` takes a file and returns the five outputs of ``show``."""

    def classify(file: str | None) -> tuple:
        if file is None:  # the input was cleared
            return blank()
        path = Path(file)
        try:
            return show(classifier.classify(path), classifier)
        except UserError as err:
            message = one_line(err).replace(str(path), path.name)
            print(f"error: {message}", file=sys.stderr)
            raise gr.Error(message, duration=None, print_exception=False) from None

    with gr.Blocks(title=TITLE, analytics_enabled=False) as page:
        gr.Markdown(introduction(classifier))
        with gr.Row():
            with gr.Column(scale=2):
                file = gr.File(label="Song or spectrogram image", type="filepath")
                if examples:
                    gr.Examples(
                        [[str(path)] for path in examples],
                        inputs=file,
                        label="Examples: songs and spectrograms from the demo synthesiser",
                        example_labels=[path.name for path in examples],
                    )
            with gr.Column(scale=3):
                top = gr.Markdown(elem_id="top-genre")
                bars = gr.Plot(label="Genre probabilities", format="png")
        timeline = gr.Plot(label="Genre through the song", format="png", visible=False)
        # a heading rather than the image's own label, which would cover the first windows
        gr.Markdown("The spectrogram as the model sees it: each window, resized and cropped as in training")
        view = gr.Image(show_label=False, format="png", interactive=False)
        with gr.Accordion("The answer as predict.py writes it (per_window=true)", open=False):
            record = gr.JSON()
        outputs = [top, bars, timeline, view, record]
        file.change(blank, None, outputs, queue=False, api_visibility="private").then(
            classify, file, outputs, api_name="classify"
        )
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
