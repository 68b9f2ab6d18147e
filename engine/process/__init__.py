"""The process: definitions (BPMN, DMN, forms) and their checks, deployed versions,
drafts, and what changed between two versions."""
