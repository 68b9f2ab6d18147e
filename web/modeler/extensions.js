// Deskflow modeler: read and write what the engine needs on a BPMN element — the
// spiffworkflow: extensions (operator, parameters, properties, message variable, decision)
// and the plain BPMN expressions (timers, conditions) — through bpmn-js's moddle API.
// Every change is one command on bpmn-js's command stack, so Undo (Ctrl+Z) takes it back.
import { is, getBusinessObject } from "bpmn-js/lib/util/ModelUtil";

export const OPERATOR = "spiffworkflow:serviceTaskOperator";
export const PARAMETERS = "spiffworkflow:parameters";
export const PARAMETER = "spiffworkflow:parameter";
export const PROPERTIES = "spiffworkflow:properties";
export const PROPERTY = "spiffworkflow:property";
export const MESSAGE_VARIABLE = "spiffworkflow:messageVariable";
export const CALLED_DECISION = "spiffworkflow:calledDecisionId";
export const TIMER_KINDS = ["timeDate", "timeDuration", "timeCycle"];

export class Extensions {
  constructor(modeler) {
    this.modeling = modeler.get("modeling");
    this.bpmnFactory = modeler.get("bpmnFactory");
    this.moddle = modeler.get("moddle");
  }

  create(type, attrs, parent) {
    const element = this.moddle.create(type, attrs || {});
    if (parent) {
      element.$parent = parent;
    }
    return element;
  }

  // --- extensionElements -------------------------------------------------------------

  find(owner, type) {
    const ext = owner && owner.extensionElements;
    return ext ? (ext.get("values") || []).find((value) => is(value, type)) : undefined;
  }

  add(element, owner, child) {
    let ext = owner.extensionElements;
    if (!ext) {
      ext = this.bpmnFactory.create("bpmn:ExtensionElements", { values: [child] });
      ext.$parent = owner;
      child.$parent = ext;
      this.modeling.updateModdleProperties(element, owner, { extensionElements: ext });
    } else {
      child.$parent = ext;
      this.modeling.updateModdleProperties(element, ext, {
        values: [...ext.get("values"), child],
      });
    }
  }

  remove(element, owner, child) {
    const ext = owner.extensionElements;
    if (ext) {
      this.modeling.updateModdleProperties(element, ext, {
        values: ext.get("values").filter((value) => value !== child),
      });
    }
  }

  // An extension whose content is its text: messageVariable, calledDecisionId.
  body(owner, type) {
    const found = this.find(owner, type);
    return found ? found.value || "" : "";
  }

  setBody(element, owner, type, value) {
    const found = this.find(owner, type);
    if (!value) {
      if (found) {
        this.remove(element, owner, found);
      }
    } else if (found) {
      this.modeling.updateModdleProperties(element, found, { value });
    } else {
      this.add(element, owner, this.create(type, { value }));
    }
  }

  // spiffworkflow:properties / property name="..." value="..."
  property(owner, name) {
    const properties = this.find(owner, PROPERTIES);
    const found = properties && properties.get("properties").find((p) => p.name === name);
    return found ? found.value || "" : "";
  }

  setProperty(element, owner, name, value) {
    const properties = this.find(owner, PROPERTIES);
    const list = properties ? properties.get("properties") : [];
    const found = list.find((p) => p.name === name);
    if (found && value) {
      this.modeling.updateModdleProperties(element, found, { value });
    } else if (found) {
      const rest = list.filter((p) => p !== found);
      if (rest.length) {
        this.modeling.updateModdleProperties(element, properties, { properties: rest });
      } else {
        this.remove(element, owner, properties);
      }
    } else if (value) {
      if (properties) {
        const property = this.create(PROPERTY, { name, value }, properties);
        this.modeling.updateModdleProperties(element, properties, {
          properties: [...list, property],
        });
      } else {
        const created = this.create(PROPERTIES, {});
        created.set("properties", [this.create(PROPERTY, { name, value }, created)]);
        this.add(element, owner, created);
      }
    }
  }

  // --- service task operator -----------------------------------------------------------

  operator(element) {
    return this.find(getBusinessObject(element), OPERATOR);
  }

  parameters(element) {
    const operator = this.operator(element);
    const list = operator && operator.parameterList;
    return list ? list.get("parameters") : [];
  }

  setOperator(element, attrs) {
    const bo = getBusinessObject(element);
    const operator = this.operator(element);
    if (operator) {
      this.modeling.updateModdleProperties(element, operator, attrs);
    } else {
      const created = this.create(OPERATOR, { id: "", ...attrs });
      created.parameterList = this.create(PARAMETERS, {}, created);
      created.parameterList.set("parameters", []);
      this.add(element, bo, created);
    }
  }

  addParameters(element, specs) {
    if (!this.operator(element)) {
      this.setOperator(element, {});
    }
    const operator = this.operator(element);
    let list = operator.parameterList;
    if (!list) {
      list = this.create(PARAMETERS, {}, operator);
      list.set(
        "parameters",
        specs.map((spec) => this.create(PARAMETER, spec, list))
      );
      this.modeling.updateModdleProperties(element, operator, { parameterList: list });
      return;
    }
    const added = specs.map((spec) => this.create(PARAMETER, spec, list));
    this.modeling.updateModdleProperties(element, list, {
      parameters: [...list.get("parameters"), ...added],
    });
  }

  removeParameter(element, parameter) {
    const list = this.operator(element).parameterList;
    this.modeling.updateModdleProperties(element, list, {
      parameters: list.get("parameters").filter((p) => p !== parameter),
    });
  }

  updateParameter(element, parameter, attrs) {
    this.modeling.updateModdleProperties(element, parameter, attrs);
  }

  // --- timers ----------------------------------------------------------------------------

  timerDefinition(element) {
    const definitions = getBusinessObject(element).get("eventDefinitions") || [];
    return definitions.find((d) => is(d, "bpmn:TimerEventDefinition"));
  }

  timer(element) {
    const definition = this.timerDefinition(element);
    if (!definition) {
      return null;
    }
    const kind = TIMER_KINDS.find((k) => definition[k]) || "timeDuration";
    const expression = definition[kind];
    return { definition, kind, body: (expression && expression.body) || "" };
  }

  setTimer(element, kind, body) {
    const definition = this.timerDefinition(element);
    const expression = this.bpmnFactory.create("bpmn:FormalExpression", { body });
    expression.$parent = definition;
    const attrs = {};
    for (const k of TIMER_KINDS) {
      attrs[k] = k === kind ? expression : undefined;
    }
    this.modeling.updateModdleProperties(element, definition, attrs);
  }

  // --- messages --------------------------------------------------------------------------

  messageDefinition(element) {
    const definitions = getBusinessObject(element).get("eventDefinitions") || [];
    return definitions.find((d) => is(d, "bpmn:MessageEventDefinition"));
  }

  // --- sequence flows ----------------------------------------------------------------------

  condition(element) {
    const expression = getBusinessObject(element).conditionExpression;
    return expression ? expression.body || "" : "";
  }

  setCondition(element, body) {
    if (!body) {
      this.modeling.updateProperties(element, { conditionExpression: undefined });
      return;
    }
    const expression = this.bpmnFactory.create("bpmn:FormalExpression", { body });
    this.modeling.updateProperties(element, { conditionExpression: expression });
  }

  isDefault(element) {
    const source = element.source && getBusinessObject(element.source);
    return Boolean(source && source.default === getBusinessObject(element));
  }

  setDefault(element, yes) {
    this.modeling.updateProperties(element.source, {
      default: yes ? getBusinessObject(element) : undefined,
    });
  }
}
