/* Deskflow: draws an incident's process diagram with bpmn-js (the navigated viewer,
 * served from /static/vendor, no build step) and marks where the incident waits now
 * (df-current) and the way it came (df-passed).
 *
 * Every <div class="diagram" data-src="..."> on the page is filled from its data-src:
 * JSON {xml, current: [element ids], passed: [element ids], flows: [flow ids]}.
 * When drawn, the div gets data-ready="true" and data-current="id1 id2"; on a failure,
 * data-ready="error" and a readable message inside. */
(function () {
  "use strict";

  function fail(container, message, viewer) {
    if (viewer) {
      viewer.destroy();  // the empty canvas goes: the message takes its place
    }
    var note = document.createElement("p");
    note.className = "diagram-error";
    note.setAttribute("role", "alert");
    note.textContent = "The process diagram cannot be shown: " + message;
    container.appendChild(note);
    container.setAttribute("data-ready", "error");
  }

  function mark(viewer, ids, marker) {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    (ids || []).forEach(function (id) {
      if (registry.get(id)) {  // an id the drawing lacks (no shape) is left out
        canvas.addMarker(id, marker);
      }
    });
  }

  function load(container) {
    if (container.getAttribute("data-ready") !== null) {
      return;  // drawn already (the partial was included twice)
    }
    container.setAttribute("data-ready", "loading");
    if (typeof window.BpmnJS !== "function") {
      fail(container, "the diagram viewer (bpmn-js) is missing; run `make install`.");
      return;
    }
    var viewer = new window.BpmnJS({ container: container });
    fetch(container.getAttribute("data-src"), {
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("the server answered " + response.status + " " + response.statusText);
        }
        return response.json();
      })
      .then(function (path) {
        return viewer.importXML(path.xml).then(function () {
          return path;
        });
      })
      .then(function (path) {
        viewer.get("canvas").zoom("fit-viewport", "auto");
        mark(viewer, path.passed, "df-passed");
        mark(viewer, path.flows, "df-passed");
        mark(viewer, path.current, "df-current");
        container.setAttribute("data-current", (path.current || []).join(" "));
        container.setAttribute("data-ready", "true");
      })
      .catch(function (error) {
        fail(container, (error && error.message) || String(error), viewer);
      });
  }

  function loadAll() {
    Array.prototype.forEach.call(document.querySelectorAll("div.diagram[data-src]"), load);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", loadAll);
  } else {
    loadAll();
  }
})();
