/* Deskflow: the auditor's replay of one incident (web/replay.py) and the heatmap of many,
 * drawn with bpmn-js (the navigated viewer, served from /static/vendor, no build step).
 *
 * Replay: <div class="replay-diagram" data-src="...replay.json"> is filled from its
 * data-src: {xml, passed: [ids], flows: [ids], steps: [{step, at, element, name, what,
 * actor, cause, data, incident, clocks, passed: N, flows: N}]}; step i has passed the
 * first `passed` ids of `passed` and taken the first `flows` ids of `flows`. The step's
 * element gets the marker df-step, the way so far df-passed. After each step the div
 * carries data-step="N" and data-element="<id>"; data-ready="true" once drawn, "error"
 * with a readable message on a failure.
 *
 * Heatmap: <div class="heatmap-diagram" data-inline="<id of a JSON script>"> (or
 * data-src) gets {xml, elements: [{element, count, median, level}]}: each element an
 * overlay with its count and median time there, and the marker df-heat-<level>. */
(function () {
  "use strict";

  var PLAY_EVERY_MS = 700;

  function fail(container, message, viewer) {
    if (viewer) {
      viewer.destroy();
    }
    var note = document.createElement("p");
    note.className = "diagram-error";
    note.setAttribute("role", "alert");
    note.textContent = "The process diagram cannot be shown: " + message;
    container.appendChild(note);
    container.setAttribute("data-ready", "error");
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("the server answered " + response.status + " " + response.statusText);
        }
        return response.json();
      });
  }

  function draw(container, data) {
    if (typeof window.BpmnJS !== "function") {
      throw new Error("the diagram viewer (bpmn-js) is missing; run `make install`.");
    }
    var viewer = new window.BpmnJS({ container: container });
    return viewer.importXML(data.xml).then(function () {
      viewer.get("canvas").zoom("fit-viewport", "auto");
      return viewer;
    }, function (error) {
      viewer.destroy();
      throw error;
    });
  }

  function text(tag, content, className) {
    var node = document.createElement(tag);
    node.textContent = content;
    if (className) {
      node.className = className;
    }
    return node;
  }

  function when(iso) {
    if (!iso) {
      return "—";
    }
    // "2026-01-05T09:10:00+00:00" -> "2026-01-05 09:10:00 UTC" (the server speaks UTC)
    return iso.replace("T", " ").replace(/(\.\d+)?(\+00:00|Z)$/, "") + " UTC";
  }

  function shown(value) {
    if (value === null || value === undefined) {
      return "—";
    }
    var out = typeof value === "string" ? value : JSON.stringify(value);
    return out.length > 300 ? out.slice(0, 299) + "…" : out;
  }

  function table(caption, heads, rows) {
    var node = document.createElement("table");
    node.className = "replay-table";
    node.appendChild(text("caption", caption));
    var head = document.createElement("tr");
    heads.forEach(function (name) {
      var th = text("th", name);
      th.setAttribute("scope", "col");
      head.appendChild(th);
    });
    var thead = document.createElement("thead");
    thead.appendChild(head);
    node.appendChild(thead);
    var body = document.createElement("tbody");
    rows.forEach(function (cells) {
      var tr = document.createElement("tr");
      cells.forEach(function (cell, i) {
        var td = text(i === 0 ? "th" : "td", cell);
        if (i === 0) {
          td.setAttribute("scope", "row");
        }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    node.appendChild(body);
    return node;
  }

  function fill(id, node) {
    var place = document.getElementById(id);
    if (!place) {
      return;
    }
    place.textContent = "";
    place.appendChild(node);
  }

  // --- the replay ----------------------------------------------------------------------

  function Replay(container, viewer, data) {
    this.container = container;
    this.viewer = viewer;
    this.data = data;
    this.steps = data.steps || [];
    this.index = -1;
    this.marked = [];
    this.timer = null;
    this.canvas = viewer.get("canvas");
    this.registry = viewer.get("elementRegistry");
    this.buttons = {
      first: document.getElementById("replay-first"),
      back: document.getElementById("replay-back"),
      play: document.getElementById("replay-play"),
      forward: document.getElementById("replay-forward"),
      last: document.getElementById("replay-last")
    };
    this.slider = document.getElementById("replay-slider");
  }

  Replay.prototype.mark = function (id, marker) {
    if (this.registry.get(id)) {  // an id the drawing lacks (no shape) is left out
      this.canvas.addMarker(id, marker);
      this.marked.push([id, marker]);
    }
  };

  Replay.prototype.show = function (index) {
    var self = this;
    if (!this.steps.length) {
      return;
    }
    index = Math.max(0, Math.min(this.steps.length - 1, index));
    this.index = index;
    var step = this.steps[index];
    this.marked.forEach(function (pair) {
      self.canvas.removeMarker(pair[0], pair[1]);
    });
    this.marked = [];
    this.data.passed.slice(0, step.passed).forEach(function (id) {
      self.mark(id, "df-passed");
    });
    this.data.flows.slice(0, step.flows).forEach(function (id) {
      self.mark(id, "df-passed");
    });
    this.mark(step.element, "df-step");
    this.showRoot(step.element);
    this.container.setAttribute("data-step", String(step.step));
    this.container.setAttribute("data-element", step.element);
    this.panel(step);
    this.slider.value = String(step.step);
    this.slider.setAttribute("aria-valuetext", "step " + step.step + " of " + this.steps.length +
      ": " + step.name + ", " + step.what);
    var atStart = index === 0;
    var atEnd = index === this.steps.length - 1;
    this.buttons.first.disabled = atStart;
    this.buttons.back.disabled = atStart;
    this.buttons.forward.disabled = atEnd;
    this.buttons.last.disabled = atEnd;
    if (atEnd) {
      this.pause();
    }
  };

  Replay.prototype.showRoot = function (id) {
    // A collapsed sub-process is drawn on its own plane: show the one holding the step.
    var element = this.registry.get(id);
    if (!element || typeof this.canvas.findRoot !== "function") {
      return;
    }
    var root = this.canvas.findRoot(element);
    if (root && root !== this.canvas.getRootElement()) {
      this.canvas.setRootElement(root);
    }
  };

  Replay.prototype.panel = function (step) {
    var total = this.steps.length;
    document.getElementById("replay-title").textContent = "Step " + step.step + " of " + total;
    document.getElementById("replay-status").textContent =
      "Step " + step.step + " of " + total + ": " + step.name + ", " + step.what + ".";
    document.getElementById("replay-time").textContent = when(step.at);
    document.getElementById("replay-element").textContent =
      step.name + (step.name !== step.element ? " (" + step.element + ")" : "");
    document.getElementById("replay-what").textContent = step.what;
    document.getElementById("replay-actor").textContent =
      step.actor || "Deskflow (automatic)";
    var cause = step.cause;
    document.getElementById("replay-cause").textContent = cause
      ? cause.command + (cause.message ? " '" + cause.message + "'" : "") +
        (cause.actor ? " by " + cause.actor : "") + " (history #" + cause.seq + ")"
      : "—";

    var rows = [];
    Object.keys(step.data || {}).forEach(function (key) {
      rows.push([key, shown(step.data[key])]);
    });
    Object.keys(step.incident || {}).forEach(function (key) {
      rows.push(["incident " + key, shown(step.incident[key])]);
    });
    fill("replay-data", rows.length
      ? table("Data that changed at step " + step.step, ["Field", "Value"], rows)
      : text("p", "Nothing.", "hint"));

    var clocks = step.clocks || {};
    if (clocks.error) {
      fill("replay-clocks", text("p", clocks.error, "error"));
      return;
    }
    var names = ["response", "resolution"].filter(function (name) { return clocks[name]; });
    fill("replay-clocks", names.length
      ? table("SLA clocks at step " + step.step, ["Clock", "State", "Used of target", "Due"],
        names.map(function (name) {
          var c = clocks[name];
          var due = c.breached_at ? "breached " + when(c.breached_at) : when(c.due);
          return [name, c.state, c.used + " of " + (c.target || "—"), due];
        }))
      : text("p", "No SLA targets yet.", "hint"));
  };

  Replay.prototype.go = function (index) {
    this.show(index);
  };

  Replay.prototype.play = function () {
    var self = this;
    if (this.timer !== null) {
      return;
    }
    if (this.index >= this.steps.length - 1) {
      this.show(0);  // played to the end: again from the start
    }
    this.timer = window.setInterval(function () {
      self.show(self.index + 1);
    }, PLAY_EVERY_MS);
    this.buttons.play.textContent = "\u275A\u275A Pause";
    this.buttons.play.setAttribute("aria-label", "Pause");
    this.buttons.play.setAttribute("aria-pressed", "true");
  };

  Replay.prototype.pause = function () {
    if (this.timer !== null) {
      window.clearInterval(this.timer);
      this.timer = null;
    }
    this.buttons.play.textContent = "\u25B6 Play";
    this.buttons.play.setAttribute("aria-label", "Play");
    this.buttons.play.setAttribute("aria-pressed", "false");
  };

  Replay.prototype.wire = function () {
    var self = this;
    var last = function () { return self.steps.length - 1; };
    var by = function (move) {
      return function () {
        self.pause();
        self.go(move());
      };
    };
    this.buttons.first.addEventListener("click", by(function () { return 0; }));
    this.buttons.back.addEventListener("click", by(function () { return self.index - 1; }));
    this.buttons.forward.addEventListener("click", by(function () { return self.index + 1; }));
    this.buttons.last.addEventListener("click", by(last));
    this.buttons.play.addEventListener("click", function () {
      if (self.timer === null) {
        self.play();
      } else {
        self.pause();
      }
    });
    this.slider.addEventListener("input", function () {
      self.pause();
      self.go(parseInt(self.slider.value, 10) - 1);
    });
    document.addEventListener("keydown", function (event) {
      var target = event.target;
      var tag = target && target.tagName;
      if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || event.altKey ||
          event.ctrlKey || event.metaKey) {
        return;  // the slider moves itself; form fields keep their keys
      }
      var moves = {
        ArrowLeft: function () { return self.index - 1; },
        ArrowRight: function () { return self.index + 1; },
        Home: function () { return 0; },
        End: last
      };
      if (moves[event.key]) {
        event.preventDefault();
        self.pause();
        self.go(moves[event.key]());
      }
    });
    this.slider.min = "1";
    this.slider.max = String(Math.max(1, this.steps.length));
    this.slider.disabled = this.steps.length < 2;
    this.buttons.play.disabled = this.steps.length < 2;
  };

  function loadReplay(container) {
    if (container.getAttribute("data-ready") !== null) {
      return;
    }
    container.setAttribute("data-ready", "loading");
    var viewer = null;
    getJSON(container.getAttribute("data-src"))
      .then(function (data) {
        return draw(container, data).then(function (drawn) {
          viewer = drawn;
          var replay = new Replay(container, viewer, data);
          replay.wire();
          if (replay.steps.length) {
            replay.show(0);
          } else {
            document.getElementById("replay-title").textContent = "No steps recorded yet";
          }
          container.setAttribute("data-steps", String(replay.steps.length));
          container.setAttribute("data-ready", "true");
        });
      })
      .catch(function (error) {
        var title = document.getElementById("replay-title");
        if (title) {
          title.textContent = "The replay cannot be shown";
        }
        fail(container, (error && error.message) || String(error), viewer);
      });
  }

  // --- the heatmap ---------------------------------------------------------------------

  function heat(viewer, data, container) {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    var overlays = viewer.get("overlays");
    var drawn = 0;
    (data.elements || []).forEach(function (stat) {
      var element = registry.get(stat.element);
      if (!element || element.waypoints) {
        return;  // no shape for it in this drawing
      }
      // An expanded sub-process is outlined only: a fill would hide what is inside it.
      var inside = element.children && element.children.some(function (child) {
        return !child.labelTarget;
      });
      canvas.addMarker(stat.element, (inside ? "df-heat-frame-" : "df-heat-") + stat.level);
      var badge = document.createElement("div");
      badge.className = "df-heat-badge df-heat-badge-" + stat.level;
      badge.textContent = stat.count + (stat.median_seconds !== null ? " · " + stat.median : "");
      badge.title = (stat.name || stat.element) + ": " + stat.count + " incident(s) passed; " +
        "median time there " + stat.median;
      overlays.add(stat.element, "df-heat", {
        position: inside ? { top: -2, right: 60 } : { bottom: 4, left: 0 },
        scale: { min: 1 },  // readable however far the diagram is zoomed out
        html: badge
      });
      drawn += 1;
    });
    container.setAttribute("data-overlays", String(drawn));
  }

  function loadHeatmap(container) {
    if (container.getAttribute("data-ready") !== null) {
      return;
    }
    container.setAttribute("data-ready", "loading");
    var inline = container.getAttribute("data-inline");
    var source = inline
      ? Promise.resolve().then(function () {
        return JSON.parse(document.getElementById(inline).textContent);
      })
      : getJSON(container.getAttribute("data-src"));
    var viewer = null;
    source
      .then(function (data) {
        return draw(container, data).then(function (drawn) {
          viewer = drawn;
          heat(viewer, data, container);
          container.setAttribute("data-ready", "true");
        });
      })
      .catch(function (error) {
        fail(container, (error && error.message) || String(error), viewer);
      });
  }

  function loadAll() {
    Array.prototype.forEach.call(
      document.querySelectorAll("div.replay-diagram[data-src]"), loadReplay);
    Array.prototype.forEach.call(
      document.querySelectorAll("div.heatmap-diagram"), loadHeatmap);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", loadAll);
  } else {
    loadAll();
  }
})();
