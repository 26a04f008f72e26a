"""Flow loading: the shipped flow is valid, and every broken flow names file, line and node."""
import textwrap
from pathlib import Path

import pytest

from ivr.flow import Flow, flow_version, load_flow, parse_flow
from ivr.nodes import NODE_TYPES, FlowError
from ivr.nodes.goto import GotoNode
from ivr.nodes.hangup import HangupNode
from ivr.nodes.menu import MenuNode
from ivr.nodes.play import PlayNode
from ivr.prompts import PromptCatalog

ROOT = Path(__file__).resolve().parents[2]
HOTLINE = ROOT / "tests" / "unit" / "flows" / "menu_demo.yaml"  # a fixed menu flow (the first hotline)
CATALOG = ROOT / "prompts" / "catalog.yaml"

# A small valid flow; the error tests break one thing in it at a known line.
VALID = """\
flow: test
languages: [zh-CN, en-US]
default_language: zh-CN
start: greeting
nodes:
  greeting:
    type: play
    prompt: welcome
    next: main_menu
  main_menu:
    type: menu
    prompt: main_menu
    choices:
      1: goodbye
      2: goodbye
    max_tries: 2
    on_failure: goodbye
  goodbye:
    type: play
    prompt: goodbye
    next: end
  end:
    type: hangup
"""


@pytest.fixture(scope="module")
def catalog() -> PromptCatalog:
    return PromptCatalog.load(CATALOG)


def write_flow(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def flow_error(tmp_path: Path, text: str, catalogue=None) -> FlowError:
    path = write_flow(tmp_path, text)
    with pytest.raises(FlowError) as excinfo:
        load_flow(path, catalogue)
    return excinfo.value


def assert_at(error: FlowError, tmp_path: Path, line: int, node: str | None = None) -> None:
    """The message starts with <file>:<line>: and names the node when there is one."""
    message = str(error)
    path = str(tmp_path / "flow.yaml")
    assert message.startswith(f"{path}:{line}:"), message
    assert error.location.file == path
    assert error.location.line == line
    assert error.node == node
    if node is not None:
        assert f"node {node!r}" in message


# --- the shipped flow ---------------------------------------------------------


def test_valid_fixture_loads_with_catalogue(tmp_path, catalog):
    flow = load_flow(write_flow(tmp_path, VALID), catalog)
    assert flow.start == "greeting"


def test_shipped_flows_load_with_shipped_catalogue(catalog):
    for path in sorted((ROOT / "flows").glob("*.yaml")):
        assert load_flow(path, catalog).name == path.stem


def test_menu_flow_loads_with_shipped_catalogue(catalog):
    flow = load_flow(HOTLINE, catalog)
    assert isinstance(flow, Flow)
    assert flow.name == "menu_demo"
    assert flow.source == str(HOTLINE)
    assert flow.languages == ("zh-CN", "en-US")
    assert flow.default_language == "zh-CN"
    assert flow.start == "greeting"
    assert set(flow.nodes) == {"greeting", "main_menu", "card_services", "account_services", "agent",
                               "too_many_tries", "goodbye", "end"}


def test_menu_flow_node_types_and_exits(catalog):
    flow = load_flow(HOTLINE, catalog)
    menu = flow.node("main_menu")
    assert isinstance(menu, MenuNode)
    assert menu.exits == {"1": "card_services", "2": "account_services", "0": "agent",
                          "failure": "too_many_tries"}
    assert menu.choices == ("1", "2", "0")
    assert menu.max_tries == 2
    assert menu.timeout == 5.0
    assert menu.prompt_ids() == ("main_menu", "invalid", "no_input")
    greeting = flow.node("greeting")
    assert isinstance(greeting, PlayNode)
    assert greeting.prompts == ("welcome",)
    assert greeting.interruptible is False
    assert greeting.exits == {"next": "main_menu"}
    end = flow.node("end")
    assert isinstance(end, HangupNode)
    assert end.reason == "completed"
    assert end.exits == {}


def test_every_prompt_of_the_shipped_flow_is_in_the_catalogue_in_every_language(catalog):
    flow = load_flow(HOTLINE, catalog)
    for node in flow.nodes.values():
        for prompt_id in node.prompt_ids():
            for language in flow.languages:
                assert catalog.has_text(prompt_id, language), (node.id, prompt_id, language)


def test_display_name_is_used_in_the_source_and_errors(tmp_path):
    flow = load_flow(HOTLINE, display_name="flows/hotline.yaml")
    assert flow.source == "flows/hotline.yaml"
    path = write_flow(tmp_path, VALID.replace("start: greeting", "start: nowhere"))
    with pytest.raises(FlowError) as excinfo:
        load_flow(path, display_name="flows/broken.yaml")
    assert str(excinfo.value).startswith("flows/broken.yaml:4:")


# --- version ------------------------------------------------------------------


def test_version_is_a_content_hash():
    text = HOTLINE.read_text(encoding="utf-8")
    a = parse_flow(text, "a.yaml")
    b = parse_flow(text, "elsewhere/b.yaml")
    assert a.version == b.version == flow_version(text)
    assert len(a.version) == 12
    int(a.version, 16)  # hex
    changed = parse_flow(text.replace("timeout: 5", "timeout: 6"), "a.yaml")
    assert changed.version != a.version
    comment_only = parse_flow(text + "# trailing comment\n", "a.yaml")
    assert comment_only.version != a.version  # the text is the version, comments included


def test_load_flow_version_matches_file_text():
    assert load_flow(HOTLINE).version == flow_version(HOTLINE.read_text(encoding="utf-8"))


# --- file-level errors ----------------------------------------------------------


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    text = VALID.replace("    prompt: welcome\n", "    prompt: welcome: oops\n")
    error = flow_error(tmp_path, text)
    message = str(error)
    assert "YAML syntax error" in message
    assert "mapping values are not allowed here" in message
    assert_at(error, tmp_path, 8)


def test_yaml_syntax_error_bad_indentation(tmp_path):
    text = VALID.replace("    next: main_menu\n", "   next: main_menu\n")
    error = flow_error(tmp_path, text)
    assert "YAML syntax error" in str(error)
    assert_at(error, tmp_path, 9)


def test_non_utf8_file_is_a_flow_error(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_bytes(VALID.encode("utf-8").replace(b"welcome", b"w\xffelcome"))
    with pytest.raises(FlowError) as excinfo:
        load_flow(path)
    assert str(excinfo.value).startswith(f"{path}:1:")
    assert "UTF-8" in str(excinfo.value)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "", "# only a comment\n"])
def test_top_level_not_a_mapping(tmp_path, text):
    error = flow_error(tmp_path, text)
    assert_at(error, tmp_path, 1)
    assert "must be a mapping" in str(error)


def test_unknown_top_level_key(tmp_path):
    error = flow_error(tmp_path, VALID.replace("start: greeting\n", "start: greeting\nstrat: greeting\n"))
    assert_at(error, tmp_path, 5)
    assert "unknown top-level key 'strat'" in str(error)


def test_missing_start_points_at_the_top_mapping(tmp_path):
    text = "# header comment\n\n" + VALID.replace("start: greeting\n", "")
    error = flow_error(tmp_path, text)
    assert_at(error, tmp_path, 3)  # the first key of the document
    assert "'start' is required" in str(error)


def test_start_node_missing(tmp_path):
    error = flow_error(tmp_path, VALID.replace("start: greeting", "start: welcome_node"))
    assert_at(error, tmp_path, 4)
    assert "start node 'welcome_node' does not exist" in str(error)


def test_missing_flow_name(tmp_path):
    error = flow_error(tmp_path, VALID.replace("flow: test\n", "description: no name\n"))
    assert_at(error, tmp_path, 1)
    assert "'flow' is required" in str(error)


def test_bad_flow_name(tmp_path):
    error = flow_error(tmp_path, VALID.replace("flow: test", "flow: my-flow"))
    assert_at(error, tmp_path, 1)
    assert "flow name 'my-flow'" in str(error)


@pytest.mark.parametrize("value", ["[]", "zh-CN", "[zh-CN, 3]"])
def test_bad_languages(tmp_path, value):
    error = flow_error(tmp_path, VALID.replace("languages: [zh-CN, en-US]", f"languages: {value}"))
    assert_at(error, tmp_path, 2)
    assert "'languages' must be a non-empty list" in str(error)


def test_default_language_not_in_languages(tmp_path):
    error = flow_error(tmp_path, VALID.replace("default_language: zh-CN", "default_language: fr-FR"))
    assert_at(error, tmp_path, 3)
    assert "default_language 'fr-FR' is not in languages" in str(error)


def test_default_language_defaults_to_the_first_language(tmp_path):
    flow = load_flow(write_flow(tmp_path, VALID.replace("default_language: zh-CN\n", "")))
    assert flow.default_language == "zh-CN"


@pytest.mark.parametrize("value", ["", " []", " {}", " oops"])
def test_nodes_must_be_a_non_empty_mapping(tmp_path, value):
    text = VALID.split("nodes:")[0] + f"nodes:{value}\n"
    error = flow_error(tmp_path, text)
    assert_at(error, tmp_path, 5)
    assert "'nodes' must be a non-empty mapping" in str(error)


# --- node-level errors ----------------------------------------------------------


def test_unknown_node_type_lists_known_types(tmp_path):
    error = flow_error(tmp_path, VALID.replace("    type: menu", "    type: menuu"))
    assert_at(error, tmp_path, 11, "main_menu")
    message = str(error)
    assert "unknown node type 'menuu'" in message
    assert f"known: {', '.join(sorted(NODE_TYPES))}" in message
    for type_name in ("goto", "hangup", "menu", "play"):
        assert type_name in message


def test_node_without_type(tmp_path):
    error = flow_error(tmp_path, VALID.replace("  end:\n    type: hangup\n", "  end:\n    reason: done\n"))
    assert_at(error, tmp_path, 23, "end")
    assert "type" in str(error)


def test_node_that_is_not_a_mapping(tmp_path):
    error = flow_error(tmp_path, VALID.replace("  end:\n    type: hangup\n", "  end: hangup\n"))
    assert_at(error, tmp_path, 22, "end")
    assert "a node must be a mapping" in str(error)


def test_exit_to_missing_node_points_at_the_exit_key(tmp_path):
    error = flow_error(tmp_path, VALID.replace("    next: end", "    next: the_end"))
    assert_at(error, tmp_path, 21, "goodbye")
    assert "exit 'next' leads to missing node 'the_end'" in str(error)


def test_menu_choice_to_missing_node_points_at_the_choice(tmp_path):
    error = flow_error(tmp_path, VALID.replace("      2: goodbye", "      2: account"))
    assert_at(error, tmp_path, 15, "main_menu")
    assert "exit '2' leads to missing node 'account'" in str(error)


def test_menu_on_failure_to_missing_node(tmp_path):
    error = flow_error(tmp_path, VALID.replace("on_failure: goodbye", "on_failure: too_many"))
    assert_at(error, tmp_path, 17, "main_menu")
    assert "exit 'failure' leads to missing node 'too_many'" in str(error)


def test_goto_to_missing_node(tmp_path):
    text = VALID.replace("  end:\n    type: hangup\n", "  end:\n    type: goto\n    target: nowhere\n")
    error = flow_error(tmp_path, text)
    assert_at(error, tmp_path, 24, "end")
    assert "exit 'next' leads to missing node 'nowhere'" in str(error)


@pytest.mark.parametrize("choice", ["12345", "a", "'1a'", "''"])
def test_menu_choice_not_phone_keys(tmp_path, choice):
    error = flow_error(tmp_path, VALID.replace("      2: goodbye", f"      {choice}: goodbye"))
    # Reported at the 'choices:' key of the menu.
    assert_at(error, tmp_path, 13, "main_menu")
    assert "is not 1-4 phone keys" in str(error)


def test_menu_multi_key_choices_are_accepted(tmp_path):
    flow = load_flow(write_flow(tmp_path, VALID.replace("      2: goodbye", "      12: goodbye\n      '##': end")))
    assert flow.node("main_menu").choices == ("1", "12", "##")


def test_menu_star_and_hash_choices_are_accepted(tmp_path):
    flow = load_flow(write_flow(tmp_path, VALID.replace("      2: goodbye", "      '*': goodbye\n      '#': end")))
    assert flow.node("main_menu").choices == ("1", "*", "#")


def test_menu_without_choices(tmp_path):
    text = VALID.replace("    choices:\n      1: goodbye\n      2: goodbye\n", "    choices: {}\n")
    error = flow_error(tmp_path, text)
    assert_at(error, tmp_path, 13, "main_menu")
    assert "at least one choice" in str(error)


def test_unknown_key_in_a_node(tmp_path):
    text = VALID.replace("    max_tries: 2\n", "    max_tries: 2\n    timout: 3\n")
    error = flow_error(tmp_path, text)
    assert_at(error, tmp_path, 17, "main_menu")
    assert "unknown key 'timout' for a menu node" in str(error)


def test_typo_next_to_the_real_key_is_an_unknown_key(tmp_path):
    text = VALID.replace("    prompt: welcome\n", "    prompt: welcome\n    promt: welcome\n")
    error = flow_error(tmp_path, text)
    assert_at(error, tmp_path, 9, "greeting")
    assert "unknown key 'promt' for a play node" in str(error)


def test_typo_of_a_required_key_names_the_typo_and_its_line(tmp_path):
    error = flow_error(tmp_path, VALID.replace("    prompt: welcome\n", "    promt: welcome\n"))
    assert_at(error, tmp_path, 8, "greeting")
    assert "promt" in str(error)


def test_typo_of_a_required_key_is_still_an_error_naming_the_node(tmp_path):
    # Current behaviour, whatever the wording: the flow is refused and the node is named.
    error = flow_error(tmp_path, VALID.replace("    prompt: welcome\n", "    promt: welcome\n"))
    assert error.node == "greeting"
    assert str(error).startswith(f"{tmp_path / 'flow.yaml'}:")


def test_prompt_and_prompts_both_given(tmp_path):
    text = VALID.replace("    prompt: welcome\n", "    prompt: welcome\n    prompts: [welcome, goodbye]\n")
    error = flow_error(tmp_path, text)
    assert_at(error, tmp_path, 9, "greeting")
    assert "either 'prompt' or 'prompts'" in str(error)


def test_prompts_list_is_accepted(tmp_path):
    flow = load_flow(write_flow(tmp_path, VALID.replace("    prompt: welcome\n", "    prompts: [welcome, goodbye]\n")))
    assert flow.node("greeting").prompts == ("welcome", "goodbye")


@pytest.mark.parametrize("value", ["[]", "''", "[welcome, 3]", "{a: b}"])
def test_bad_prompt_value(tmp_path, value):
    error = flow_error(tmp_path, VALID.replace("    prompt: welcome\n", f"    prompt: {value}\n"))
    assert_at(error, tmp_path, 8, "greeting")
    assert "'prompt' must be a string or a non-empty list of strings" in str(error)


@pytest.mark.parametrize(("value", "fragment"), [
    ("0", "'max_tries' must be between 1 and 10, got 0"),
    ("11", "'max_tries' must be between 1 and 10, got 11"),
    ("2.5", "'max_tries' must be a whole number"),
    ("2.0", "'max_tries' must be a whole number"),
    ("'3'", "'max_tries' must be a number"),
    ("true", "'max_tries' must be a number"),
])
def test_max_tries_out_of_range_or_not_int(tmp_path, value, fragment):
    error = flow_error(tmp_path, VALID.replace("max_tries: 2", f"max_tries: {value}"))
    assert_at(error, tmp_path, 16, "main_menu")
    assert fragment in str(error)


@pytest.mark.parametrize(("value", "fragment"), [
    ("soon", "'timeout' must be a number"),
    ("'5'", "'timeout' must be a number"),
    ("false", "'timeout' must be a number"),
    ("0.1", "'timeout' must be between 0.5 and 60, got 0.1"),
    ("61", "'timeout' must be between 0.5 and 60, got 61"),
])
def test_timeout_not_a_number_or_out_of_range(tmp_path, value, fragment):
    text = VALID.replace("    max_tries: 2\n", f"    max_tries: 2\n    timeout: {value}\n")
    error = flow_error(tmp_path, text)
    assert_at(error, tmp_path, 17, "main_menu")
    assert fragment in str(error)


def test_float_timeout_is_accepted(tmp_path):
    flow = load_flow(write_flow(tmp_path, VALID.replace("    max_tries: 2\n", "    max_tries: 2\n    timeout: 2.5\n")))
    assert flow.node("main_menu").timeout == 2.5


def test_interruptible_must_be_a_boolean(tmp_path):
    text = VALID.replace("    prompt: welcome\n", "    prompt: welcome\n    interruptible: yes please\n")
    error = flow_error(tmp_path, text)
    assert_at(error, tmp_path, 9, "greeting")
    assert "'interruptible' must be true or false" in str(error)


def test_duplicate_node_name(tmp_path):
    error = flow_error(tmp_path, VALID + "  goodbye:\n    type: hangup\n")
    assert_at(error, tmp_path, 24)
    assert "duplicate key 'goodbye'" in str(error)


@pytest.mark.parametrize("name", ["main-menu", "1st_menu", "_hidden"])
def test_node_name_invalid(tmp_path, name):
    error = flow_error(tmp_path, VALID + f"  {name}:\n    type: hangup\n")
    assert_at(error, tmp_path, 24, name)
    assert "node names must start with a letter" in str(error)


def test_numeric_node_name_is_invalid(tmp_path):
    error = flow_error(tmp_path, VALID + "  42:\n    type: hangup\n")
    assert_at(error, tmp_path, 24, "42")


def test_prompt_not_in_catalogue(tmp_path, catalog):
    error = flow_error(tmp_path, VALID.replace("    prompt: goodbye", "    prompt: good_bye"), catalog)
    # Reported at the node (its first key), naming prompt and language.
    assert_at(error, tmp_path, 19, "goodbye")
    assert "prompt 'good_bye' has no zh-CN text in the prompt catalogue" in str(error)


def test_menu_retry_prompt_not_in_catalogue(tmp_path, catalog):
    text = VALID.replace("    max_tries: 2\n", "    max_tries: 2\n    invalid_prompt: wrong_key\n")
    error = flow_error(tmp_path, text, catalog)
    assert_at(error, tmp_path, 11, "main_menu")
    assert "prompt 'wrong_key' has no zh-CN text" in str(error)


def test_prompt_missing_for_one_of_the_flow_languages(tmp_path, catalog):
    text = VALID.replace("languages: [zh-CN, en-US]", "languages: [zh-CN, en-US, fr-FR]")
    error = flow_error(tmp_path, text, catalog)
    assert_at(error, tmp_path, 7, "greeting")
    assert "prompt 'welcome' has no fr-FR text" in str(error)


def test_prompts_are_not_checked_without_a_catalogue(tmp_path):
    flow = load_flow(write_flow(tmp_path, VALID.replace("    prompt: goodbye", "    prompt: good_bye")))
    assert flow.node("goodbye").prompts == ("good_bye",)


def test_on_error_to_missing_node(tmp_path):
    text = VALID.replace("    next: main_menu\n", "    next: main_menu\n    on_error: sorry\n")
    error = flow_error(tmp_path, text)
    assert_at(error, tmp_path, 10, "greeting")
    assert "exit 'error' leads to missing node 'sorry'" in str(error)


def test_on_error_must_name_a_node(tmp_path):
    text = VALID.replace("    next: main_menu\n", "    next: main_menu\n    on_error: [goodbye]\n")
    error = flow_error(tmp_path, text)
    assert_at(error, tmp_path, 10, "greeting")
    assert "exit 'error' must name a node" in str(error)


def test_on_error_becomes_the_error_exit(tmp_path):
    text = VALID.replace("    next: main_menu\n", "    next: main_menu\n    on_error: goodbye\n")
    flow = load_flow(write_flow(tmp_path, text))
    assert flow.node("greeting").exits == {"error": "goodbye", "next": "main_menu"}


def test_play_without_next(tmp_path):
    error = flow_error(tmp_path, VALID.replace("    next: end\n", ""))
    assert_at(error, tmp_path, 19, "goodbye")
    assert "missing required key 'next'" in str(error)


def test_goto_parses_target_as_next_exit(tmp_path):
    text = VALID.replace("  end:\n    type: hangup\n", "  end:\n    type: goto\n    target: greeting\n")
    flow = load_flow(write_flow(tmp_path, text))
    assert isinstance(flow.node("end"), GotoNode)
    assert flow.node("end").exits == {"next": "greeting"}


def test_parse_flow_names_the_given_file():
    with pytest.raises(FlowError) as excinfo:
        parse_flow(VALID.replace("start: greeting", "start: 5"), "flows/x.yaml")
    assert str(excinfo.value).startswith("flows/x.yaml:4:")
    assert excinfo.value.location.column == 1
