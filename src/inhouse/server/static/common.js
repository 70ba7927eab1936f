// What every InHouse page shares: its strings by language, the tab's API key, calls made with it, signing in.
// Plain JavaScript, loaded before the page's own script; the page gives its strings with useStrings().
"use strict";

let lang = new URLSearchParams(location.search).get("lang") || localStorage.getItem("inhouse.lang") ||
  (navigator.language || "ko").slice(0, 2);
let key = sessionStorage.getItem("inhouse.key") || "";
let pageStrings = null;
const $ = (id) => document.getElementById(id);
const t = (name) => pageStrings[lang][name];

function useStrings(strings) {
  pageStrings = strings;
  if (!pageStrings[lang]) lang = "en";
}

function applyLanguage() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  $("lang").textContent = t("other");
}

// The language button switches the page's strings and remembers the choice.
function wireLanguageButton(after) {
  $("lang").onclick = () => {
    lang = lang === "ko" ? "en" : "ko";
    localStorage.setItem("inhouse.lang", lang);
    applyLanguage();
    if (after) after();
  };
}

// fetch with the tab's key; an error reply becomes an Error with the server's message and `status`.
async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + key }, options.headers || {});
  const r = await fetch(path, Object.assign({}, options, { headers }));
  if (!r.ok) {
    let message = r.statusText;
    try { message = (await r.json()).error.message; } catch (e) { /* not JSON */ }
    const err = new Error(message);
    err.status = r.status;
    throw err;
  }
  return r;
}

// A JSON call with the tab's key: the parsed reply (errors as in api()).
async function call(path, options = {}) {
  const headers = Object.assign({ "Content-Type": "application/json" }, options.headers || {});
  return (await api(path, Object.assign({}, options, { headers }))).json();
}

// An element with a class and text.
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// Sign in and show the page's view: who is signed in, the view shown, the first field focused.
async function signInTo(candidate, view, first) {
  const me = await signInWith(candidate);
  if (!me) return;
  $("whoami").textContent = `${me.user}@${me.tenant}`;
  $(view).hidden = false;
  $(first).focus();
}

// Sign in with a key: who it is (/api/me), or the error under the form (and null).
async function signInWith(candidate) {
  key = candidate;
  let who;
  try {
    who = await (await api("/api/me")).json();
  } catch (e) {
    key = "";
    sessionStorage.removeItem("inhouse.key");
    $("signin-error").textContent = t("badKey") + ": " + e.message;
    return null;
  }
  sessionStorage.setItem("inhouse.key", key);
  $("signin-error").textContent = "";
  $("signin-view").hidden = true;
  return who;
}

// The sign-in form, the same on every page, built into the page's empty <section id="signin-view">.
(function buildSignIn() {
  const view = $("signin-view");
  if (!view || view.children.length) return;
  const form = document.createElement("form");
  form.id = "signin-form";
  const label = document.createElement("label");
  label.htmlFor = "key";
  label.dataset.i18n = "keyLabel";
  const input = document.createElement("input");
  Object.assign(input, { id: "key", type: "password", autocomplete: "off", placeholder: "ih_…" });
  const button = document.createElement("button");
  Object.assign(button, { id: "signin", type: "submit" });
  button.dataset.i18n = "signin";
  const error = document.createElement("p");
  Object.assign(error, { id: "signin-error", className: "error" });
  error.setAttribute("role", "alert");
  form.append(label, input, button, error);
  view.appendChild(form);
})();
