"use strict";
// Self-help while typing: ask the knowledge base, 300 ms after the last key.
(() => {
  const box = document.getElementById("suggestions");
  const fields = ["short_description", "description"].map((id) => document.getElementById(id));
  let timer;
  const look = () => {
    // One line of plain text (no query parameter may hold a control character such as a
    // line break: web/params.py), and no more than the server reads.
    const query = fields.map((f) => f.value).join(" ")
      .replace(/[\s\u0000-\u001f\u007f-\u009f]+/g, " ").trim().slice(0, Number(box.dataset.max));
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
