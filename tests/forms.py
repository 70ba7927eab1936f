"""A scripted model for exact-output tests of code that asks for JSON under a schema (the agent's forms, the
search's query reader): replies are queued, and a reply the schema would not allow fails the test, as a
constrained decoder would never produce it."""

from __future__ import annotations

import json

from inhouse.models.chat import ScriptedChat


class FormModel(ScriptedChat):
    """Queued JSON replies; records each form's prompt and schema, and refuses a reply the schema's enums do not allow.
    A call without a schema gets its queued reply as it is (`enqueue` plain text for it)."""

    supports_json_schema = True

    def __init__(self, *replies: dict) -> None:
        super().__init__("forms", [json.dumps(r) for r in replies])
        self.schemas: list[dict] = []
        self.prompts: list[str] = []  # each call's last message

    def complete(self, messages, *, json_schema=None, **kwargs):  # noqa: ANN001, ANN003
        self.prompts.append(messages[-1]["content"])
        reply = super().complete(messages, **kwargs)
        if json_schema is not None:
            self.schemas.append(json_schema)
            _check(json.loads(reply.text), json_schema)
        return reply


def _check(value, schema: dict) -> None:  # noqa: ANN001
    """The parts of JSON Schema a constrained decoder would enforce: enum, const, anyOf, arrays, objects."""
    if "anyOf" in schema:
        errors = []
        for option in schema["anyOf"]:
            try:
                return _check(value, option)
            except AssertionError as e:
                errors.append(e)
        raise AssertionError(f"{value!r} matches no option: {errors}")
    if "const" in schema:
        assert value == schema["const"], (value, schema["const"])
    if "enum" in schema:
        assert value in schema["enum"], (value, schema["enum"])
    if schema.get("type") == "object":
        assert set(value) == set(schema["required"]), (sorted(value), schema["required"])
        for k, v in value.items():
            _check(v, schema["properties"][k])
    if schema.get("type") == "array":
        assert len(value) >= schema.get("minItems", 0)
        for v in value:
            _check(v, schema["items"])
