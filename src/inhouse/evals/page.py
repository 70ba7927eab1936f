"""The leaderboard as a self-contained HTML page (served at /leaderboard by `inhouse serve`).

Rendered on the server from the evaluation database, with no script: one row per model, its Open LLM v1
style and Korean averages, and each task's primary score (± standard error, items, shots).
"""

from __future__ import annotations

from html import escape

from inhouse.evals.store import KOREAN, OPEN_LLM_V1, primary_score

_STYLE = """
body{font-family:"NanumGothic","Noto Sans KR",system-ui,sans-serif;margin:2rem;color:#1d2330}
h1{font-size:1.4rem;margin:0 0 .3rem} p.note{color:#5b6475;margin:.2rem 0 1rem;font-size:.9rem}
table{border-collapse:collapse;font-size:.88rem} th,td{border:1px solid #d6dbe4;padding:.35rem .55rem;text-align:right}
th{background:#f1f4f9;position:sticky;top:0} td.model,th.model{text-align:left;font-weight:600}
td.missing{color:#9aa3b2} small{color:#5b6475}
"""


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def render_board(rows: list[dict]) -> str:
    """HTML for `EvalStore.board()` rows (best Open LLM v1 average first)."""
    tasks = sorted({t for r in rows for t in r["tasks"]},
                   key=lambda t: (t not in OPEN_LLM_V1, t not in KOREAN, t))
    head = "".join(f"<th>{escape(t)}</th>" for t in tasks)
    body = []
    for r in rows:
        cells = []
        for t in tasks:
            task = r["tasks"].get(t)
            if task is None:
                cells.append('<td class="missing">–</td>')
                continue
            metric, m = primary_score(task)
            se = f" ± {100 * m['stderr']:.1f}" if m.get("stderr") is not None else ""
            shots = f", {task['shots']}-shot" if task.get("shots") is not None else ""
            cells.append(f'<td data-task="{escape(t)}">{_pct(m["value"])}{se}<br>'
                         f"<small>{escape(metric)}, n={task['n']}{shots}</small></td>")
        missing = ", ".join(r.get("open_llm_v1_missing") or [])
        adapted = f" + {escape(r['adapter_sha256'][:12])}" if r.get("adapter_sha256") else ""  # a LoRA adapter's
        body.append(
            f'<tr><td class="model">{escape(r["model"])}<br><small>{escape(r["quantisation"])} · '
            f'{escape(r["file_sha256"][:12])}{adapted} · {escape(r["date"][:10])}</small></td>'
            f'<td class="avg" title="{escape(missing)}">{_pct(r["open_llm_v1"])}</td>'
            f'<td class="avg">{_pct(r["korean"])}<br><small>{r["korean_n_tasks"]} tasks</small></td>'
            + "".join(cells) + "</tr>")
    if not body:
        table = ('<p id="empty">No scores yet · 아직 점수가 없습니다. Run '
                 "<code>inhouse eval run --model NAME --tasks arc_easy,kobest_copa</code>.</p>")
    else:
        table = (f'<table id="board"><thead><tr><th class="model">Model · 모델</th><th>Open LLM v1</th>'
                 f"<th>Korean · 한국어</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
    return (
        '<!doctype html><html lang="ko"><head><meta charset="utf-8"><title>InHouse leaderboard · 리더보드</title>'
        f"<style>{_STYLE}</style></head><body><h1>Leaderboard · 리더보드</h1>"
        '<p class="note">Scores in %, each model\'s latest run per task. Open LLM v1 = mean of ARC-Challenge '
        "25-shot acc_norm, HellaSwag 10-shot acc_norm, TruthfulQA mc2, MMLU 5-shot acc (blank until all four "
        "ran at those shots). Korean = mean of the KoBEST tasks run. · 점수는 %이며 과제별 최근 실행 결과입니다.</p>"
        f"{table}</body></html>"
    )
