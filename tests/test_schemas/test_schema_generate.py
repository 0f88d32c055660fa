"""schemas.generate: the committed JSON Schema files are current, valid draft 2020-12, and agree with the models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from schemas import InputModel, OutputModel, OutputPart
from schemas.examples import example_payload
from schemas.generate import (
    JSON_SCHEMA_DIALECT,
    MESSAGE_MODELS,
    SCHEMA_DIR,
    SCHEMA_SUFFIX,
    main,
    render_schemas,
    stale_files,
    write_schemas,
)

SCHEMA_FILES = sorted(f"{stem}{SCHEMA_SUFFIX}" for stem in MESSAGE_MODELS)


def _load(name: str) -> dict:
    return json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))


def test_committed_files_are_current() -> None:
    # Fails after a model change until `python -m schemas.generate` is run and the result committed.
    assert stale_files(SCHEMA_DIR) == []
    assert sorted(p.name for p in SCHEMA_DIR.glob(f"*{SCHEMA_SUFFIX}")) == SCHEMA_FILES


def test_check_mode_passes_on_the_repository(capsys) -> None:
    assert main(["--check"]) == 0
    assert capsys.readouterr().err == ""


def test_rendering_is_deterministic_and_canonical() -> None:
    first, second = render_schemas(), render_schemas()
    assert first == second
    for name, text in first.items():
        assert text.endswith("}\n") and not text.endswith("\n\n"), name
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n", name


def test_write_then_check_in_an_empty_directory(tmp_path: Path) -> None:
    target = tmp_path / "json"
    assert main(["--check", "--dir", str(target)]) == 1  # nothing there yet
    assert write_schemas(target) == SCHEMA_FILES
    assert write_schemas(target) == []  # regeneration changes nothing
    assert main(["--check", "--dir", str(target)]) == 0


def test_check_reports_a_changed_file_and_write_repairs_it(tmp_path: Path, capsys) -> None:
    write_schemas(tmp_path)
    edited = tmp_path / "goal_event.schema.json"
    edited.write_text(edited.read_text(encoding="utf-8").replace('"maxLength": 128', '"maxLength": 129'))
    assert stale_files(tmp_path) == ["goal_event.schema.json"]
    assert main(["--check", "--dir", str(tmp_path)]) == 1
    assert "goal_event.schema.json" in capsys.readouterr().err
    assert main(["--dir", str(tmp_path)]) == 0
    assert edited.read_text(encoding="utf-8") == render_schemas()["goal_event.schema.json"]


def test_write_deletes_orphaned_schema_files_only(tmp_path: Path) -> None:
    write_schemas(tmp_path)
    (tmp_path / "retired_event.schema.json").write_text("{}\n")
    (tmp_path / "README.md").write_text("kept\n")
    assert stale_files(tmp_path) == ["retired_event.schema.json"]
    assert write_schemas(tmp_path) == ["retired_event.schema.json"]
    assert not (tmp_path / "retired_event.schema.json").exists()
    assert (tmp_path / "README.md").read_text() == "kept\n"


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schema_file_is_valid_draft_2020_12(name: str) -> None:
    schema = _load(name)
    assert schema["$schema"] == JSON_SCHEMA_DIALECT
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(("stem", "model"), MESSAGE_MODELS.items(), ids=list(MESSAGE_MODELS))
def test_example_instance_validates_against_its_schema(stem: str, model) -> None:
    schema = _load(f"{stem}{SCHEMA_SUFFIX}")
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    instance = example_payload(model)
    validator.validate(instance)
    assert schema["examples"] == [instance]
    # What the model writes validates too (outputs: every field present, defaults included).
    validator.validate(json.loads(model.model_validate(instance).model_dump_json()))


@pytest.mark.parametrize(("stem", "model"), MESSAGE_MODELS.items(), ids=list(MESSAGE_MODELS))
def test_unknown_field_policy_is_in_the_schema(stem: str, model) -> None:
    schema = _load(f"{stem}{SCHEMA_SUFFIX}")
    extended = {**example_payload(model), "added_field": "x"}
    valid = Draft202012Validator(schema).is_valid(extended)
    if issubclass(model, InputModel):
        assert valid and "additionalProperties" not in schema
    else:
        assert issubclass(model, OutputModel)
        assert not valid and schema["additionalProperties"] is False


def test_nested_output_parts_forbid_extra_fields_in_the_schema() -> None:
    definitions = _load("survey_prompt.schema.json")["$defs"]
    assert issubclass(MESSAGE_MODELS["survey_prompt"].model_fields["scale"].annotation, OutputPart)
    assert definitions["ScaleSpec"]["additionalProperties"] is False
    assert definitions["ScaleLabel"]["additionalProperties"] is False
    assert "schema_version" not in definitions["ScaleSpec"]["properties"]


@pytest.mark.parametrize(("stem", "model"), MESSAGE_MODELS.items(), ids=list(MESSAGE_MODELS))
def test_output_schemas_mark_every_field_required(stem: str, model) -> None:
    schema = _load(f"{stem}{SCHEMA_SUFFIX}")
    if issubclass(model, OutputModel):
        assert set(schema["required"]) == set(model.model_fields)
    else:
        assert "schema_version" not in schema["required"]
