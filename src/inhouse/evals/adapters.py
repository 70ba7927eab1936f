"""Reading task data files and turning their records into documents.

A *format* reads a file into raw records (in file order, so `--limit N` means the first N items). An
*adapter* maps one raw record to a document: a dict with the fields the task's templates use, plus
`choices` (list of strings) and `gold` (index, or for TruthfulQA MC2 the per-choice labels). The
adapters reproduce lm-evaluation-harness's document processing for the same benchmarks, so a prompt
built here is the prompt lm-eval builds.
"""

from __future__ import annotations

import bz2
import csv
import glob
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from inhouse.errors import InputError, NotFoundError


class MissingDataError(NotFoundError, InputError):
    """A task's data file is not where the data directory says it should be."""

Doc = dict[str, Any]


def data_dir() -> Path:
    """$INHOUSE_EVAL_DATA, else the `../shared/data` layout beside the repository (or the cwd)."""
    env = os.environ.get("INHOUSE_EVAL_DATA")
    if env:
        return Path(env).expanduser().resolve()
    repo = Path(__file__).resolve().parents[3]
    for cand in (repo.parent / "shared" / "data", Path.cwd().parent / "shared" / "data", Path.cwd() / "data"):
        if cand.is_dir():
            return cand
    return repo.parent / "shared" / "data"


def data_path(relative: str, base: Path | None = None) -> Path:
    return (base or data_dir()) / relative


def _jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise InputError(f"{path} line {n}: not valid JSON ({e.msg}); fix or replace the file.") from e


def _json(path: Path) -> Iterator[dict]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e.msg}); fix or replace the file.") from e
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of records.")
    yield from data


def _json_glob(pattern: Path) -> Iterator[dict]:
    """Several JSON list files (e.g. one per subject), in sorted name order; adds `_source` (file stem)."""
    for name in sorted(glob.glob(str(pattern))):
        for rec in _json(Path(name)):
            yield {**rec, "_source": Path(name).stem}


def _tsv(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8", newline="") as f:
        yield from csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)


def _hellaswag_txt(path: Path) -> Iterator[dict]:
    """HellaSwag validation as text, 6 lines an item: context, gold index, four endings (bz2 or plain)."""
    opener = bz2.open if path.suffix == ".bz2" else open
    with opener(path, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) % 6:
        raise InputError(f"{path}: {len(lines)} lines is not a multiple of 6 (context, label, 4 endings).")
    for i in range(0, len(lines), 6):
        yield {"ctx": lines[i], "label": int(lines[i + 1]), "endings": lines[i + 2:i + 6]}


FORMATS: dict[str, Callable[[Path], Iterator[dict]]] = {
    "jsonl": _jsonl, "json": _json, "json_glob": _json_glob, "tsv": _tsv, "hellaswag_txt": _hellaswag_txt,
}


def read_records(relative: str, fmt: str, base: Path | None = None) -> list[dict]:
    path = data_path(relative, base)
    if fmt == "json_glob":
        if not glob.glob(str(path)):
            raise MissingDataError(_missing(path))
    elif not path.is_file():
        raise MissingDataError(_missing(path))
    return list(FORMATS[fmt](path))


def _missing(path: Path) -> str:
    return (f"evaluation data {path} not found; put the data set there or point INHOUSE_EVAL_DATA at a "
            "directory with the ../shared/data layout (see docs/eval.md).")


# ---- adapters: raw record -> document ------------------------------------------------------------


def _identity(rec: dict) -> Doc:
    return dict(rec)


def _hellaswag_pre(text: str) -> str:
    # lm-eval's hellaswag preprocess: WikiHow artefacts out, double spaces collapsed.
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def _hellaswag(rec: dict) -> Doc:
    return {"query": _hellaswag_pre(rec["ctx"]), "choices": [_hellaswag_pre(e) for e in rec["endings"]],
            "gold": int(rec["label"])}


def _truthfulqa_mc1(rec: dict) -> Doc:
    targets = rec["mc1_targets"]
    return {"question": rec["question"], "choices": list(targets), "gold": 0, "labels": list(targets.values())}


def _truthfulqa_mc2(rec: dict) -> Doc:
    targets = rec["mc2_targets"]
    return {"question": rec["question"], "choices": list(targets), "gold": list(targets.values()),
            "labels": list(targets.values())}


def _mmlu(rec: dict) -> Doc:
    # "The following are … about  subject.\n\n<question>\nA. …\nAnswer:": the header is kept apart so
    # few-shot examples repeat only the question block, as in lm-eval's MMLU.
    header, _, body = rec["input"].partition("\n\n")
    return {"description": header + "\n\n", "query": body, "choices": ["A", "B", "C", "D"],
            "gold": "ABCD".index(rec["output"].strip()), "subject": rec.get("subject", "")}


def _gsm8k(rec: dict) -> Doc:
    return {"question": rec["context"], "cot": rec["chain_of_thought"], "answer": str(rec["answer"]).strip()}


def _winogrande(rec: dict) -> Doc:
    return {"choices": list(rec["context_options"]), "continuation": rec["continuation"], "gold": int(rec["gold"])}


def _kobest_copa(rec: dict) -> Doc:
    connector = {"원인": " 왜냐하면", "결과": " 그래서"}[rec["question"].strip()]
    return {"premise": rec["sentence"], "connector": connector, "choices": [rec["1"], rec["2"]],
            "gold": int(rec["Answer"]) - 1}


def _kobest_boolq(rec: dict) -> Doc:
    return {"paragraph": rec["Text"], "question": rec["Question"], "choices": ["아니오", "예"],
            "gold": 1 if rec["Answer"].strip() == "True" else 0}


def _kobest_hellaswag(rec: dict) -> Doc:
    return {"query": f"문장: {rec['context']}", "choices": [rec[f"choice{i}"] for i in range(1, 5)],
            "gold": int(rec["label"])}


def _kobest_sentineg(rec: dict) -> Doc:
    return {"sentence": rec["Text"], "choices": ["부정", "긍정"], "gold": int(rec["Label"])}


def _kobest_wic(rec: dict) -> Doc:
    return {"word": rec["Target"], "context_1": rec["SENTENCE1"], "context_2": rec["SENTENCE2"],
            "choices": ["아니오", "예"], "gold": 1 if rec["ANSWER"].strip() == "True" else 0}


def _kmmlu(rec: dict) -> Doc:
    return {"question": rec["question"].strip(), "A": rec["A"], "B": rec["B"], "C": rec["C"], "D": rec["D"],
            "choices": ["A", "B", "C", "D"], "gold": int(rec["answer"]) - 1, "subject": rec.get("Category", "")}


def _haerae(rec: dict) -> Doc | None:
    # Subsets differ: most answer with a letter "(C)", some with the option text itself.
    answer = rec["answer"].strip()
    if re.fullmatch(r"\([A-J]\)", answer):
        found = set(re.findall(r"\(([A-J])\)", rec["query"])) | {answer[1]}
        letters = [f"({chr(c)})" for c in range(ord("A"), ord(max(found)) + 1)]
        return {"query": rec["query"], "choices": letters, "gold": letters.index(answer)}
    return None  # the denoising subsets are generation tasks with no options: not part of this MC task


def _ko_commongen(rec: dict) -> Doc:
    return {"concepts": rec["concept_set"].replace("#", ", "), "choices": [rec[str(i)] for i in range(1, 5)],
            "gold": int(rec["gold"]) - 1}


def _click(rec: dict) -> Doc:
    choices = list(rec["choices"])
    return {"paragraph": rec.get("paragraph", ""), "question": rec["question"], "choices": choices,
            "gold": choices.index(rec["answer"])}


def _kornli(rec: dict) -> Doc:
    label = {"entailment": 0, "neutral": 1, "contradiction": 2}[rec["gold_label"].strip()]
    return {"premise": rec["sentence1"], "hypothesis": rec["sentence2"], "choices": ["참", "중립", "거짓"],
            "gold": label}


ADAPTERS: dict[str, Callable[[dict], Doc | None]] = {
    "identity": _identity, "hellaswag": _hellaswag, "truthfulqa_mc1": _truthfulqa_mc1,
    "truthfulqa_mc2": _truthfulqa_mc2, "mmlu": _mmlu, "gsm8k": _gsm8k, "winogrande": _winogrande,
    "kobest_copa": _kobest_copa, "kobest_boolq": _kobest_boolq, "kobest_hellaswag": _kobest_hellaswag,
    "kobest_sentineg": _kobest_sentineg, "kobest_wic": _kobest_wic, "kmmlu": _kmmlu, "haerae": _haerae,
    "ko_commongen": _ko_commongen, "click": _click, "kornli": _kornli,
}


def adapt(records: list[dict], adapter: str, where: str) -> list[Doc]:
    fn = ADAPTERS[adapter]
    docs = []
    for i, rec in enumerate(records):
        try:
            doc = fn(rec)
        except (KeyError, ValueError, TypeError, SyntaxError) as e:
            raise InputError(f"{where}: record {i + 1} does not fit adapter '{adapter}' ({type(e).__name__}: {e}); "
                             "check the task's data file and adapter.") from e
        if doc is not None:  # an adapter returns None for records outside the task
            docs.append(doc)
    return docs
