// Deskflow modeler: the side panel for the selected element. It edits what the engine
// runs, not only shapes: a service task's operator, parameters and result variable, a
// user task's form, an element's incident state, timer expressions, a gateway flow's
// condition, a business rule task's decision, a message event's variable, and names.
// Plain DOM, every input labelled; changes apply on `change` (Enter, Tab, or picking a
// value) as bpmn-js commands, so Ctrl+Z undoes them.
import { is, getBusinessObject } from "bpmn-js/lib/util/ModelUtil";

import {
  Extensions,
  CALLED_DECISION,
  MESSAGE_VARIABLE,
} from "./extensions.js";

const PARAMETER_TYPES = ["str", "int", "float", "bool", "dict", "list", "any"];
const TIMER_LABELS = {
  timeDate: "At a date and time (timeDate)",
  timeDuration: "After a duration (timeDuration)",
  timeCycle: "Repeating cycle (timeCycle)",
};
const CONDITIONAL_SOURCES = [
  "bpmn:ExclusiveGateway",
  "bpmn:InclusiveGateway",
  "bpmn:ComplexGateway",
  "bpmn:Activity",
];

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (name.startsWith("on")) {
      node.addEventListener(name.slice(2), value);
    } else if (name === "value") {
      node.value = value;
    } else if (name === "checked") {
      node.checked = Boolean(value);
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null && child !== false) {
      node.append(child);
    }
  }
  return node;
}

function typeLabel(element) {
  const type = (getBusinessObject(element).$type || "").replace(/^bpmn:/, "");
  return type.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase().replace(/^./, (c) => c.toUpperCase());
}

// The first paragraph of an operator's doc, at most about two lines of the panel.
function summary(doc) {
  const first = (doc || "").trim().split(/\n\s*\n/)[0].replace(/\s+/g, " ");
  return first.length > 160 ? first.slice(0, first.lastIndexOf(" ", 157)) + " …" : first;
}

export class ElementPanel {
  /**
   * @param {HTMLElement} container the <aside> the panel draws into
   * @param modeler the bpmn-js Modeler
   * @param {{operators: Array, forms: string[]}} context
   */
  constructor(container, modeler, context) {
    this.container = container;
    this.modeler = modeler;
    this.context = context;
    this.ext = new Extensions(modeler);
    this.element = null;
    this.pending = null;
    const eventBus = modeler.get("eventBus");
    eventBus.on("selection.changed", (event) => {
      const selected = event.newSelection || [];
      this.element = selected.length === 1 ? selected[0] : null;
      this.multiple = selected.length > 1 ? selected.length : 0;
      this.schedule();
    });
    eventBus.on("commandStack.changed", () => this.schedule());
    eventBus.on("import.done", () => {
      this.element = null;
      this.schedule();
    });
    this.render();
  }

  setContext(context) {
    this.context = { ...this.context, ...context };
    this.schedule();
  }

  // Redraw after the event that caused it has finished (a `change` fired by Tab has moved
  // the focus by then, and the focus is kept on the same field after the redraw).
  schedule() {
    if (this.pending) {
      return;
    }
    this.pending = setTimeout(() => {
      this.pending = null;
      this.render();
    }, 0);
  }

  apply(action) {
    try {
      action();
    } catch (error) {
      this.showError(`That change could not be made: ${error.message || error}`);
    }
  }

  showError(message) {
    const note = this.container.querySelector(".panel-error");
    if (note) {
      note.textContent = message;
      note.hidden = false;
    }
  }

  render() {
    const active = document.activeElement;
    const focusedId = active && this.container.contains(active) ? active.id : null;
    const body = this.container.querySelector(".panel-body");
    body.replaceChildren(...this.content());
    if (focusedId) {
      const again = document.getElementById(focusedId);
      if (again) {
        again.focus();
      }
    }
  }

  content() {
    const error = h("p", { class: "panel-error", role: "alert", hidden: true });
    const element = this.element;
    const registry = this.modeler.get("elementRegistry");
    if (element && !registry.get(element.id)) {
      this.element = null; // removed meanwhile
    }
    if (this.multiple) {
      return [h("p", { class: "hint" }, `${this.multiple} elements selected: select one to edit it.`)];
    }
    if (!this.element || this.element.type === "label") {
      if (this.element && this.element.labelTarget) {
        this.element = this.element.labelTarget;
      } else {
        return [
          h(
            "p",
            { class: "hint" },
            "Select an element in the diagram (click it) to edit its name and what the " +
              "engine does there: operators, forms, timers, conditions."
          ),
        ];
      }
    }
    const el = this.element;
    const bo = getBusinessObject(el);
    const parts = [
      error,
      h(
        "p",
        { class: "panel-kind" },
        h("strong", {}, typeLabel(el)),
        " ",
        h("code", { "data-element-id": el.id }, el.id)
      ),
    ];
    if (!is(el, "bpmn:Process") && !is(el, "bpmn:Collaboration")) {
      parts.push(
        this.text("name", "Name", bo.name || "", (value) =>
          this.modeler.get("modeling").updateLabel(el, value)
        )
      );
    }
    if (is(el, "bpmn:ServiceTask")) {
      parts.push(this.operatorSection(el));
    }
    if (is(el, "bpmn:UserTask")) {
      parts.push(this.formField(el, bo));
    }
    if (is(el, "bpmn:BusinessRuleTask")) {
      parts.push(
        this.text(
          "decision",
          "Decision (DMN decision id)",
          this.ext.body(bo, CALLED_DECISION),
          (value) => this.ext.setBody(el, bo, CALLED_DECISION, value),
          "The decision table to evaluate, e.g. priority (see the DMN tab)."
        )
      );
    }
    if (this.ext.timerDefinition(el)) {
      parts.push(this.timerSection(el));
    }
    const message = this.ext.messageDefinition(el);
    if (message) {
      parts.push(
        this.text(
          "message-variable",
          "Message variable",
          this.ext.body(message, MESSAGE_VARIABLE),
          (value) => this.ext.setBody(el, message, MESSAGE_VARIABLE, value),
          "The process variable that receives the message's payload."
        )
      );
    }
    if (is(el, "bpmn:FlowNode")) {
      parts.push(
        this.text(
          "incident-state",
          "Incident state",
          this.ext.property(bo, "incident_state"),
          (value) => this.ext.setProperty(el, bo, "incident_state", value),
          "The incident's state while it waits here (e.g. In Progress); empty: unchanged."
        )
      );
    }
    if (is(el, "bpmn:SequenceFlow")) {
      parts.push(...this.flowFields(el));
    }
    if (is(el, "bpmn:Lane") || is(el, "bpmn:Participant")) {
      parts.push(
        h(
          "p",
          { class: "hint" },
          "Lanes decide which queue a user task reaches. Use the lane's tools on the " +
            "diagram (click the lane) to add or split lanes."
        )
      );
    }
    return parts;
  }

  // --- fields ------------------------------------------------------------------------------

  id(key) {
    return `df-field-${key}`;
  }

  text(key, label, value, commit, hint, extra) {
    const id = this.id(key);
    const hintId = hint ? `${id}-hint` : undefined;
    const input = h("input", {
      type: "text",
      id,
      value,
      "aria-describedby": hintId,
      autocomplete: "off",
      spellcheck: "false",
      onchange: (event) => {
        const next = event.target.value.trim();
        const before = event.target.dataset.committed ?? value;
        if (next !== before) {
          event.target.dataset.committed = next;
          this.apply(() => commit(next));
        }
      },
      // Picking a suggestion of a combobox (datalist) applies at once.
      oninput: (extra || {}).list
        ? (event) => {
            const picked = !event.inputType || event.inputType === "insertReplacementText";
            const list = document.getElementById(extra.list);
            const choices = list ? Array.from(list.options, (o) => o.value) : [];
            if (picked && choices.includes(event.target.value)) {
              event.target.dispatchEvent(new Event("change"));
            }
          }
        : undefined,
      ...(extra || {}),
    });
    return h(
      "div",
      { class: "field" },
      h("label", { for: id }, label),
      input,
      hint ? h("p", { class: "hint", id: hintId }, hint) : null
    );
  }

  select(key, label, value, options, commit, hint) {
    const id = this.id(key);
    const hintId = hint ? `${id}-hint` : undefined;
    const control = h(
      "select",
      {
        id,
        "aria-describedby": hintId,
        onchange: (event) => {
          if (event.target.value !== value) {
            this.apply(() => commit(event.target.value));
          }
        },
      },
      options.map(([optionValue, optionLabel]) =>
        h("option", { value: optionValue, selected: optionValue === value }, optionLabel)
      )
    );
    control.value = value;
    return h(
      "div",
      { class: "field" },
      h("label", { for: id }, label),
      control,
      hint ? h("p", { class: "hint", id: hintId }, hint) : null
    );
  }

  // --- service task ------------------------------------------------------------------------

  operatorSection(el) {
    const operator = this.ext.operator(el);
    const name = operator ? operator.id || "" : "";
    const known = (this.context.operators || []).find((o) => o.name === name);
    let hint;
    if (!name) {
      hint = "Pick the handler that runs here, or type its name.";
    } else if (known) {
      hint = summary(known.doc) || "A known operator.";
    } else if ((this.context.operators || []).length) {
      hint = `No handler provides '${name}': validation will report it.`;
    }
    const fieldset = h(
      "fieldset",
      { class: "operator" },
      h("legend", {}, "Service task operator"),
      this.text(
        "operator",
        "Operator",
        name,
        (value) => this.ext.setOperator(el, { id: value }),
        hint,
        { list: "df-operator-names" }
      ),
      this.text(
        "result-variable",
        "Result variable",
        (operator && operator.resultVariable) || "",
        (value) => this.ext.setOperator(el, { resultVariable: value || undefined }),
        "The process variable that receives what the operator returns."
      ),
      known && known.doc && summary(known.doc) !== known.doc.trim()
        ? h(
            "details",
            { class: "operator-doc" },
            h("summary", {}, `More about ${known.name}`),
            h("p", { class: "hint doc" }, known.doc)
          )
        : null,
      this.parametersFieldset(el, known)
    );
    return fieldset;
  }

  parametersFieldset(el, known) {
    const parameters = this.ext.parameters(el);
    const rows = parameters.map((parameter, index) => {
      const key = `param-${index}`;
      const label = parameter.id || `parameter ${index + 1}`;
      return h(
        "li",
        { class: "parameter" },
        this.text(`${key}-name`, `Name of parameter ${index + 1}`, parameter.id || "", (value) =>
          this.ext.updateParameter(el, parameter, { id: value })
        ),
        this.text(
          `${key}-type`,
          `Type of parameter ${label}`,
          parameter.type || "",
          (value) => this.ext.updateParameter(el, parameter, { type: value }),
          undefined,
          { list: "df-parameter-types" }
        ),
        this.text(
          `${key}-value`,
          `Value expression of parameter ${label}`,
          parameter.value || "",
          (value) => this.ext.updateParameter(el, parameter, { value }),
          undefined,
          { class: "expression" }
        ),
        h(
          "button",
          {
            type: "button",
            class: "small",
            id: this.id(`${key}-remove`),
            onclick: () => this.apply(() => this.ext.removeParameter(el, parameter)),
          },
          `Remove parameter ${label}`
        )
      );
    });
    const present = new Set(parameters.map((p) => p.id));
    const expected = known ? known.parameters || [] : [];
    const missing = expected.filter((p) => p.required && !present.has(p.name));
    const optional = expected.filter((p) => !p.required && !present.has(p.name));
    return h(
      "fieldset",
      { class: "parameters" },
      h("legend", {}, "Parameters"),
      rows.length
        ? h("ol", { class: "parameter-list" }, rows)
        : h("p", { class: "hint" }, "No parameters."),
      h(
        "button",
        {
          type: "button",
          class: "small",
          id: this.id("param-add"),
          onclick: () =>
            this.apply(() =>
              this.ext.addParameters(el, [
                { id: `param_${parameters.length + 1}`, type: "str", value: '""' },
              ])
            ),
        },
        "Add parameter"
      ),
      missing.length
        ? h(
            "button",
            {
              type: "button",
              class: "small",
              id: this.id("param-add-missing"),
              onclick: () =>
                this.apply(() =>
                  this.ext.addParameters(
                    el,
                    missing.map((p) => ({ id: p.name, type: "str", value: '""' }))
                  )
                ),
            },
            `Add ${known.name}'s required parameters: ${missing.map((p) => p.name).join(", ")}`
          )
        : null,
      optional.length
        ? h(
            "p",
            { class: "hint" },
            `Optional for ${known.name}: ` +
              optional
                .map((p) => (p.default === null || p.default === undefined
                  ? p.name
                  : `${p.name} (default ${JSON.stringify(p.default)})`))
                .join(", ")
          )
        : null
    );
  }

  // --- user task ---------------------------------------------------------------------------

  formField(el, bo) {
    const value = this.ext.property(bo, "form");
    const forms = [...(this.context.forms || [])].sort();
    const options = [["", "(no form)"], ...forms.map((f) => [f, f])];
    if (value && !forms.includes(value)) {
      options.push([value, `${value} (not in this draft)`]);
    }
    return this.select(
      "form",
      "Form",
      value,
      options,
      (next) => this.ext.setProperty(el, bo, "form", next),
      "The form the assignee fills in (JSON Schema in the draft's forms)."
    );
  }

  // --- timers ------------------------------------------------------------------------------

  timerSection(el) {
    const timer = this.ext.timer(el);
    return h(
      "fieldset",
      { class: "timer" },
      h("legend", {}, "Timer"),
      this.select(
        "timer-kind",
        "When it fires",
        timer.kind,
        Object.entries(TIMER_LABELS),
        (kind) => this.ext.setTimer(el, kind, timer.body)
      ),
      this.text(
        "timer-expression",
        "Timer expression",
        timer.body,
        (value) => this.ext.setTimer(el, timer.kind, value),
        'An expression giving an ISO 8601 value, e.g. sla["warning_at"] or "PT4H".',
        { class: "expression" }
      )
    );
  }

  // --- sequence flows ----------------------------------------------------------------------

  flowFields(el) {
    const source = el.source;
    const parts = [];
    if (source && CONDITIONAL_SOURCES.some((type) => is(source, type))) {
      const isDefault = this.ext.isDefault(el);
      parts.push(
        this.text(
          "condition",
          "Condition expression",
          this.ext.condition(el),
          (value) => this.ext.setCondition(el, value),
          isDefault
            ? "This is the default flow: taken when no other condition holds."
            : "A Python expression over process variables, e.g. priority == 1.",
          { class: "expression" }
        )
      );
      if (!is(source, "bpmn:Activity")) {
        const id = this.id("default-flow");
        parts.push(
          h(
            "div",
            { class: "field" },
            h(
              "label",
              { class: "choice", for: id },
              h("input", {
                type: "checkbox",
                id,
                checked: isDefault,
                onchange: (event) =>
                  this.apply(() => this.ext.setDefault(el, event.target.checked)),
              }),
              " Default flow of the gateway"
            )
          )
        );
      }
    }
    return parts;
  }
}

export function operatorList(operators) {
  return h(
    "datalist",
    { id: "df-operator-names" },
    operators.map((o) => h("option", { value: o.name }, o.doc ? o.doc.split("\n")[0] : null))
  );
}

export function parameterTypeList() {
  return h(
    "datalist",
    { id: "df-parameter-types" },
    PARAMETER_TYPES.map((t) => h("option", { value: t }))
  );
}

export { h };
