// InHouse inquiry desk: a customer's message goes to the shop's agent; the page shows each step it took (the
// forms the model filled, the tool calls and their results), its reply with the policy passages it cites, and
// the changes it proposes. Nothing is written until the operator relays the customer's yes (Confirm).
"use strict";

const STRINGS = {
  ko: {
    desk: "고객 문의", shopLink: "상점", keyLabel: "API 키", signin: "로그인", badKey: "키가 올바르지 않습니다",
    ticketLabel: "고객 메시지", ticketPlaceholder: "예: 이메일은 …입니다. 주문 #W…의 물병을 반품하고 싶어요.",
    runButton: "처리", running: "에이전트가 처리하는 중…", replyTitle: "답변", proposalsTitle: "고객 확인이 필요한 변경",
    confirmButton: "선택한 변경 확정", transcriptTitle: "처리 기록", form: "양식", tool: "도구",
    committed: "확정됨", declined: "거절됨", failed: "실패", noProposals: "확인할 변경이 없습니다", error: "오류",
    other: "English",
  },
  en: {
    desk: "Inquiries", shopLink: "Shop", keyLabel: "API key", signin: "Sign in", badKey: "The key is not valid",
    ticketLabel: "Customer message", ticketPlaceholder: "e.g. My email is …. I want to return the water bottle from order #W….",
    runButton: "Handle", running: "The agent is working…", replyTitle: "Reply", proposalsTitle: "Changes waiting for the customer's yes",
    confirmButton: "Confirm selected", transcriptTitle: "Transcript", form: "form", tool: "tool",
    committed: "committed", declined: "declined", failed: "failed", noProposals: "Nothing to confirm", error: "Error",
    other: "한국어",
  },
};
useStrings(STRINGS);

let session = null;

// One transcript entry per step: a form (what the model wrote) or a tool call (its arguments and result).
function showSteps(steps) {
  $("transcript").textContent = "";
  steps.forEach((s) => {
    const li = el("li", "step " + s.kind);
    li.appendChild(el("strong", "", `${t(s.kind)} · ${s.name}`));
    if (s.kind === "tool") li.appendChild(el("code", "args", JSON.stringify(s.args)));
    const result = s.result.length > 300 ? s.result.slice(0, 300) + "…" : s.result;
    li.appendChild(el("pre", "result", result));
    $("transcript").appendChild(li);
  });
  $("transcript-panel").hidden = false;
}

function showProposals(proposals) {
  $("proposals").textContent = "";
  $("settled").textContent = "";
  proposals.forEach((p) => {
    const li = el("li", "proposal");
    const box = el("input");
    Object.assign(box, { type: "checkbox", value: p.id, checked: true, id: "p-" + p.id });
    const label = el("label", "", p.summary);
    label.htmlFor = box.id;
    li.append(box, label);
    $("proposals").appendChild(li);
  });
  $("proposals-form").hidden = proposals.length === 0;
  $("confirm").disabled = false;
}

async function handle(message) {
  $("ticket-note").textContent = t("running");
  $("run").disabled = true;
  $("reply-box").hidden = true;
  try {
    const r = await call("/api/commerce/tickets", { method: "POST", body: JSON.stringify({ message }) });
    session = r.session;
    $("ticket-note").textContent = `session ${r.session} · ${r.seconds.toFixed(1)} s`;
    $("reply").textContent = r.reply;
    $("reply-box").hidden = false;
    showSteps(r.steps);
    showProposals(r.proposals);
  } catch (e) {
    $("ticket-note").textContent = t("error") + ": " + e.message;
  } finally {
    $("run").disabled = false;
  }
}

async function confirmChosen() {
  const chosen = Array.from(document.querySelectorAll("#proposals input:checked")).map((b) => b.value);
  $("confirm").disabled = true;
  try {
    const r = await call(`/api/commerce/tickets/${encodeURIComponent(session)}/confirm`, { method: "POST",
      body: JSON.stringify({ confirm: chosen }) });
    $("settled").textContent = "";
    if (!r.settled.length) $("settled").appendChild(el("li", "note", t("noProposals")));
    r.settled.forEach((s) => {
      const text = s.status === "failed" ? `${t(s.status)}: ${s.summary} — ${s.result}` : `${t(s.status)}: ${s.summary}`;
      $("settled").appendChild(el("li", "settled " + s.status, text));
    });
    $("proposals-form").hidden = true;
    const log = await call(`/api/commerce/tickets/${encodeURIComponent(session)}`);
    log.audit.filter((a) => a.actor.startsWith("staff:")).forEach((a) => {
      const li = el("li", "step staff");
      li.appendChild(el("strong", "", `${a.actor} · ${a.action} · ${a.outcome}`));
      li.appendChild(el("code", "args", JSON.stringify(a.args)));
      $("transcript").appendChild(li);
    });
  } catch (e) {
    $("settled").appendChild(el("li", "error", t("error") + ": " + e.message));
    $("confirm").disabled = false;
  }
}

$("signin-form").onsubmit = (ev) => { ev.preventDefault(); signInTo($("key").value.trim(), "desk-view", "ticket"); };
$("ticket-form").onsubmit = (ev) => {
  ev.preventDefault();
  const message = $("ticket").value.trim();
  if (message) handle(message);
};
$("proposals-form").onsubmit = (ev) => { ev.preventDefault(); confirmChosen(); };
wireLanguageButton();
applyLanguage();
if (key) signInTo(key, "desk-view", "ticket");
