// Compiled (never run) by scripts/lint-contract against the types that
// openapi-typescript generates from openapi.yaml into generated/: it fails
// when the contract stops letting a typed client say what real clients send.
import type { components, paths } from "./generated/steward";

type ChangeCreateBody =
  paths["/api/projects/{project_code}/environments/{environment_code}/changes"]["post"]["requestBody"]["content"]["application/vnd.api+json"];

// metadata and property_overrides are free-form: any keys, any JSON values.
export const create: ChangeCreateBody = {
  data: {
    type: "change",
    attributes: {
      action: "deploy",
      git_remote_name: "ops",
      git_rev: "main",
      metadata: { ticket: "OPS-42", requested_by: { team: "payments" }, retries: 2 },
      property_overrides: { db: { host: "db.dev" } },
    },
  },
};

// The typed client still refuses what the server refuses: an unknown attribute.
export const unknownAttribute: ChangeCreateBody = {
  data: {
    attributes: {
      action: "deploy",
      // @ts-expect-error: not an attribute of a change
      colour: "blue",
    },
  },
};

// A change read back carries the same metadata.
export function ticketOf(change: components["schemas"]["Change"]): unknown {
  return change.attributes.metadata["ticket"];
}

// A custom event carries any attributes besides its type.
export const event: NonNullable<paths["/api/events"]["post"]["requestBody"]>["content"]["application/vnd.api+json"] = {
  data: { type: "event", attributes: { type: "deploy:approved", ticket: "OPS-42", reviewers: ["ana", "bo"] } },
};

// ...and reads back with them.
export function reviewersOf(ev: components["schemas"]["Event"]): unknown {
  return ev.attributes["reviewers"];
}
