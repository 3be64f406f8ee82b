import { describe, expect, it } from "vitest";
import { Code, ConnectError, invalidArgument } from "@hookd/client";
import { apiError, errorFor, fullUrl, parseJsonObject } from "../src/api";

describe("apiError", () => {
  it("takes the field of an invalid_argument error from its google.rpc.BadRequest detail", () => {
    const err = apiError(invalidArgument("headers[0].name", "is required"));
    expect(err).toEqual({ field: "headers[0].name", message: "is required", code: Code.InvalidArgument });
    expect(errorFor(err, "headers")).toBe("is required");
  });

  it("does not read a field out of a message without the detail", () => {
    const err = apiError(new ConnectError("url: must be https", Code.InvalidArgument));
    expect(err).toEqual({ message: "url: must be https", code: Code.InvalidArgument });
  });

  it("still names the field of already_exists (the server attaches no detail there)", () => {
    const err = apiError(new ConnectError('system_name: "crm" is already used by another webhook of the project', Code.AlreadyExists));
    expect(err.field).toBe("system_name");
  });

  it("names the field of the console's own checks the same way", () => {
    let thrown: unknown;
    try {
      parseJsonObject("[1]", "sample_payload");
    } catch (e) {
      thrown = e;
    }
    expect(apiError(thrown)).toEqual({ field: "sample_payload", message: "must be a JSON object", code: Code.InvalidArgument });
  });
});

describe("fullUrl", () => {
  it("joins as the server does", () => {
    expect(fullUrl("", "/a", "https://api.example/api//")).toBe("https://api.example/api//a");
    expect(fullUrl("", "a", "https://api.example/v1")).toBe("https://api.example/v1/a");
  });

  it("shows the typed path while no integration is chosen", () => {
    expect(fullUrl("", "/a", undefined)).toBe("/a");
  });
});
