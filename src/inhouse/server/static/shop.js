// InHouse shop operator page: catalog search with the reasons as chips, a product's review summary with
// quotes, and checked product copy in an editor. Plain JavaScript over /api/commerce; the key decides the shop.
"use strict";

const STRINGS = {
  ko: {
    shop: "상점", chatLink: "문서 질문", deskLink: "고객 문의", keyLabel: "API 키", signin: "로그인", badKey: "키가 올바르지 않습니다",
    searchPlaceholder: "예: 원룸에 좋은 조용한 공기청정기 60만원 이하", fast: "빠르게 (모델 없이)",
    searchButton: "검색", searching: "검색 중…", priceUpTo: "가격 상한", priceFrom: "가격 하한", noHits: "결과 없음", writeCopy: "상품 설명 쓰기",
    writing: "설명을 쓰는 중…", copyTitle: "상품 설명 (사양으로 검증됨)", removed: "삭제된 문장", reviews: "리뷰",
    noReviews: "리뷰가 아직 없습니다", pros: "장점", cons: "단점", byModel: "모델", byWord: "단어", out: "품절",
    error: "오류", other: "English",
  },
  en: {
    shop: "Shop", chatLink: "Ask documents", deskLink: "Inquiries", keyLabel: "API key", signin: "Sign in", badKey: "The key is not valid",
    searchPlaceholder: "e.g. quiet air purifier for a small bedroom under $600", fast: "Fast (no model)",
    searchButton: "Search", searching: "Searching…", priceUpTo: "price up to", priceFrom: "price from", noHits: "No items", writeCopy: "Write copy",
    writing: "Writing…", copyTitle: "Product copy (checked against the spec)", removed: "Removed sentences",
    reviews: "Reviews", noReviews: "No reviews yet", pros: "Pros", cons: "Cons", byModel: "model", byWord: "word",
    out: "out of stock", error: "Error", other: "한국어",
  },
};
useStrings(STRINGS);

// One chip per reason: a spec value (named by a word of the query, or picked by the model) or a review aspect.
function chip(w) {
  if (w.source === "spec") {
    return el("span", "chip " + w.by, `${w.option}: ${w.value} · ${w.by === "model" ? t("byModel") : t("byWord")}`);
  }
  return el("span", "chip reviews", `${t("reviews")} ${w.aspect} +${w.positive} −${w.negative}`);
}

async function search(query) {
  $("hits").textContent = "";
  $("search-note").textContent = t("searching");
  $("search").disabled = true;
  try {
    const r = await call("/api/commerce/search", { method: "POST",
      body: JSON.stringify({ query, k: 10, fast: $("fast").checked }) });
    const bounds = [r.min_price ? `${t("priceFrom")} ${r.min_price.toLocaleString()}` : "",
      r.max_price ? `${t("priceUpTo")} ${r.max_price.toLocaleString()}` : ""].filter(Boolean).join(" · ");
    $("search-note").textContent = r.hits.length ? bounds : [t("noHits"), bounds].filter(Boolean).join(" · ");
    r.hits.forEach((h) => {
      const li = el("li", "hit");
      const head = el("div", "hit-head");
      head.appendChild(el("strong", "", h.name));
      head.appendChild(el("span", "price", (h.price === null ? "" : h.price.toLocaleString()) + (h.available ? "" : ` (${t("out")})`)));
      li.appendChild(head);
      li.appendChild(el("div", "options", Object.entries(h.options).map(([k, v]) => `${k}: ${v}`).join(" · ")));
      const chips = el("div", "chips");
      h.why.forEach((w) => chips.appendChild(chip(w)));
      li.appendChild(chips);
      const actions = el("div", "actions");
      const reviewsButton = el("button", "reviews-button", t("reviews"));
      reviewsButton.type = "button";
      reviewsButton.onclick = () => showReviews(h);
      const copyButton = el("button", "copy-button", t("writeCopy"));
      copyButton.type = "button";
      copyButton.onclick = () => writeCopy(h);
      actions.append(reviewsButton, copyButton);
      li.appendChild(actions);
      $("hits").appendChild(li);
    });
  } catch (e) {
    $("search-note").textContent = t("error") + ": " + e.message;
  } finally {
    $("search").disabled = false;
  }
}

// The detail panel shows the last item asked for: a reply for an earlier click is dropped.
let shown = 0;

function openDetail(h) {
  shown += 1;
  $("detail").hidden = false;
  $("detail-title").textContent = `${h.name} · ${h.item_id}`;
  $("summary").textContent = "";
  $("copy-editor").hidden = true;
}

async function showReviews(h) {
  openDetail(h);
  const mine = shown;
  try {
    const s = await call(`/api/commerce/products/${encodeURIComponent(h.product_id)}/reviews`);
    if (mine !== shown) return;
    $("summary").appendChild(el("p", "note", `${t("reviews")}: ${s.reviews}` + (s.stars ? ` · ${s.stars}★` : "")));
    s.aspects.forEach((a) => {
      const box = el("div", "aspect");
      box.appendChild(el("h3", "", `${a.aspect}  +${a.positive} −${a.negative}`));
      [["pros", a.pros], ["cons", a.cons]].forEach(([kind, quotes]) => {
        quotes.forEach((q) => {
          const quote = el("blockquote", kind, `“${q.text}”`);
          quote.title = q.review_id;
          box.appendChild(quote);
        });
      });
      $("summary").appendChild(box);
    });
  } catch (e) {
    if (mine !== shown) return;
    $("summary").appendChild(el("p", "note", e.status === 404 ? t("noReviews") : t("error") + ": " + e.message));
  }
}

async function writeCopy(h) {
  openDetail(h);
  $("copy-editor").hidden = false;
  $("copy-text").value = t("writing");
  $("copy-removed").textContent = "";
  const mine = shown;
  try {
    const c = await call("/api/commerce/copy", { method: "POST", body: JSON.stringify({ item_id: h.item_id, lang }) });
    if (mine !== shown) return;
    $("copy-text").value = c.text;
    c.sentences.filter((s) => !s.kept).forEach((s) => {
      $("copy-removed").appendChild(el("li", "removed", `${t("removed")}: “${s.text}” — ${s.reasons.join("; ")}`));
    });
  } catch (e) {
    if (mine !== shown) return;
    $("copy-text").value = t("error") + ": " + e.message;
  }
}

$("signin-form").onsubmit = (ev) => { ev.preventDefault(); signInTo($("key").value.trim(), "shop-view", "query"); };
$("search-form").onsubmit = (ev) => {
  ev.preventDefault();
  const q = $("query").value.trim();
  if (q) search(q);
};
wireLanguageButton();
applyLanguage();
if (key) signInTo(key, "shop-view", "query");
