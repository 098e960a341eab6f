"""Accuracies the seed paper's Table 2 quotes, by data set: reported, not re-run.

Munsarif & Ku-Mahamud (``../shared/PAPER.md``) compare their model with earlier ones on CK+,
RAF-DB and FERPlus. The table is transcribed as printed, with what disagrees with the paper's
own text or references in each row's note; it states no protocol for the earlier models.
"""

from __future__ import annotations

from ferbench.specs import PublishedResult

#: The paper's references of Table 2: number -> first author and year.
_REFERENCES = {9: "Ma et al. 2023", 11: "Li et al. 2019", 26: "Alam et al. 2022", 34: "Gera & Balasubramanian 2021",
               35: "Cai et al. 2021", 36: "Ruan et al. 2021", 37: "Aouayeb et al. 2021", 38: "Wang et al. 2020",
               39: "He et al. 2016", 40: "Lo et al. 2022", 41: "Xue et al. 2023", 42: "Zheng et al. 2023",
               43: "Mao et al. 2023", 44: "Barros & Sciutti 2022", 45: "Le Ngwe et al. 2024"}

_SWAPPED = "the paper's text gives RAF-DB 90.83 and FERPlus 90.91, its table the reverse"
_REPEATED = "the RAF-DB and FERPlus figures repeat CIAO's"

#: model, reference, (CK+, RAF-DB, FERPlus) in % (None: no figure), note.
_TABLE_2 = [
    ("VTFF", 9, (None, 88.14, 88.81), "RAF-DB printed as 881.4"),
    ("gACNN", 11, (96.40, None, None), ""),
    ("paCNN", 11, (97.03, None, None), ""),
    ("TransferFER", 26, (None, 90.91, 90.83), _SWAPPED),
    ("SCAN-CNN", 34, (97.31, 89.02, 89.42), ""),
    ("IFGAN", 35, (97.52, None, None), ""),
    ("FDRL", 36, (99.54, None, None), ""),
    ("ViT-SE", 37, (99.80, None, None), ""),
    ("RAN", 38, (None, 86.90, 89.16), ""),
    ("ARM", 39, (None, 90.42, None), "the paper's ref. [39] is He et al. 2016 (ResNet), not ARM"),
    ("Facial chirality", 40, (None, 91.20, None), ""),
    ("APViT", 41, (None, 91.98, 90.86), ""),
    ("POSTER", 42, (None, 92.05, 91.62), ""),
    ("POSTER++", 43, (None, 92.21, None), ""),
    ("CIAO", 44, (None, 95.05, 95.55), ""),
    ("Patt-Lite", 45, (100.0, 95.05, 95.55), _REPEATED),
    ("deep residual Bi-LSTM fusion", None, (100.0, 100.0, 99.96), ""),
]

_COLUMNS = {"ckplus": 0, "rafdb": 1, "ferplus": 2}


def seed_table_2(dataset: str) -> tuple[PublishedResult, ...]:
    """The rows of the seed paper's Table 2 with a figure for ``dataset`` (ckplus, rafdb or
    ferplus). The seed's own row has its protocol, 10-fold cross-validation over images."""
    out = []
    for model, reference, figures, note in _TABLE_2:
        figure = figures[_COLUMNS[dataset]]
        if figure is None:
            continue
        if reference is None:
            out.append(PublishedResult(figure / 100, "10-fold cross-validation over images",
                                       "Munsarif & Ku-Mahamud (the seed paper), Table 2", model, note))
        else:
            out.append(PublishedResult(figure / 100, "", f"{_REFERENCES[reference]}, as the seed paper's "
                                       f"Table 2 cites it (ref. [{reference}])", model, note))
    return tuple(out)
