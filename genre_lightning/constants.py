"""Names shared across layers: file extensions, eval.py's output files, dataset markers and ImageNet's
statistics.

A leaf module (it imports nothing of the package), so that any layer can name these files without
importing the layer that writes them.
"""

# spectrogram images the data layer reads and predict.py accepts
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
# songs that build_dataset.py and predict.py decode
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")

# in an eval.py output folder, beside its confusion matrix and per-genre scores (named as in a run folder:
# run_folder/layout.py): the scores of the fold ensemble and of each fold, and which genres and images they
# count; with explain=true, per genre, the mean band and segment shares of its score and where its map lies
EVAL_FILE = "eval.json"
EXPLAIN_FILE = "explain.json"

# in a dataset folder: how build_dataset.py rendered its images, and the songs it has finished
RENDERING_MARKER = "spectrogram.json"
RENDER_LOG = "rendered.jsonl"
# locked by the build_dataset.py writing into the folder
BUILD_LOCK = "build.lock"
# in the synthetic demo set: the generator's settings
DEMO_MARKER = "demo_dataset.json"

# the per-channel RGB mean and standard deviation (of [0, 1] pixels) that torchvision's ImageNet weights were
# trained to take
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
