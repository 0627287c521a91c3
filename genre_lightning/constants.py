"""Names shared across layers: file extensions, run-folder files, dataset markers and ImageNet's statistics.

A leaf module (it imports nothing of the package), so that any layer can name these files without
importing the layer that writes them.
"""

# spectrogram images the data layer reads and predict.py accepts
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
# songs that build_dataset.py and predict.py decode
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")

# in a run folder: who claimed it (locked while the run is running), the split every fold was drawn from,
# the images the scan found unreadable, the boxes the images were cut to (data.trim), each finished fold's
# result (fold_<k>/result.json) and the cross-validation summary (rewritten after every fold; "complete":
# true once the last has finished)
RUN_LOCK = "run.lock"
SPLIT_FILE = "split.json"
BAD_FILES = "bad_files.txt"
TRIM_FILE = "trim.txt"
FOLD_RESULT = "result.json"
SUMMARY_FILE = "cv_summary.json"
# beside the summary: the fold ensemble's test-set confusion matrix and per-genre scores; in each fold's
# folder, its calibrated test-set probabilities (the ensemble averages them)
CONFUSION_FILE = "confusion_matrix.png"
PER_GENRE_FILE = "per_genre.csv"
TEST_PROBABILITIES_FILE = "test_probabilities.pt"
# in an eval.py output folder, beside its confusion matrix and per-genre scores: the scores of the fold
# ensemble and of each fold, and which genres and images they count
EVAL_FILE = "eval.json"

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
