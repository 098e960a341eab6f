"""The helpers a data set loader is written with; ferbench's own loaders use exactly these.

A loader is ``load(root, **options) -> Dataset``, registered in a :class:`~ferbench.specs.DatasetSpec`
by the ``ferbench_datasets`` hook (see ``ferbench/hookspecs.py``). ``root`` is the folder given
with ``--data-dir NAME=PATH``; ``--dataset-option NAME.KEY=VALUE`` becomes a keyword argument.
Take ``strict`` (``--strict`` passes it to every loader that accepts it) and ``verify``, and
pass both on as below. A loader that follows these steps gets ferbench's decoding, caching,
conversions, face crops and skip reports for free::

    from pathlib import Path

    import numpy as np

    from ferbench.data import Dataset
    from ferbench.loading import LoadReport, build_dataset, folder_tree

    def load(root: Path, strict: bool = False, verify: bool = False) -> Dataset:
        root = Path(root)
        report = LoadReport("my-faces", strict)
        classes, files, labels = folder_tree(root, "my-faces", report)  # <class>/<image> tree
        subjects = [path.stem.split("_")[0] for path in files]  # S01_0001.png -> S01
        return build_dataset("my-faces", classes, files, root,
                             {"labels": np.array(labels), "subjects": subjects},
                             channels=1, size=(48, 48), report=report, verify=verify)

1. **Report.** Make one :class:`LoadReport` per load. Every helper counts in it what it skipped,
   converted or resized; call ``report.skip(reason, item, fix)`` for what your own code rejects
   (a bad label line: ``"labels.txt, line 12"``), ``report.drop(reason, count)`` for samples a
   labelling rule leaves out, and ``report.note(text)`` for anything else worth a line. With
   ``strict`` a skip is a :class:`~ferbench.errors.UserError` naming the item and the fix.
2. **Files.** :func:`require_dir` checks a folder with a message saying what belongs there.
   :func:`folder_tree` reads a ``<class>/<image>`` tree into (classes, files, labels), mapping
   folder names to canonical classes through common aliases (happy, angry, sad, ...) or a
   ``classes={"folder": "anger"}`` option (its ``mapping``); :func:`class_folders` does the
   mapping alone and :func:`image_files` lists one folder's images (other files are skips).
3. **Options.** :func:`parse_size` reads an ``image_size`` option (an int or (H, W)) and
   :func:`check_channels` a ``channels`` option (1 or 3), each with an error naming the option.
4. **Faces.** :func:`face_crop` validates ``face_crop``/``face_margin``/``face_align``/``no_face``
   options into a :class:`FaceCrop` (None for ``"none"``); pass it, and for ``"landmarks"`` each
   file's points from :func:`read_landmarks` (None where a file has none; a bad file raises
   :class:`LandmarksError`, make it a skip), to :func:`build_dataset`.
5. **Decode.** :func:`build_dataset` decodes every file once into the decoded-image cache,
   converts it to ``channels`` and ``size`` (None: the most common size), crops faces, and
   returns the :class:`~ferbench.data.Dataset` with one entry of each column (``labels``,
   ``subjects``, ``sequences``, ``frames``, ``split``, ...) per kept file, paths relative to
   ``root`` and the report as its ``notes``. :func:`load_images` returns the arrays alone.
6. **Other sources.** Pixels that are not image files (a CSV of values) can be cached too:
   :mod:`cache` keys an entry by the source files and options (``cache.cache_key``), and
   ``cache.lookup`` / ``cache.store`` read and write it; ``cache.content_digests`` gives the
   per-file digests that ``verify`` compares.

Errors the user can fix are :class:`~ferbench.errors.UserError`: say what was expected, where,
and how to fix it (``Check --data-dir NAME=PATH``). ``ferbench new dataset NAME`` writes a
plugin package whose loader starts from this example.
"""

from ferbench.loading import cache
from ferbench.loading.faces import FaceCrop, LandmarksError, face_crop, read_landmarks
from ferbench.loading.folders import class_folders, folder_tree, image_files, require_dir
from ferbench.loading.images import build_dataset, check_channels, load_images, parse_size
from ferbench.loading.report import LoadReport

__all__ = [
    "FaceCrop", "LandmarksError", "LoadReport", "build_dataset", "cache", "check_channels",
    "class_folders", "face_crop", "folder_tree", "image_files", "load_images", "parse_size",
    "read_landmarks", "require_dir",
]
