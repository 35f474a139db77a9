// pciplane's web UI: the only script. Pages work without it; it makes filters apply on
// change and the what-if forms answer as you type (the page's results, fetched again).
"use strict";

function liveForm(form) {
  let timer = null;
  let asked = 0;
  const ask = async () => {
    const url = form.action + "?" + new URLSearchParams(new FormData(form)).toString();
    const mine = ++asked;
    const answer = await fetch(url, { credentials: "same-origin" });
    const html = await answer.text();
    if (mine !== asked) return; // a newer question is on its way
    const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("results");
    const results = document.getElementById("results");
    if (fresh && results) {
      results.replaceWith(fresh);
      history.replaceState(null, "", url);
    }
  };
  form.addEventListener("change", () => { clearTimeout(timer); ask(); });
  form.addEventListener("input", (event) => {
    if (event.target.tagName !== "INPUT") return;
    clearTimeout(timer);
    timer = setTimeout(ask, 500);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-autosubmit]")) {
    for (const select of form.querySelectorAll("select")) {
      select.addEventListener("change", () => form.requestSubmit());
    }
  }
  for (const form of document.querySelectorAll("form[data-live]")) liveForm(form);
});
