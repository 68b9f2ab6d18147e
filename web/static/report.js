"use strict";
// Self-help while typing: ask the knowledge base, 300 ms after the last key.
(() => {
  const box = document.getElementById("suggestions");
  const fields = ["short_description", "description"].map((id) => document.getElementById(id));
  let timer;
  const look = () => {
    const query = fields.map((f) => f.value).join(" ").trim();
    if (query.length < 3) { box.innerHTML = ""; return; }
    fetch(`${box.dataset.url}?q=${encodeURIComponent(query)}`)
      .then((r) => (r.ok ? r.text() : ""))
      .then((html) => { box.innerHTML = html; });
  };
  fields.forEach((f) => f.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(look, 300);
  }));
})();
