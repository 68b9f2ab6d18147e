// Deskflow's process modeler page (web/templates/process/modeler.html), bundled by esbuild
// into web/static/vendor/modeler/modeler.js by the Makefile's vendor rule (`make install`):
//
//   npx --no-install esbuild web/modeler/modeler.js --bundle --minify \
//       --define:process.env.NODE_ENV='"production"' --legal-comments=external \
//       --outfile=web/static/vendor/modeler/modeler.js
//
// window.deskflowModeler is the bpmn-js Modeler (tests drive it with page.evaluate),
// window.deskflowDmnModeler the dmn-js one once the DMN tab was opened.
//
// bpmn-js (the modeler) reads and writes the spiffworkflow: extensions with the moddle
// descriptor ./spiffworkflow.json (the same file web/modeler/roundtrip.mjs and its test
// use); dmn-js edits the draft's decision tables. The page loads a draft (or opens a
// version as a new draft), edits it, saves, validates and deploys it through the
// process owner's JSON endpoints (./api.js).
import BpmnModeler from "bpmn-js/lib/Modeler";
import DmnModeler from "dmn-js/lib/Modeler";

import spiffworkflow from "./spiffworkflow.json";
import { Api, ApiError } from "./api.js";
import { ElementPanel, operatorList, parameterTypeList, h } from "./panel.js";

const MARKERS = { error: "df-error", warning: "df-warning" };
const WHAT_IF_LAST = 500; // recorded incidents re-run on the draft after a clean validation

class ModelerPage {
  constructor(root) {
    this.root = root;
    this.api = new Api(root.dataset.api, root.dataset.csrf);
    this.canvas = document.getElementById("modeler");
    this.status = document.getElementById("modeler-status");
    this.alert = document.getElementById("modeler-alert");
    this.result = document.getElementById("deploy-result");
    this.buttons = {
      save: document.getElementById("save-draft"),
      validate: document.getElementById("validate-draft"),
      deploy: document.getElementById("deploy-draft"),
    };
    this.draft = null;
    this.dirty = false;
    this.busy = false;
    this.lastValidation = null;
    this.problemIds = [];
    this.dmn = { modeler: null, file: null, xml: {}, opened: false };

    this.modeler = new BpmnModeler({
      container: this.canvas,
      moddleExtensions: { spiffworkflow },
    });
    window.deskflowModeler = this.modeler; // for tests and the browser console
    this.panel = new ElementPanel(document.getElementById("element-panel"), this.modeler, {
      operators: [],
      forms: [],
    });
    this.modeler.on("commandStack.changed", () => this.markDirty());
    this.modeler.on(["import.done", "commandStack.changed"], () => this.listElements());
    document.getElementById("find-element").addEventListener("change", (event) => {
      this.findElement(event.target.value.trim());
    });

    this.buttons.save.addEventListener("click", () => this.run(() => this.save()));
    this.buttons.validate.addEventListener("click", () => this.run(() => this.validate()));
    this.buttons.deploy.addEventListener("click", () => this.askDeploy());
    this.setUpTabs();
    this.setUpDeployDialog();
    window.addEventListener("beforeunload", (event) => {
      if (this.dirty) {
        event.preventDefault();
        event.returnValue = "";
      }
    });
  }

  // --- messages ------------------------------------------------------------------------------

  say(text) {
    this.status.textContent = text;
  }

  fail(error) {
    const message =
      error instanceof ApiError ? error.message : `Something went wrong: ${error.message || error}`;
    this.alert.textContent = message;
    this.alert.hidden = false;
    if (error instanceof ApiError && error.problems.length) {
      this.showProblems({ ok: false, errors: error.problems, warnings: [] }, "Refused");
    }
  }

  clearAlert() {
    this.alert.hidden = true;
    this.alert.textContent = "";
  }

  async run(action) {
    if (this.busy) {
      return;
    }
    this.busy = true;
    this.updateButtons();
    this.clearAlert();
    try {
      await action();
    } catch (error) {
      this.fail(error);
      this.say("");
    } finally {
      this.busy = false;
      this.updateButtons();
    }
  }

  updateButtons() {
    const loaded = Boolean(this.draft);
    this.buttons.save.disabled = this.busy || !loaded;
    this.buttons.validate.disabled = this.busy || !loaded;
    const blocked = Boolean(this.lastValidation && this.lastValidation.errors.length);
    this.buttons.deploy.disabled = this.busy || !loaded || blocked;
    document.getElementById("deploy-hint").hidden = !blocked;
  }

  markDirty() {
    if (!this.draft) {
      return;
    }
    this.dirty = true;
    this.root.dataset.dirty = "true";
  }

  // --- loading -------------------------------------------------------------------------------

  async start() {
    const draftId = this.root.dataset.draft;
    const version = this.root.dataset.version;
    let draft;
    if (draftId) {
      draft = await this.api.draft(draftId);
    } else {
      let base = version ? Number(version) : null;
      if (!base) {
        const versions = await this.api.request(
          "GET",
          "/api/versions",
          undefined,
          "Loading the versions"
        );
        base = Math.max(0, ...versions.map((v) => v.version));
        if (!base) {
          throw new Error("no version of the process is deployed yet to start a draft from");
        }
      }
      this.say(`Opening version ${base} as a new draft…`);
      draft = await this.api.createDraft(base);
      const url = new URL(window.location.href);
      url.searchParams.delete("version");
      url.searchParams.set("draft", String(draft.id));
      window.history.replaceState(null, "", url.toString());
    }
    const operators = this.api.operators().catch((error) => {
      this.fail(error);
      return [];
    });
    await this.load(draft, await operators);
  }

  async load(draft, operators) {
    this.draft = draft;
    this.root.dataset.draft = String(draft.id);
    document.getElementById("modeler-title").textContent =
      `Process modeler — draft ${draft.id}` +
      (draft.base_version ? ` (from version ${draft.base_version})` : "");
    document.body.append(operatorList(operators), parameterTypeList());
    this.panel.setContext({ operators, forms: Object.keys(draft.forms || {}) });
    this.dmn.xml = { ...(draft.dmn || {}) };
    this.fillDmnFiles();
    const { warnings } = await this.modeler.importXML(draft.bpmn);
    this.modeler.get("canvas").zoom("fit-viewport", "auto");
    this.dirty = false;
    delete this.root.dataset.dirty;
    this.canvas.dataset.ready = "true";
    const noted = warnings && warnings.length ? ` (${warnings.length} import warnings)` : "";
    this.say(
      `Draft ${draft.id} loaded${noted}` +
        (draft.updated_by ? `; last saved by ${draft.updated_by} at ${draft.updated_at}.` : ".")
    );
    this.updateButtons();
  }

  // --- saving, validating, deploying ---------------------------------------------------------

  async save() {
    this.say("Saving the draft…");
    const { xml } = await this.modeler.saveXML({ format: true });
    const changes = { bpmn: xml };
    if (this.dmn.opened) {
      await this.captureDmn();
      changes.dmn = { ...this.dmn.xml };
    }
    const saved = await this.api.saveDraft(this.draft.id, changes);
    this.draft = { ...this.draft, ...saved };
    this.dirty = false;
    delete this.root.dataset.dirty;
    this.say(`Draft ${this.draft.id} saved${saved.updated_at ? " at " + saved.updated_at : ""}.`);
  }

  async validate() {
    await this.save();
    this.say("Validating…");
    const result = await this.api.validate(this.draft.id);
    this.showProblems(result, "Validation");
    this.showWhatIf(null);
    const errors = (result.errors || []).length;
    const warnings = (result.warnings || []).length;
    this.say(
      errors
        ? `Validation found ${errors} error${errors === 1 ? "" : "s"}: deploy is off until they are fixed.`
        : `Validation passed${warnings ? ` with ${warnings} warning${warnings === 1 ? "" : "s"}` : ""}: the draft can be deployed.`
    );
    if (!errors) {
      this.whatIf(); // in the background: deploying need not wait for it
    }
  }

  // After a clean validation: the last incidents re-run on the draft (engine/audit/what_if.py),
  // "Of the last 500 incidents, 37 would take a different path, most at 'Triage'".
  async whatIf() {
    const asked = (this.whatIfAsked = (this.whatIfAsked || 0) + 1);
    this.showWhatIf({ pending: true });
    let report;
    try {
      report = await this.api.request(
        "GET",
        `/api/drafts/${this.draft.id}/what-if?last=${WHAT_IF_LAST}`,
        undefined,
        "Comparing with the last incidents"
      );
    } catch (error) {
      report = { failed: error.message || String(error) };
    }
    if (asked === this.whatIfAsked && document.getElementById("what-if")) {
      this.showWhatIf(report); // unless a newer validation (or a deploy) came meanwhile
    }
  }

  showWhatIf(report) {
    let line = document.getElementById("what-if");
    if (!report) {
      if (line) {
        line.remove();
      }
      return;
    }
    if (!line) {
      line = h("div", { id: "what-if", class: "what-if", role: "status" });
      document.getElementById("problems-summary").after(line);
    }
    delete line.dataset.differ;
    if (report.pending) {
      line.replaceChildren(`What if: re-running the last ${WHAT_IF_LAST} incidents on this draft…`);
      return;
    }
    if (report.failed) {
      line.replaceChildren(`What if: ${report.failed}`);
      return;
    }
    line.dataset.compared = String(report.compared);
    line.dataset.differ = String(report.differ);
    const places = (report.by_element || []).slice(0, 5).map((row) =>
      h(
        "li",
        {},
        this.modeler.get("elementRegistry").get(row.element)
          ? h(
              "button",
              { type: "button", class: "problem-link", onclick: () => this.reveal(row.element) },
              `${row.count} at ${row.name}`
            )
          : `${row.count} at ${row.name}`
      )
    );
    line.replaceChildren(
      h("p", {}, h("strong", {}, "What if: "), report.sentence),
      places.length ? h("ul", {}, places) : null
    );
    document.getElementById("problems").hidden = false;
  }

  askDeploy() {
    const dialog = document.getElementById("deploy-dialog");
    this.result.hidden = true;
    dialog.showModal();
    document.getElementById("deploy-comment").focus();
  }

  setUpDeployDialog() {
    const dialog = document.getElementById("deploy-dialog");
    const form = document.getElementById("deploy-form");
    document.getElementById("deploy-cancel").addEventListener("click", () => dialog.close());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const comment = document.getElementById("deploy-comment").value.trim();
      if (!comment) {
        document.getElementById("deploy-comment").reportValidity();
        return;
      }
      dialog.close();
      this.run(() => this.deploy(comment));
    });
  }

  async deploy(comment) {
    await this.save();
    this.say("Deploying…");
    let answer;
    try {
      answer = await this.api.deploy(this.draft.id, comment);
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) {
        this.lastValidation = { ok: false, errors: error.problems, warnings: [] };
      }
      throw error;
    }
    this.clearMarkers();
    this.lastValidation = null;
    this.showWhatIf(null);
    document.getElementById("problems").hidden = true;
    const link = h("a", { href: `${this.api.base}/` }, "See all versions");
    const created =
      answer.created === false
        ? ` (${answer.message || "the same content as an existing version"})`
        : "";
    this.result.replaceChildren(
      h("strong", { id: "deployed-version" }, `Deployed as version ${answer.version}`),
      `${created}. New incidents start on it. `,
      link
    );
    this.result.hidden = false;
    this.root.dataset.deployedVersion = String(answer.version);
    this.say(`Deployed as version ${answer.version}.`);
    document.getElementById("deploy-comment").value = "";
  }

  // --- problems ------------------------------------------------------------------------------

  clearMarkers() {
    const canvas = this.modeler.get("canvas");
    const overlays = this.modeler.get("overlays");
    for (const id of this.problemIds) {
      canvas.removeMarker(id, MARKERS.error);
      canvas.removeMarker(id, MARKERS.warning);
    }
    overlays.remove({ type: "df-problem" });
    this.problemIds = [];
  }

  showProblems(result, title) {
    this.lastValidation = {
      ok: result.ok,
      errors: result.errors || [],
      warnings: result.warnings || [],
    };
    this.clearMarkers();
    const section = document.getElementById("problems");
    const list = document.getElementById("problem-list");
    const summary = document.getElementById("problems-summary");
    const { errors, warnings } = this.lastValidation;
    const registry = this.modeler.get("elementRegistry");
    const canvas = this.modeler.get("canvas");
    const overlays = this.modeler.get("overlays");
    const items = [];
    for (const [severity, problems] of [
      ["error", errors],
      ["warning", warnings],
    ]) {
      for (const problem of problems) {
        const shape = problem.element ? registry.get(problem.element) : null;
        if (shape) {
          canvas.addMarker(shape.id, MARKERS[severity]);
          this.problemIds.push(shape.id);
          overlays.add(shape.id, "df-problem", {
            position: { top: -10, right: 10 },
            html: `<div class="df-problem-badge df-problem-${severity}" aria-hidden="true">${
              severity === "error" ? "!" : "?"
            }</div>`,
          });
        }
        const where = [problem.file, problem.line ? `line ${problem.line}` : null]
          .filter(Boolean)
          .join(", ");
        const text = `${severity === "error" ? "Error" : "Warning"}: ${problem.message}${
          where ? ` (${where})` : ""
        }`;
        const content = shape
          ? h(
              "button",
              {
                type: "button",
                class: "problem-link",
                "data-element": shape.id,
                onclick: () => this.reveal(shape.id),
              },
              h("code", {}, shape.id),
              " ",
              text
            )
          : h("span", {}, problem.element ? [h("code", {}, problem.element), " "] : [], text);
        items.push(h("li", { class: `problem problem-${severity}` }, content));
      }
    }
    list.replaceChildren(...items);
    summary.textContent =
      errors.length || warnings.length
        ? `${title}: ${errors.length} error${errors.length === 1 ? "" : "s"}, ${
            warnings.length
          } warning${warnings.length === 1 ? "" : "s"}. Select one to show it in the diagram.`
        : `${title}: no errors, no warnings.`;
    section.hidden = false;
    section.dataset.errors = String(errors.length);
    section.dataset.warnings = String(warnings.length);
  }

  // The "Find an element" choices: every named element (and every flow node) by id.
  listElements() {
    const options = this.modeler
      .get("elementRegistry")
      .filter((e) => e.type !== "label" && e.businessObject && e.businessObject.id && e.parent)
      .map((e) => [e.id, e.businessObject.name || ""])
      .sort((a, b) => (a[1] || a[0]).localeCompare(b[1] || b[0]));
    document
      .getElementById("df-element-names")
      .replaceChildren(
        ...options.map(([id, name]) => h("option", { value: id }, name ? `${name} (${id})` : id))
      );
  }

  findElement(text) {
    if (!text) {
      return;
    }
    const registry = this.modeler.get("elementRegistry");
    const lower = text.toLowerCase();
    const shape =
      registry.get(text) ||
      registry.find((e) => e.type !== "label" && (e.businessObject.name || "").toLowerCase() === lower) ||
      registry.find(
        (e) => e.type !== "label" && (e.businessObject.name || "").toLowerCase().includes(lower)
      );
    if (!shape) {
      this.say(`No element is named or has the id '${text}'.`);
      return;
    }
    this.focusOn(shape);
    this.modeler.get("selection").select(shape);
    this.say(`Selected ${shape.businessObject.name || shape.id}.`);
  }

  // Centre the canvas on an element, zoomed in far enough to read it.
  focusOn(shape) {
    const canvas = this.modeler.get("canvas");
    const box = canvas.viewbox();
    const scale = Math.max(box.scale, 1);
    const width = box.outer.width / scale;
    const height = box.outer.height / scale;
    let cx, cy;
    if (shape.waypoints) {
      const xs = shape.waypoints.map((p) => p.x);
      const ys = shape.waypoints.map((p) => p.y);
      cx = (Math.min(...xs) + Math.max(...xs)) / 2;
      cy = (Math.min(...ys) + Math.max(...ys)) / 2;
    } else {
      cx = shape.x + shape.width / 2;
      cy = shape.y + shape.height / 2;
    }
    canvas.viewbox({ x: cx - width / 2, y: cy - height / 2, width, height });
  }

  reveal(id) {
    this.showTab("bpmn");
    const shape = this.modeler.get("elementRegistry").get(id);
    if (!shape) {
      return;
    }
    this.focusOn(shape);
    this.modeler.get("selection").select(shape);
    const field = document.querySelector("#element-panel input, #element-panel select");
    if (field) {
      setTimeout(() => {
        const again = document.querySelector("#element-panel input, #element-panel select");
        if (again) {
          again.focus();
        }
      }, 0);
    }
  }

  // --- tabs and the DMN editor ---------------------------------------------------------------

  setUpTabs() {
    const tabs = [document.getElementById("tab-bpmn"), document.getElementById("tab-dmn")];
    tabs.forEach((tab, index) => {
      tab.addEventListener("click", () => this.showTab(index === 0 ? "bpmn" : "dmn"));
      tab.addEventListener("keydown", (event) => {
        if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
          const next = tabs[(index + 1) % tabs.length];
          this.showTab(next.id === "tab-bpmn" ? "bpmn" : "dmn");
          next.focus();
          event.preventDefault();
        }
      });
    });
    document.getElementById("dmn-file").addEventListener("change", (event) => {
      this.run(() => this.openDmn(event.target.value));
    });
  }

  showTab(which) {
    for (const name of ["bpmn", "dmn"]) {
      const tab = document.getElementById(`tab-${name}`);
      const panel = document.getElementById(`panel-${name}`);
      const on = name === which;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      panel.hidden = !on;
    }
    if (which === "dmn" && this.draft && !this.dmn.modeler) {
      const first = document.getElementById("dmn-file").value;
      if (first) {
        this.run(() => this.openDmn(first));
      }
    }
  }

  fillDmnFiles() {
    const select = document.getElementById("dmn-file");
    const names = Object.keys(this.dmn.xml).sort();
    const preferred = names.includes("priority.dmn") ? "priority.dmn" : names[0];
    select.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
    if (preferred) {
      select.value = preferred;
    }
    if (!names.length) {
      document.getElementById("dmn-editor").textContent = "This draft has no DMN files.";
    }
  }

  async captureDmn() {
    if (this.dmn.modeler && this.dmn.file) {
      const { xml } = await this.dmn.modeler.saveXML({ format: true });
      this.dmn.xml[this.dmn.file] = xml;
    }
  }

  async openDmn(name) {
    const container = document.getElementById("dmn-editor");
    await this.captureDmn();
    if (!this.dmn.modeler) {
      this.dmn.modeler = new DmnModeler({ container });
      window.deskflowDmnModeler = this.dmn.modeler;
      // Each view (DRD, decision table) has its own viewer and command stack, made when
      // first opened: an edit in any of them leaves the draft unsaved.
      this.dmn.modeler.on("views.changed", () => {
        const viewer = this.dmn.modeler.getActiveViewer();
        if (viewer && !viewer.__deskflowWatched) {
          viewer.__deskflowWatched = true;
          viewer.on("commandStack.changed", () => this.markDirty());
        }
      });
    }
    container.dataset.ready = "loading";
    this.dmn.file = name;
    this.dmn.opened = true;
    await this.dmn.modeler.importXML(this.dmn.xml[name]);
    const views = this.dmn.modeler.getViews();
    const table = views.find((view) => view.type === "decisionTable");
    if (table) {
      await this.dmn.modeler.open(table);
    }
    container.dataset.ready = "true";
    this.say(`${name} opened: changes are saved into the draft with Save draft.`);
  }
}

function boot() {
  const root = document.getElementById("modeler-page");
  if (!root) {
    return;
  }
  let page;
  try {
    page = new ModelerPage(root);
  } catch (error) {
    const alert = document.getElementById("modeler-alert");
    alert.textContent = `The modeler cannot start: ${error.message || error}`;
    alert.hidden = false;
    document.getElementById("modeler").dataset.ready = "error";
    return;
  }
  window.deskflowModelerPage = page;
  page.start().catch((error) => {
    page.fail(error);
    page.say("The draft could not be opened.");
    page.canvas.dataset.ready = "error";
  });
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", boot);
} else {
  boot();
}
