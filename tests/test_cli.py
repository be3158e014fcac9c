"""The nnbook command: thin, helpful, one-line errors, honest exit codes."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from nnmath import registry
from nnmath.primitives import sigmoid


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, list(args))

    return invoke


def _one_line_error(result, *needles):
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for needle in needles:
        assert needle in lines[0]


def test_every_command_has_help_text_with_an_example(run):
    for name, command in cli.commands.items():
        assert command.help and re.search(r"Examples?:\s+nnbook", command.help), name
        result = run(name, "--help")
        assert result.exit_code == 0, name
        for param in command.params:
            if param.param_type_name == "option":
                assert param.help, f"{name} {param.name} has no help"


def test_help_imports_neither_tensorflow_nor_manim():
    code = (
        "import sys\nfrom cli.main import cli\ntry:\n    cli(['--help'])\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in ('tensorflow', 'manim') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().endswith("[]")


def test_list_shows_chapters_scenes_and_formulas(run):
    result = run("list")
    assert result.exit_code == 0
    assert "chapter1" in result.output and "NeuronScene" in result.output
    assert "categorical_crossentropy_logits" in result.output


def test_show_prints_latex_inputs_numpy_and_tensorflow(run):
    result = run("show", "dense")
    assert result.exit_code == 0
    for needed in (
        "\\sum_{j=0}^{J - 1}",
        "W     (I, J)",
        "def dense(x, W, b):",
        "return b + x @ W.T",
        "tf.matmul(x, W, transpose_b=True) + b",
        "dense/dW",
    ):
        assert needed in result.output


def test_unknown_formula_is_one_line_listing_valid_names(run):
    result = run("show", "softmaxx")
    _one_line_error(result, "unknown formula 'softmaxx'", "softmax")
    assert result.exit_code == 2


def test_unknown_chapter_is_one_line_listing_valid_chapters(run):
    for command in ("verify", "render"):
        result = run(command, "chapter99")
        _one_line_error(result, "unknown chapter 'chapter99'", "chapter1 (neuron)")
        assert result.exit_code == 2


def test_bad_quality_letter_is_one_line_listing_valid_letters(run):
    result = run("render", "chapter1", "-q", "x")
    _one_line_error(result, "'x' is not one of 'l', 'm', 'h', 'p', 'k'")
    assert result.exit_code == 2


def test_bad_format_is_one_line(run):
    _one_line_error(run("render", "chapter1", "--format", "avi"), "'avi' is not one of")


def test_unwritable_output_directory_is_one_line(run, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run("render", "chapter1", "-o", str(blocker / "media"))
    _one_line_error(result, "a-file is a file, not a directory", "-o DIR")
    assert result.exit_code == 1
    assert "[Errno" not in result.output


def test_verify_without_tensorflow_says_what_it_skipped(run, tmp_path):
    # exit 3, not 0: a CI running --no-tf must not take it for a full pass
    report, junit = tmp_path / "r" / "verify.json", tmp_path / "r" / "verify.xml"
    result = run(
        "verify", "chapter2", "--no-tf", "--json", str(report), "--junit", str(junit)
    )
    assert result.exit_code == 3, result.output
    doc = json.loads(report.read_text())
    assert doc["summary"]["ok"] and doc["chapters"] == ["chapter2"]
    assert not doc["summary"]["complete"] and doc["summary"]["skipped"] > 0
    skipped = {
        (c["subject"], c["method"], c["dtype"]) for c in doc["checks"] if c["skipped"]
    }
    assert ("sigmoid'", "tensorflow-gradient", "float32") in skipped
    assert ("softmax", "tensorflow-forward", "float64") in skipped
    assert not any(
        c["method"].startswith("tensorflow") and not c["skipped"] for c in doc["checks"]
    )
    assert re.search(r"sigmoid' +tensorflow-gradient +float64 .* skip", result.output)
    assert re.search(
        r"\d+ passed, 0 failed, \d+ skipped \(the TensorFlow checks, --no-tf\): "
        "not a full verification",
        result.output,
    )
    assert f'skipped="{doc["summary"]["skipped"]}"' in junit.read_text()
    assert junit.read_text().count("<skipped ") == doc["summary"]["skipped"]


def test_verify_fails_with_exit_1_naming_a_wrong_claim(run, monkeypatch):
    good = registry.claim("sigmoid'")
    s = sigmoid(good.formula.var)
    monkeypatch.setitem(
        registry._claims(), "sigmoid'", dataclasses.replace(good, rhs=s * (1 + s))
    )
    result = run("verify", "chapter2", "--no-tf")
    assert result.exit_code == 1
    assert "FAILED sigmoid' [symbolic exact]" in result.output


def test_chapter_names_agree(run):
    outputs = {
        run("verify", name, "--no-tf").output.splitlines()[-1]
        for name in ("chapter2", "2", "activations")
    }
    assert len(outputs) == 1


def test_doctor_reports_each_dependency(run):
    result = run("doctor")
    for name in (
        "python",
        "latex",
        "dvisvgm",
        "ffmpeg",
        "av",
        "pycairo",
        "manimpango",
        "manim-slides",
        "reveal.js",
        "tensorflow",
    ):
        assert name in result.output


def test_verify_files_its_results_in_the_media_folder_it_is_given(
    run, tmp_path, monkeypatch
):
    """The verification cache is the one render and build use for that folder
    (DIR/.cache), not a media/ in whatever the current folder is."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NNBOOK_CACHE", raising=False)
    result = run(
        "verify", "chapter2", "--no-tf", "--media", str(tmp_path / "elsewhere")
    )
    assert result.exit_code == 3, result.output
    assert list((tmp_path / "elsewhere" / ".cache" / "verify").glob("*.json"))
    assert not (tmp_path / "media").exists()


def test_missing_latex_is_one_line_before_any_render(run, monkeypatch, tmp_path):
    import shutil

    import publishing.tools as tools

    real_which = shutil.which
    monkeypatch.setattr(
        tools.shutil,
        "which",
        lambda name: None if name in ("latex", "dvisvgm") else real_which(name),
    )
    result = run("render", "chapter1", "-o", str(tmp_path / "out"))
    _one_line_error(result, "latex", "not found", "apt-get install")
    assert result.exit_code == 1
    assert not list((tmp_path / "out").rglob("*.mp4"))


def test_render_refuses_a_chapter_whose_claim_fails(run, monkeypatch, tmp_path):
    good = registry.claim("sigmoid'")
    s = sigmoid(good.formula.var)
    monkeypatch.setitem(
        registry._claims(), "sigmoid'", dataclasses.replace(good, rhs=s * (1 + s))
    )
    result = run("render", "chapter2", "-o", str(tmp_path))
    _one_line_error(result, "not rendering", "sigmoid' [symbolic exact]", "--no-verify")
    assert result.exit_code == 1
    assert not list(tmp_path.rglob("*.mp4"))


def test_show_takes_formula_parameters(run):
    result = run("show", "conv2d", "-p", "stride=2", "-p", "padding=same")
    assert result.exit_code == 0, result.output
    assert "strides=[2, 2], padding='SAME'" in result.output
    assert (
        "window(x, (1, (2, 1), (Ho, KH), -P_t), (2, (2, 1), (Wo, KW), -P_l))"
        in result.output
    )
    # claims name the parameters they are about when they differ from those shown
    assert "  conv2d/dx.strided: " in result.output
    assert "  conv2d/dx [with stride=(1, 1)]: " in result.output
    result = run("show", "conv2d", "-p", "padding=((1, 0), (2, 1))", "-p", "dilation=2")
    assert result.exit_code == 0 and "[[0, 0], [1, 0], [2, 1], [0, 0]]" in result.output


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("-p", "padding=full"), ("padding=full is not valid", "valid: valid, same")),
        (("-p", "stride=0"), ("stride", "valid: 1, 2")),
        (("-p", "strides=2"), ("no parameter 'strides'", "valid: stride")),
        (("-p", "stride"), ("not key=value",)),
    ],
)
def test_show_rejects_bad_parameters_in_one_line(run, args, needles):
    _one_line_error(run("show", "conv2d", *args), *needles)


NESTED = "[" * 5000 + "1" + "]" * 5000


# issue 11: each was a traceback (TypeError, NameError: inf, RecursionError) or was
# accepted (stride=True, learning_rate='abc', beta_1=2, epsilon=-1)
@pytest.mark.parametrize(
    ("name", "param", "valid"),
    [
        ("conv2d", "stride=True", "valid: 1, 2, …"),
        ("conv2d", "stride={}", "valid: 1, 2, …"),
        ("conv2d", "dilation=1.5", "valid: 1, 2, …"),
        ("conv2d", "bias=3", "valid: True or False"),
        ("conv2d", "padding=((1, 0), (2, -1))", "valid: valid, same, ((top, bottom)"),
        ("max_pool2d", "padding=full", "valid: valid, same"),
        ("leaky_relu", "alpha=abc", "valid: a number in [0, 1)"),
        ("leaky_relu", "alpha=1", "valid: a number in [0, 1)"),
        ("sgd", "learning_rate=1e999", "valid: a number > 0"),
        ("sgd", "learning_rate=nan", "valid: a number > 0"),
        ("sgd", "learning_rate=abc", "valid: a number > 0"),
        ("sgd", "learning_rate=0", "valid: a number > 0"),
        ("adam", "beta_1=2", "valid: a number in [0, 1)"),
        ("adam", "epsilon=-1", "valid: a number > 0"),
        ("momentum", "momentum=1.5", "valid: a number in [0, 1]"),
        ("neuron", "activation=gelu", "valid: sigmoid, tanh, relu, leaky_relu"),
        ("mlp", "activation=relu", "valid: sigmoid, tanh"),
        ("mlp_top", "head=softmax2", "valid: softmax, sigmoid"),
        ("sgd", "learning_rate=" + "9" * 5000, "at most 100 characters"),
        ("sgd", "learning_rate=" + NESTED, "at most 100 characters"),
        ("conv2d", "stride=" + "(" * 60 + "1" + ")" * 60, "valid: 1, 2, …"),
    ],
)
def test_show_checks_each_parameter_against_its_spec(run, name, param, valid):
    result = run("show", name, "-p", param)
    key = param.partition("=")[0]
    _one_line_error(result, f"{name}: ", valid)
    assert f"{key}=" in result.output or "the value of " + key in result.output
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("name", "params", "shown"),
    [
        (
            "conv2d",
            ("stride=(2, 1)", "padding=SAME", "bias=false"),
            "strides=[2, 1], padding='SAME'",
        ),
        ("conv2d", ("stride=[2,1]", "dilation=1"), "strides=[2, 1], padding='VALID'"),
        ("max_pool2d", ("pool_size=3", "stride=None"), "ksize=[3, 3], strides=[3, 3]"),
        ("sgd", ("learning_rate=1e-3",), "theta - g * 0.001"),
        ("leaky_relu", ("alpha=0",), "alpha=0.0"),
    ],
)
def test_show_reads_every_spelling_a_spec_allows(run, name, params, shown):
    result = run("show", name, *[a for p in params for a in ("-p", p)])
    assert result.exit_code == 0, result.output
    assert shown in result.output
    assert "Parameters (-p KEY=VALUE):" in result.output


def test_show_mlp_lists_only_activations_it_can_compose(run):
    result = run("show", "mlp", "-p", "activation=sigmoid")
    assert result.exit_code == 0, result.output
    assert "valid: sigmoid, tanh)" in result.output and "relu" not in result.output


# -- issue 11: a cache that cannot be used is known before any work ---------------
@pytest.mark.parametrize("how", ["missing", "a file", "unwritable"])
def test_an_unusable_nnbook_cache_is_one_line_before_any_work(
    run, monkeypatch, tmp_path, how
):
    import tempfile

    import publishing.gate

    shared = tmp_path / "shared"
    if how == "a file":
        shared.write_text("x")
    elif how == "unwritable":  # as root no mode bit stops a write: refuse the probe
        shared.mkdir()
        real = tempfile.mkstemp

        def refused(*args, dir=None, **kw):
            if dir is not None and Path(dir) == shared:
                raise PermissionError(13, "Permission denied")
            return real(*args, dir=dir, **kw)

        monkeypatch.setattr(tempfile, "mkstemp", refused)
    monkeypatch.setenv("NNBOOK_CACHE", str(shared))

    def no_work(*a, **kw):
        raise AssertionError("verification started before the cache was checked")

    monkeypatch.setattr(publishing.gate, "cached_verification", no_work)
    for args in (
        ("render", "chapter2", "-o", str(tmp_path / "out")),
        (
            "build",
            "chapter2",
            "-o",
            str(tmp_path / "site"),
            "--media",
            str(tmp_path / "media"),
        ),
        ("verify", "chapter2", "--no-tf"),
    ):
        result = run(*args)
        why = {
            "missing": "does not exist",
            "a file": "is not a directory",
            "unwritable": "is not writable (Permission denied)",
        }[how]
        _one_line_error(result, f"NNBOOK_CACHE={shared} {why}", "unset NNBOOK_CACHE")
        assert result.exit_code == 1
    assert not shared.is_dir() or how == "unwritable"  # a missing cache is not made


# -- issue 11: usage errors and messages that do not mislead ----------------------
def test_jobs_above_the_bound_is_a_usage_error(run, tmp_path):
    for command in ("render", "build"):
        result = run(
            command,
            "chapter2",
            "-j",
            "99999999999999999999",
            "-o",
            str(tmp_path / "out"),
        )
        _one_line_error(result, "-j", "1<=x<=64")
        assert result.exit_code == 2
    assert not (tmp_path / "out").exists()


def test_an_empty_output_folder_is_a_usage_error_not_the_current_folder(
    run, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    for args in (
        ("render", "chapter2", "-o", ""),
        ("build", "chapter2", "-o", ""),
        ("build", "chapter2", "--media", " "),
    ):
        result = run(*args)
        _one_line_error(result, "empty path")
        assert result.exit_code == 2
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("where", "needle"),
    [
        (
            "/dev/null",
            (
                "cannot use output directory /dev/null: it is a device, not a "
                "directory; choose another with"
            ),
        ),
        (
            "{tmp}/a-file/media",
            ("{tmp}/a-file is a file, not a directory; choose another with"),
        ),
    ],
)
def test_output_folder_errors_say_what_is_wrong_and_which_option(
    run, tmp_path, where, needle
):
    (tmp_path / "a-file").write_text("x")
    where, needle = where.format(tmp=tmp_path), needle.format(tmp=tmp_path)
    result = run("render", "chapter2", "-o", where)
    _one_line_error(result, needle, "-o DIR")
    result = run("build", "chapter2", "-o", str(tmp_path / "site"), "--media", where)
    _one_line_error(result, needle, "--media DIR")
    assert "-o DIR" not in result.output and "[Errno" not in result.output
    assert result.exit_code == 1


def test_a_chapter_named_twice_is_rendered_once(run, monkeypatch, tmp_path):
    import publishing.render

    asked = []
    monkeypatch.setattr(
        publishing.render,
        "render_chapters",
        lambda chs, **kw: asked.append([c.id for c in chs]) or [],
    )
    result = run(
        "render",
        "chapter1",
        "1",
        "neuron",
        "chapter2",
        "1",
        "--no-verify",
        "-o",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert asked == [["chapter1", "chapter2"]]


def test_two_chapter_files_of_one_number_are_refused(run, tmp_path):
    source = (
        "from chapters import Chapter\nCHAPTER = Chapter(number=94, slug='{s}', "
        "title='t', module=__name__, formulas=(), claims=(), scenes=())\n"
    )
    for name in ("a", "b"):
        (tmp_path / f"{name}.py").write_text(source.format(s=name))
    result = run("verify", str(tmp_path / "a.py"), str(tmp_path / "b.py"), "--no-tf")
    _one_line_error(result, "b.py is chapter94 too")
    assert result.exit_code == 2
