"""The goal registry: the example file, lookups per locale, defaults, and every kind of bad file."""

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas.survey_prompt import ScaleKind, ScaleLabel
from stream.ces.registry.loader import load_registry
from stream.ces.registry.model import GoalRegistry
from stream.ces.registry.scales import Sentiment
from stream.errors import CesError, RegistryError
from tests.paths import PROJECT_ROOT

EXAMPLE = PROJECT_ROOT / "deploy" / "goals.yaml"
EXAMPLE_SLUGS = (
    "download-invoice",
    "view-policy",
    "file-claim",
    "change-address",
    "complete-purchase",
    "return-product",
    "finish-onboarding",
    "use-new-feature",
    "resolve-support-problem",
    "chat-with-support",
)


def _goal(slug: str, **fields: Any) -> dict[str, Any]:
    goal: dict[str, Any] = {
        "slug": slug,
        "display_name": {"en": slug, "nl": slug},
        "question": {
            "en": f"How difficult or easy was it for you to {slug}?",
            "nl": f"Hoe moeilijk of gemakkelijk was het voor u om {slug}?",
        },
        "follow_up_question": {
            "en": "What could we do to make this easier?",
            "nl": "Wat kunnen we doen om dit makkelijker te maken?",
        },
        "scale": {"kind": "five_point"},
        "sampling": {"rate": 0.5},
    }
    goal.update(fields)
    return goal


def _registry(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": 1,
        "defaults": {"user_cooldown_seconds": 3600},
        "goals": [_goal("download-invoice"), _goal("file-claim")],
    }
    data.update(fields)
    return data


def _write(tmp_path: Path, data: Any, name: str = "goals.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


# --- the example registry -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example() -> GoalRegistry:
    return load_registry(EXAMPLE)


def test_example_has_all_ten_goals_in_file_order(example: GoalRegistry) -> None:
    assert example.slugs == EXAMPLE_SLUGS
    assert all(example.get(slug).slug == slug for slug in EXAMPLE_SLUGS)


def test_example_uses_every_ces_scale_kind(example: GoalRegistry) -> None:
    kinds = {example.get(slug).scale_obj().kind for slug in example.slugs}
    assert kinds == set(ScaleKind) - {ScaleKind.zero_to_ten, ScaleKind.yes_no}


def test_example_has_a_target_sampled_goal(example: GoalRegistry) -> None:
    targeted = [slug for slug in example.slugs if example.get(slug).sampling.target_answers_per_day is not None]
    assert targeted == ["complete-purchase"]
    assert example.get("complete-purchase").sampling.rate is None


def test_example_view_policy_asks_about_effort_on_the_inverted_scale(example: GoalRegistry) -> None:
    goal = example.get("view-policy")
    scale = goal.scale_obj()
    assert scale.kind is ScaleKind.five_point_inverted and scale.inverted
    assert [scale.classify(score) for score in scale.points] == [
        Sentiment.positive,
        Sentiment.positive,
        Sentiment.neutral,
        Sentiment.negative,
        Sentiment.negative,
    ]
    assert goal.question_for("nl") == "Hoeveel moeite moest u persoonlijk doen om uw polis in te zien?"
    assert goal.question_for("en") == "How much effort did you personally have to put in to view your policy?"


def test_example_five_point_goal_uses_domain_wording(example: GoalRegistry) -> None:
    goal = example.get("download-invoice")
    assert goal.question_for("nl") == "Hoe moeilijk of gemakkelijk was het voor u om uw factuur te downloaden?"
    assert goal.question_for("en") == "How difficult or easy was it for you to download your invoice?"
    assert goal.follow_up_for("nl") == "Wat kunnen we doen om dit makkelijker te maken?"
    assert goal.follow_up_for("en") == "What could we do to make this easier?"


@pytest.mark.parametrize("slug", EXAMPLE_SLUGS)
@pytest.mark.parametrize("locale", ["nl", "en", "nl-NL", "de"])
def test_example_goal_renders_in_every_locale(example: GoalRegistry, slug: str, locale: str) -> None:
    goal = example.get(slug)
    assert goal.question_for(locale).endswith("?")
    assert goal.follow_up_for(locale).endswith("?")
    spec = goal.scale_spec_for(locale)
    scale = goal.scale_obj()
    assert (spec.kind, spec.min_score, spec.max_score, spec.inverted) == (
        scale.kind,
        scale.min_score,
        scale.max_score,
        scale.inverted,
    )
    assert spec.labels and all(scale.contains(label.value) for label in spec.labels)


def test_example_defaults(example: GoalRegistry) -> None:
    assert example.user_cooldown_seconds == 86400
    goal = example.get("return-product")  # sets none of the defaulted fields itself
    assert goal.prompt_expiry_seconds == 1800
    assert goal.max_event_age_seconds == 300
    assert goal.sampling.rate == 0.25
    assert goal.cooldowns.user_goal_seconds == 604800
    assert goal.target_ces_ratio == 0.75
    assert goal.triggers.completed and goal.triggers.abandoned
    assert example.get("file-claim").triggers.inferred_abandonment.enabled is True


def test_example_custom_positive_set(example: GoalRegistry) -> None:
    scale = example.get("finish-onboarding").scale_obj()
    assert scale.positive == frozenset({6, 7})
    assert scale.classify(5) is Sentiment.neutral


def test_get_unknown_goal_is_none(example: GoalRegistry) -> None:
    assert example.get("no-such-goal") is None


# --- locale lookups -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("nl", "nl text"),
        ("nl-BE", "nl-BE text"),  # exact locale first
        ("nl-NL", "nl text"),  # then its language
        ("en-GB", "en text"),
        ("de", "fr text"),  # then locale_fallback
        ("de-AT", "fr text"),
    ],
)
def test_question_locale_fallback(tmp_path: Path, locale: str, expected: str) -> None:
    texts = {"nl": "nl text", "nl-BE": "nl-BE text", "en": "en text", "fr": "fr text"}
    data = _registry(goals=[_goal("file-claim", question=texts, follow_up_question=texts, locale_fallback="fr")])
    goal = load_registry(_write(tmp_path, data)).get("file-claim")
    assert goal.question_for(locale) == expected
    assert goal.follow_up_for(locale) == expected


@pytest.mark.parametrize(
    ("kind", "locale", "expected"),
    [
        ("five_point", "en", [(1, "Very difficult"), (2, "Somewhat difficult"), (3, "Neutral"),
                              (4, "Somewhat easy"), (5, "Very easy")]),
        ("five_point", "nl-NL", [(1, "Zeer moeilijk"), (2, "Enigszins moeilijk"), (3, "Neutraal"),
                                 (4, "Enigszins gemakkelijk"), (5, "Zeer gemakkelijk")]),
        ("five_point_inverted", "en", [(1, "Very little effort"), (2, "Little effort"), (3, "Some effort"),
                                       (4, "Much effort"), (5, "Very much effort")]),
        ("emoticon", "en", [(1, "Unhappy"), (2, "Neutral"), (3, "Happy")]),
        ("emoticon", "nl", [(1, "Ongelukkig"), (2, "Neutraal"), (3, "Vrolijk")]),
        ("ten_point", "en", [(1, "Very difficult"), (10, "Very easy")]),
        ("ten_point", "de", [(1, "Very difficult"), (10, "Very easy")]),  # fallback en
    ],
)  # fmt: skip
def test_default_labels_per_kind(tmp_path: Path, kind: str, locale: str, expected: list[tuple[int, str]]) -> None:
    data = _registry(goals=[_goal("file-claim", scale={"kind": kind})])
    spec = load_registry(_write(tmp_path, data)).get("file-claim").scale_spec_for(locale)
    assert spec.kind is ScaleKind(kind)
    assert [(label.value, label.label) for label in spec.labels] == expected


def test_seven_point_default_labels_cover_every_point(tmp_path: Path) -> None:
    data = _registry(goals=[_goal("file-claim", scale={"kind": "seven_point"})])
    spec = load_registry(_write(tmp_path, data)).get("file-claim").scale_spec_for("en")
    assert [label.value for label in spec.labels] == list(range(1, 8))
    assert (spec.labels[0].label, spec.labels[-1].label) == ("Very difficult", "Very easy")


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("nl", "Heel blij"), ("nl-BE", "Heel blij"), ("en", "Very happy"), ("de", "Very happy")],
)
def test_configured_labels_win_over_defaults(tmp_path: Path, locale: str, expected: str) -> None:
    scale = {"kind": "emoticon", "labels": {"nl": {3: "Heel blij"}, "en": {3: "Very happy"}}}
    data = _registry(goals=[_goal("file-claim", scale=scale)])
    spec = load_registry(_write(tmp_path, data)).get("file-claim").scale_spec_for(locale)
    assert spec.labels == [ScaleLabel(value=3, label=expected)]


# --- defaults -------------------------------------------------------------------------------------


def test_defaults_merge_under_goals_and_goal_fields_win(tmp_path: Path) -> None:
    data = _registry(
        defaults={
            "user_cooldown_seconds": 7200,
            "prompt_expiry_seconds": 600,
            "sampling": {"rate": 0.1},
            "scale": {"kind": "seven_point"},
            "locale_fallback": "nl",
        },
        goals=[
            {key: value for key, value in _goal("download-invoice").items() if key not in ("sampling", "scale")},
            _goal(
                "file-claim",
                prompt_expiry_seconds=60,
                sampling={"target_answers_per_day": 50},  # replaces the default sampling as a whole
            ),
        ],
    )
    registry = load_registry(_write(tmp_path, data))
    invoice, claim = registry.get("download-invoice"), registry.get("file-claim")
    assert registry.user_cooldown_seconds == 7200
    assert (invoice.prompt_expiry_seconds, claim.prompt_expiry_seconds) == (600, 60)
    assert invoice.sampling.rate == 0.1 and invoice.sampling.target_answers_per_day is None
    assert claim.sampling.rate is None and claim.sampling.target_answers_per_day == 50
    assert invoice.scale_obj().kind is ScaleKind.seven_point
    assert claim.scale_obj().kind is ScaleKind.five_point
    assert invoice.question_for("de") == "Hoe moeilijk of gemakkelijk was het voor u om download-invoice?"


def test_unset_fields_get_built_in_defaults(tmp_path: Path) -> None:
    data = _registry(defaults={})
    registry = load_registry(_write(tmp_path, data))
    goal = registry.get("download-invoice")
    assert registry.user_cooldown_seconds == 86400
    assert (goal.prompt_expiry_seconds, goal.max_event_age_seconds, goal.locale_fallback) == (1800, 300, "en")
    assert goal.enabled is True and goal.target_ces_ratio is None
    assert goal.cooldowns.user_goal_seconds == 604800
    assert (goal.triggers.completed, goal.triggers.abandoned, goal.triggers.inferred_abandonment.enabled) == (
        True,
        True,
        False,
    )


def test_registry_model_validate_merges_defaults_too() -> None:
    data = _registry(defaults={"prompt_expiry_seconds": 42})
    registry = GoalRegistry.model_validate(copy.deepcopy(data))
    assert registry.get("file-claim").prompt_expiry_seconds == 42


def test_scale_obj_is_built_once(tmp_path: Path) -> None:
    goal = load_registry(_write(tmp_path, _registry())).get("file-claim")
    assert goal.scale_obj() is goal.scale_obj()


# --- invalid registries ---------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set_goal(index: int, **fields: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["goals"][index].update(fields)

    return mutate


def _drop_text(index: int, field: str, locale: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        del data["goals"][index][field][locale]

    return mutate


# (case, mutation, goal slug or None, field path, text in the message)
INVALID_GOALS = [
    ("duplicate slug", _set_goal(1, slug="download-invoice"), "download-invoice", "slug", "duplicate slug"),
    ("bad slug", _set_goal(1, slug="File Claim"), "File Claim", "slug", "should match pattern"),
    ("slug ends in dash", _set_goal(1, slug="file-claim-"), "file-claim-", "slug", "should match pattern"),
    ("positive outside scale", _set_goal(1, scale={"kind": "five_point", "positive": [4, 5, 9]}),
     "file-claim", "scale.positive", "9 is not a point of the five_point scale (1..5)"),
    ("positive empty", _set_goal(1, scale={"kind": "five_point", "positive": []}),
     "file-claim", "scale.positive", "at least one"),
    ("positive is every point", _set_goal(1, scale={"kind": "emoticon", "positive": [1, 2, 3]}),
     "file-claim", "scale.positive", "every point of the emoticon scale (1..3)"),
    ("positive on the difficult side", _set_goal(1, scale={"kind": "five_point_inverted", "positive": [4, 5]}),
     "file-claim", "scale.positive", "4, 5 lie above the neutral point 3"),
    ("unknown scale kind", _set_goal(1, scale={"kind": "eleven_point"}), "file-claim", "scale.kind", "Input should be"),
    ("label outside scale",
     _set_goal(1, scale={"kind": "five_point", "labels": {"en": {1: "a", 6: "b"}, "nl": {1: "a"}}}),
     "file-claim", "scale.labels.en", "6 is not a point of the five_point scale"),
    ("labels without nl", _set_goal(1, scale={"kind": "five_point", "labels": {"en": {1: "a"}}}),
     "file-claim", "scale.labels", "missing the nl labels"),
    ("missing nl question", _drop_text(1, "question", "nl"), "file-claim", "question", "missing the nl text"),
    ("missing en follow-up", _drop_text(0, "follow_up_question", "en"),
     "download-invoice", "follow_up_question", "missing the en text"),
    ("missing nl display name", _drop_text(0, "display_name", "nl"),
     "download-invoice", "display_name", "missing the nl text"),
    ("empty question text", _set_goal(1, question={"en": " ", "nl": "x"}),
     "file-claim", "question.en", "at least 1 character"),
    ("bad locale key", _set_goal(1, question={"en": "x", "nl": "x", "EN_gb": "x"}),
     "file-claim", "question.EN_gb", "invalid key: String should match pattern"),
    ("fallback without text", _set_goal(1, locale_fallback="de"),
     "file-claim", "question", "no text for locale_fallback 'de'"),
    ("both rate and target", _set_goal(0, sampling={"rate": 0.1, "target_answers_per_day": 100}),
     "download-invoice", "sampling", "exactly one of rate or target_answers_per_day"),
    ("neither rate nor target", _set_goal(0, sampling={"max_rate": 0.5}),
     "download-invoice", "sampling", "exactly one of rate or target_answers_per_day"),
    ("duration bands not increasing", _set_goal(1, measured_effort={"duration_bands_seconds": [30, 30]}),
     "file-claim", "measured_effort.duration_bands_seconds", "increasing whole seconds"),
    ("duration bands empty", _set_goal(1, measured_effort={"duration_bands_seconds": []}),
     "file-claim", "measured_effort.duration_bands_seconds", "increasing whole seconds"),
    ("duration band not whole seconds", _set_goal(1, measured_effort={"duration_bands_seconds": [30.5]}),
     "file-claim", "measured_effort.duration_bands_seconds.0", "valid integer"),
    ("measured effort kept for no time", _set_goal(1, measured_effort={"max_duration_seconds": 0}),
     "file-claim", "measured_effort.max_duration_seconds", "greater than 0"),
    ("rate above 1", _set_goal(0, sampling={"rate": 1.5}),
     "download-invoice", "sampling.rate", "less than or equal to 1 (got 1.5)"),
    ("rate bounds with fixed rate", _set_goal(0, sampling={"rate": 0.5, "min_rate": 0.1}),
     "download-invoice", "sampling.min_rate", "only with target_answers_per_day"),
    ("min rate above max rate", _set_goal(0, sampling={"target_answers_per_day": 5, "min_rate": 0.6, "max_rate": 0.5}),
     "download-invoice", "sampling.min_rate", "0.6 is above max_rate 0.5"),
    ("zero target", _set_goal(0, sampling={"target_answers_per_day": 0}),
     "download-invoice", "sampling.target_answers_per_day", "greater than 0"),
    ("missing sampling", lambda data: data["goals"][0].pop("sampling"),
     "download-invoice", "sampling", "required field missing"),
    ("unknown field", _set_goal(1, colour="red"), "file-claim", "colour", "unknown field"),
    ("unknown nested field", _set_goal(1, triggers={"inferred_abandonment": {"timeout": 60}}),
     "file-claim", "triggers.inferred_abandonment.timeout", "unknown field"),
    ("zero timeout", _set_goal(1, triggers={"inferred_abandonment": {"enabled": True, "timeout_seconds": 0}}),
     "file-claim", "triggers.inferred_abandonment.timeout_seconds", "greater than 0"),
    ("target ratio above 1", _set_goal(1, target_ces_ratio=1.2),
     "file-claim", "target_ces_ratio", "less than or equal to 1"),
    ("number as text", _set_goal(1, target_ces_ratio="0.8"),
     "file-claim", "target_ces_ratio", "valid number (got '0.8')"),
    ("bool as text", _set_goal(1, enabled="yes please"), "file-claim", "enabled", "valid boolean"),
    ("negative cooldown", _set_goal(1, cooldowns={"user_goal_seconds": -1}),
     "file-claim", "cooldowns.user_goal_seconds", "greater than or equal to 0"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mutate", "slug", "field_path", "text"),
    [pytest.param(*case[1:], id=case[0]) for case in INVALID_GOALS],
)
def test_invalid_goal_names_file_goal_and_field(
    tmp_path: Path, mutate: Mutation, slug: str, field_path: str, text: str
) -> None:
    data = _registry()
    mutate(data)
    path = _write(tmp_path, data, name="my-goals.yaml")
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    message = str(caught.value)
    assert message.count("\n") == 0, message  # exactly one problem reported
    assert message.startswith(f"{path}: goal '{slug}': {field_path}: "), message
    assert "my-goals.yaml" in message
    assert text in message, message


def test_example_error_message_format(tmp_path: Path) -> None:
    data = _registry()
    data["goals"][1]["scale"] = {"kind": "five_point", "positive": [9]}
    path = _write(tmp_path, data)
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    expected = "goal 'file-claim': scale.positive: 9 is not a point of the five_point scale (1..5)"
    assert str(caught.value) == f"{path}: {expected}"


@pytest.mark.parametrize(
    ("mutate", "where", "text"),
    [
        pytest.param(lambda d: d.update(version=2), "version", "Input should be 1 (got 2)", id="version"),
        pytest.param(lambda d: d.pop("version"), "version", "required field missing", id="no version"),
        pytest.param(lambda d: d.update(goals=[]), "goals", "at least one goal", id="no goals"),
        pytest.param(lambda d: d.update(colour="red"), "colour", "unknown field", id="unknown top-level field"),
        pytest.param(lambda d: d["goals"][0].pop("slug"), "goals[0]: slug", "required field missing", id="no slug"),
        pytest.param(lambda d: d["defaults"].update(prompt_expiry_secs=60), "defaults.prompt_expiry_secs",
                     "unknown field", id="unknown default"),
        pytest.param(lambda d: d["defaults"].update(sampling={"rate": 2}), "defaults.sampling.rate",
                     "less than or equal to 1", id="bad default sampling"),
        pytest.param(lambda d: d["defaults"].update(follow_up_question={"en": "Why?"}),
                     "defaults.follow_up_question", "missing the nl text", id="default text without nl"),
        pytest.param(lambda d: d["defaults"].update(user_cooldown_seconds=-5), "defaults.user_cooldown_seconds",
                     "greater than or equal to 0", id="negative user cooldown"),
    ],
)  # fmt: skip
def test_invalid_registry_level_field(tmp_path: Path, mutate: Mutation, where: str, text: str) -> None:
    data = _registry()
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    message = str(caught.value)
    # A bad default is reported once under defaults, not once per goal.
    assert message.count("\n") == 0, message
    assert message.startswith(f"{path}: {where}: "), message
    assert text in message, message


def test_every_problem_gets_its_own_line(tmp_path: Path) -> None:
    data = _registry()
    data["goals"][0]["sampling"] = {"rate": 3}
    data["goals"][1]["colour"] = "red"
    path = _write(tmp_path, data)
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    assert str(caught.value).splitlines() == [
        f"{path}: goal 'download-invoice': sampling.rate: Input should be less than or equal to 1 (got 3)",
        f"{path}: goal 'file-claim': colour: unknown field",
    ]


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        pytest.param("version: 1\ngoals:\n  - slug: a\n    question: {en: x\n", 5, "expected ',' or '}'",
                     id="unclosed flow mapping"),
        pytest.param("version: 1\ngoals:\n  - slug: a\n   bad: indent\n", 4, "invalid YAML", id="bad indent"),
        pytest.param("version: 1\ngoals:\n  - slug: a\n    slug: b\n", 4, "found duplicate key 'slug'",
                     id="duplicate key"),
    ],
)  # fmt: skip
def test_bad_yaml_names_file_and_line(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = tmp_path / "goals.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: line {line}, column "), message
    assert problem in message, message


def test_yaml_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    text = yaml.safe_dump(_registry(), sort_keys=False).replace("version: 1", "base: &base {rate: 0.5}\nversion: 1")
    # The duplicate-key check must not reject a key that overrides one from "<<".
    text = text.replace("- slug: file-claim", "- slug: file-claim\n  extra_sampling: &s {<<: *base, rate: 0.2}")
    path = tmp_path / "goals.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryError) as caught:  # still invalid: base and extra_sampling are unknown fields
        load_registry(path)
    assert "found duplicate key" not in str(caught.value)
    assert f"{path}: base: unknown field" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "got"),
    [("", "an empty file"), ("- a\n- b\n", "a list"), ("just text\n", "a str")],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, got: str) -> None:
    path = tmp_path / "goals.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryError, match=f"expected a mapping with version, defaults and goals, got {got}$"):
        load_registry(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    assert str(caught.value) == f"{path}: goal registry file not found"


def test_registry_error_is_a_ces_error() -> None:
    assert issubclass(RegistryError, CesError)
