// Deskflow: import BPMN files with bpmn-moddle and the modeler's own spiffworkflow
// descriptor (web/modeler/spiffworkflow.json, the one the browser bundle uses), export them
// again, and print what came out — so a test can check the modeler keeps every
// spiffworkflow: extension the engine reads.
//
//   node web/modeler/roundtrip.mjs FILE.bpmn [FILE.bpmn ...]
//
// Prints one JSON object: {"files": {path: {"xml": exported, "warnings": [..],
// "typed": {"spiffworkflow:serviceTaskOperator": n, ...}}}} (typed: the extension
// elements read as the descriptor's types, so the side panel can edit them). Exits 1 when
// a file cannot be read or written, or moddle warned while reading it (it drops what it
// cannot read, e.g. a spiffworkflow: element the descriptor lacks).
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";

import { BpmnModdle } from "bpmn-moddle";

const here = path.dirname(fileURLToPath(import.meta.url));
const descriptor = JSON.parse(await readFile(path.join(here, "spiffworkflow.json"), "utf8"));
const SPIFF_URI = descriptor.uri;

function collect(element, seen, typed) {
  if (!element || typeof element !== "object" || seen.has(element)) {
    return;
  }
  seen.add(element);
  if (typeof element.$type === "string" && element.$type.startsWith("spiffworkflow:")) {
    typed[element.$type] = (typed[element.$type] || 0) + 1;
  }
  for (const [name, value] of Object.entries(element)) {
    if (name.startsWith("$") && name !== "$children") {
      continue;
    }
    if (Array.isArray(value)) {
      value.forEach((v) => collect(v, seen, typed));
    } else if (value && typeof value === "object" && value.$type) {
      collect(value, seen, typed);
    }
  }
}

async function roundtrip(file) {
  const moddle = new BpmnModdle({ spiffworkflow: descriptor });
  const xml = await readFile(file, "utf8");
  const { rootElement, warnings } = await moddle.fromXML(xml, "bpmn:Definitions");
  const typed = {};
  collect(rootElement, new Set(), typed);
  const { xml: exported } = await moddle.toXML(rootElement, { format: true });
  return {
    xml: exported,
    warnings: warnings.map((w) => w.message),
    typed,
  };
}

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write("usage: node web/modeler/roundtrip.mjs FILE.bpmn [...]\n");
  process.exit(2);
}
const out = { files: {} };
let failed = false;
for (const file of files) {
  try {
    const result = await roundtrip(file);
    out.files[file] = result;
    if (result.warnings.length) {
      // moddle drops what it cannot read (e.g. a spiffworkflow: element the descriptor
      // lacks) with a warning: any warning is a loss.
      failed = true;
      process.stderr.write(`${file}: ${result.warnings.join("; ")}\n`);
    }
  } catch (error) {
    failed = true;
    process.stderr.write(`${file}: ${error && error.stack ? error.stack : error}\n`);
  }
}
// exitCode, not exit(): stdout to a pipe is written asynchronously, and exit() would cut
// a long answer short.
process.stdout.write(JSON.stringify(out));
process.exitCode = failed ? 1 : 0;
