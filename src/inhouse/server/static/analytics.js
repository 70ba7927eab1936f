// InHouse analytics: a question in words over the tenant's tables. The page shows the query the model wrote (and
// any it wrote first that were refused or found nothing), the result as a table and a chart, and the narrative:
// the sentences whose every number traced to the result, the suggestions, the documents they cite, and the
// sentences removed, with why.
"use strict";

const STRINGS = {
  ko: {
    analytics: "분석", chatLink: "채팅", shopLink: "상점", keyLabel: "API 키", signin: "로그인",
    badKey: "키가 올바르지 않습니다", questionPlaceholder: "예: 지난달 나라별 매출 상위 5곳은?", narrateLabel: "해설",
    askButton: "질문", running: "쿼리를 작성하고 실행하는 중…", sqlTitle: "SQL", narrativeTitle: "해설",
    removedTitle: "삭제된 문장", tablesTitle: "테이블", rows: "행", refused: "거부됨", empty: "결과 없음",
    noResult: "실행된 쿼리가 없습니다", none: "없음", error: "오류", other: "English",
  },
  en: {
    analytics: "Analytics", chatLink: "Chat", shopLink: "Shop", keyLabel: "API key", signin: "Sign in",
    badKey: "The key is not valid", questionPlaceholder: "e.g. Top 5 countries by revenue last month?",
    narrateLabel: "narrative", askButton: "Ask", running: "Writing and running the query…", sqlTitle: "SQL",
    narrativeTitle: "Narrative", removedTitle: "Removed sentences", tablesTitle: "Tables", rows: "rows",
    refused: "refused", empty: "no rows", noResult: "No query ran", none: "none", error: "Error", other: "한국어",
  },
};
useStrings(STRINGS);

async function showTables() {
  const r = await call("/api/analytics/tables");
  const box = $("tables");
  box.textContent = "";
  r.tables.forEach((tb) => {
    const section = el("section", "table-info");
    section.appendChild(el("h3", "", `${tb.name} · ${tb.rows.toLocaleString()} ${t("rows")}`));
    if (tb.description) section.appendChild(el("p", "note", tb.description));
    const list = el("ul", "columns");
    tb.columns.forEach((c) => {
      list.appendChild(el("li", "", `${c.name} (${c.type})` + (c.description ? ` — ${c.description}` : "")));
    });
    section.appendChild(list);
    box.appendChild(section);
  });
}

function showResult(result) {
  const table = $("result");
  table.textContent = "";
  if (!result) return;
  const head = el("tr");
  result.columns.forEach((c) => head.appendChild(el("th", "", c)));
  table.appendChild(head);
  result.rows.forEach((row) => {
    const tr = el("tr");
    row.forEach((v) => tr.appendChild(el("td", typeof v === "number" ? "num" : "", v === null ? "" : String(v))));
    table.appendChild(tr);
  });
}

function showNarrative(narrative) {
  $("narrative-box").hidden = !narrative;
  if (!narrative) return;
  $("narrative").textContent = narrative.text;
  $("suggestions").textContent = "";
  narrative.suggestions.forEach((s) => $("suggestions").appendChild(el("li", "suggestion", s)));
  $("citations").textContent = "";
  (narrative.citations || []).forEach((c) => {
    const where = c.heading ? `${c.doc_path} › ${c.heading}` : c.doc_path;
    $("citations").appendChild(el("li", "citation", `[${c.n}] ${where}: ${c.snippet}`));
  });
  $("removed").textContent = "";
  const removed = narrative.sentences.filter((s) => !s.kept);
  if (!removed.length) $("removed").appendChild(el("li", "note", t("none")));
  removed.forEach((s) => $("removed").appendChild(el("li", "removed", `${s.text} — ${s.reasons.join("; ")}`)));
}

async function ask(question) {
  $("question-note").textContent = t("running");
  $("run-query").disabled = true;
  $("answer-box").hidden = true;
  try {
    const r = await call("/api/analytics/ask", { method: "POST",
      body: JSON.stringify({ question, narrate: $("narrate").checked, chart: true }) });
    $("question-note").textContent = r.result ? `${r.seconds.toFixed(1)} s` : t("noResult");
    $("sql").textContent = r.sql;
    $("attempts").textContent = "";
    r.attempts.filter((a) => a.error || a.empty).forEach((a) => {
      const li = el("li", "attempt");
      li.appendChild(el("code", "", a.sql));
      li.appendChild(el("span", "why", a.error ? ` — ${t("refused")}: ${a.error}` : ` — ${t("empty")}`));
      $("attempts").appendChild(li);
    });
    showResult(r.result);
    // The chart is drawn by the server from the result alone; shown as an image, it can run nothing.
    $("chart").hidden = !r.chart_svg;
    if (r.chart_svg) $("chart").src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(r.chart_svg);
    showNarrative(r.narrative);
    $("answer-box").hidden = false;
  } catch (e) {
    $("question-note").textContent = t("error") + ": " + e.message;
  } finally {
    $("run-query").disabled = false;
  }
}

async function start(candidate) {
  await signInTo(candidate, "analytics-view", "question");
  if (!key) return;
  try {
    await showTables();
  } catch (e) {
    $("tables").textContent = t("error") + ": " + e.message;
  }
}

$("signin-form").onsubmit = (ev) => { ev.preventDefault(); start($("key").value.trim()); };
$("question-form").onsubmit = (ev) => {
  ev.preventDefault();
  const question = $("question").value.trim();
  if (question) ask(question);
};
wireLanguageButton();
applyLanguage();
if (key) start(key);
