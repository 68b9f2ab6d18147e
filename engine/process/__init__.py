"""The process: definitions (BPMN, DMN, forms) and their checks, deployed versions,
drafts, what changed between two versions, and moving running instances between them."""
