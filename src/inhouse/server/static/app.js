// InHouse web chat: plain JavaScript, no build step; shared page code in common.js.
"use strict";

const STRINGS = {
  ko: {
    keyLabel: "API 키", signin: "로그인", signout: "로그아웃", ask: "질문", askPlaceholder: "질문을 입력하세요",
    documents: "문서", upload: "업로드", groupsPlaceholder: "그룹 (쉼표로 구분)", path: "경로", groups: "그룹",
    delete: "삭제", thinking: "답을 찾는 중…", sources: "출처", nearest: "가까운 문서", refused: "답변 불가",
    badKey: "키가 올바르지 않습니다", error: "오류", passage: "원문", confirmDelete: "삭제할까요?", other: "English",
    shopLink: "상점", analyticsLink: "분석",
  },
  en: {
    keyLabel: "API key", signin: "Sign in", signout: "Sign out", ask: "Ask", askPlaceholder: "Ask a question",
    documents: "Documents", upload: "Upload", groupsPlaceholder: "groups (comma-separated)", path: "Path",
    groups: "Groups", delete: "Delete", thinking: "Looking for the answer…", sources: "Sources",
    nearest: "Nearest documents", refused: "Not answered", badKey: "The key is not valid", error: "Error",
    passage: "Passage", confirmDelete: "Delete it?", other: "한국어", shopLink: "Shop", analyticsLink: "Analytics",
  },
};
useStrings(STRINGS);
let me = null;

async function signIn(candidate) {
  me = await signInWith(candidate);
  if (!me) return;
  $("app-view").hidden = false;
  $("signout").hidden = false;
  $("whoami").textContent = `${me.user}@${me.tenant} (${me.role})`;
  $("admin").hidden = me.role !== "admin";
  if (me.role === "admin") loadDocuments();
  $("question").focus();
}

function addMessage(cls, text) {
  const div = document.createElement("div");
  div.className = "msg " + cls;
  div.textContent = text;
  $("messages").appendChild(div);
  div.scrollIntoView({ block: "end" });
  return div;
}

// Turn "[1]" markers into buttons that open the cited passage.
function renderAnswer(div, info) {
  div.textContent = "";
  const byN = {};
  (info.citations || []).forEach((c) => { byN[c.n] = c; });
  const body = document.createElement("p");
  body.className = "answer-text";
  info.answer.split(/(\[\d+\])/).forEach((part) => {
    const m = part.match(/^\[(\d+)\]$/);
    if (m && byN[m[1]]) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "cite";
      b.textContent = part;
      b.onclick = () => openPassage(byN[m[1]].chunk_id, byN[m[1]].doc_path);
      body.appendChild(b);
    } else {
      body.appendChild(document.createTextNode(part));
    }
  });
  div.appendChild(body);
  const list = info.abstained ? info.nearest || [] : info.citations || [];
  if (list.length) {
    const h = document.createElement("h3");
    h.textContent = info.abstained ? t("nearest") : t("sources");
    div.appendChild(h);
    const ul = document.createElement("ul");
    ul.className = "sources";
    list.forEach((s) => {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = "#";
      a.className = "source";
      a.textContent = (s.n ? `[${s.n}] ` : "") + s.doc_path + (s.page ? ` p.${s.page}` : "");
      a.onclick = (ev) => { ev.preventDefault(); openPassage(s.chunk_id, s.doc_path); };
      li.appendChild(a);
      ul.appendChild(li);
    });
    div.appendChild(ul);
  }
  if (info.abstained) {
    div.classList.add("refusal");
    const tag = document.createElement("span");
    tag.className = "tag";
    tag.textContent = t("refused");
    div.prepend(tag);
  } else {
    div.classList.add("answered");
  }
}

async function openPassage(chunkId, docPath) {
  try {
    const p = await (await api("/api/chunks/" + chunkId)).json();
    $("passage-title").textContent = `${t("passage")}: ${p.doc_path}${p.page ? " p." + p.page : ""}`;
    $("passage-text").textContent = p.text;
  } catch (e) {
    $("passage-title").textContent = docPath;
    $("passage-text").textContent = t("error") + ": " + e.message;
  }
  $("passage").hidden = false;
}

async function ask(question) {
  addMessage("user", question);
  const div = addMessage("assistant pending", t("thinking"));
  $("ask").disabled = true;
  try {
    const r = await api("/v1/chat/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: "inhouse-rag", stream: true, messages: [{ role: "user", content: question }] }),
    });
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "", text = "", info = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (!event.startsWith("data: ")) continue; // keep-alive comments
        const data = event.slice(6);
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        const delta = chunk.choices[0].delta.content;
        if (delta) { text += delta; div.textContent = text; div.classList.remove("pending"); }
        if (chunk.inhouse) info = chunk.inhouse;
      }
    }
    div.classList.remove("pending");
    if (info) renderAnswer(div, info);
  } catch (e) {
    div.classList.remove("pending");
    div.classList.add("error");
    div.textContent = t("error") + ": " + e.message;
  } finally {
    $("ask").disabled = false;
  }
}

async function loadDocuments() {
  const data = await (await api("/api/documents")).json();
  const tbody = $("docs").querySelector("tbody");
  tbody.textContent = "";
  data.documents.forEach((d) => {
    const tr = document.createElement("tr");
    tr.dataset.path = d.path;
    [d.path, d.groups.join(", ")].forEach((v) => { const td = document.createElement("td"); td.textContent = v; tr.appendChild(td); });
    const td = document.createElement("td");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "delete";
    b.textContent = t("delete");
    b.onclick = async () => {
      await api("/api/documents/" + encodeURIComponent(d.path), { method: "DELETE" });
      loadDocuments();
    };
    td.appendChild(b);
    tr.appendChild(td);
    tbody.appendChild(tr);
  });
  const jobs = $("jobs");
  jobs.textContent = "";
  let pending = false;
  data.jobs.forEach((j) => {
    const li = document.createElement("li");
    li.className = "job " + j.status;
    li.textContent = `${j.filename}: ${j.status}${j.error ? " — " + j.error : ""}`;
    jobs.appendChild(li);
    pending = pending || j.status === "queued" || j.status === "running";
  });
  if (pending) setTimeout(loadDocuments, 500);
}

$("signin-form").onsubmit = (ev) => { ev.preventDefault(); signIn($("key").value.trim()); };
$("ask-form").onsubmit = (ev) => {
  ev.preventDefault();
  const q = $("question").value.trim();
  if (q) { $("question").value = ""; ask(q); }
};
$("question").onkeydown = (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("ask-form").requestSubmit(); }
};
$("passage-close").onclick = () => { $("passage").hidden = true; };
wireLanguageButton();
$("signout").onclick = () => { sessionStorage.removeItem("inhouse.key"); location.reload(); };
$("upload-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const f = $("upload-file").files[0];
  if (!f) return;
  const form = new FormData();
  form.append("file", f);
  form.append("groups", $("upload-groups").value);
  try {
    await api("/api/documents", { method: "POST", body: form });
  } catch (e) {
    addMessage("error", t("error") + ": " + e.message);
  }
  loadDocuments();
};

applyLanguage();
if (key) signIn(key);
