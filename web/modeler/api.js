// Deskflow modeler: the process owner's JSON endpoints (web/process_api.py), with the session's
// CSRF token on every change and failures turned into sentences.

const REASONS = {
  400: "the request was refused",
  401: "you are not logged in any more (log in again in another tab, then retry)",
  403: "your account may not change the process (process owners only)",
  404: "it does not exist (any more)",
  409: "someone else changed it meanwhile (reload the page)",
  413: "the diagram is too large to send",
  422: "the process has problems",
  500: "the server failed",
  502: "the server cannot be reached",
  503: "the server is not available",
  504: "the server did not answer in time",
};

export class ApiError extends Error {
  constructor(message, status, body) {
    super(message);
    this.status = status;
    this.body = body || {};
    this.problems = Array.isArray(this.body.problems) ? this.body.problems : [];
  }
}

export class Api {
  constructor(base, csrfToken) {
    this.base = base.replace(/\/$/, "");
    this.csrfToken = csrfToken;
  }

  async request(method, path, body, what) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") {
      headers["X-CSRF-Token"] = this.csrfToken;
    }
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(this.base + path, {
        method,
        credentials: "same-origin",
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new ApiError(
        `${what} failed: the server cannot be reached (${error.message || error}).`,
        0
      );
    }
    let data = null;
    const text = await response.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (error) {
        data = null;
      }
    }
    if (!response.ok) {
      const reason = REASONS[response.status] || "the server refused it";
      const detail = data && typeof data.error === "string" ? `: ${data.error}` : "";
      throw new ApiError(
        `${what} failed — ${reason} (HTTP ${response.status}${
          response.statusText ? " " + response.statusText : ""
        })${detail}.`,
        response.status,
        data
      );
    }
    if (data === null && text) {
      throw new ApiError(`${what} failed: the server's answer is not JSON.`, response.status);
    }
    return data;
  }

  operators() {
    return this.request("GET", "/api/operators", undefined, "Loading the operators");
  }

  createDraft(baseVersion) {
    return this.request(
      "POST",
      "/api/drafts",
      { base_version: baseVersion },
      `Opening version ${baseVersion} as a draft`
    );
  }

  draft(id) {
    return this.request("GET", `/api/drafts/${id}`, undefined, `Loading draft ${id}`);
  }

  saveDraft(id, changes) {
    return this.request("PUT", `/api/drafts/${id}`, changes, "Saving the draft");
  }

  validate(id) {
    return this.request("POST", `/api/drafts/${id}/validate`, {}, "Validating");
  }

  deploy(id, comment) {
    return this.request("POST", `/api/drafts/${id}/deploy`, { comment }, "Deploying");
  }
}
