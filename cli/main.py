"""The ``nnbook`` command: parses, calls the library, prints.

Imports here are lazy: ``nnbook --help`` loads neither TensorFlow nor Manim.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

# chapters.render imports no Manim at module level, so --help stays light
from chapters.render import FORMATS, QUALITIES


class Failure(click.ClickException):
    """A library error shown as one line; exit code 1."""


class BadUsage(click.ClickException):
    """A usage error shown as one line; exit code 2."""

    exit_code = 2


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same clean-up runs."""


def _on_sigterm(signum, frame):
    raise Terminated()


class Group(click.Group):
    """Prints every error as a single line, never a traceback."""

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            click.echo(f"Error: {exc.format_message()}{hint}", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            click.echo(f"Error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except (click.Abort, KeyboardInterrupt) as exc:
            # Click turns Ctrl-C (and our SIGTERM) into Abort; the cause says which
            cause = exc if isinstance(exc, KeyboardInterrupt) else exc.__context__
            if isinstance(cause, KeyboardInterrupt):
                click.echo("Interrupted; finished files are intact, none is half-written.",
                           err=True)
                sys.exit(143 if isinstance(cause, Terminated) else 130)
            click.echo("Aborted.", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


def _chapters(names: tuple[str, ...]):
    import chapters

    try:
        return [chapters.get(n) for n in names] if names else chapters.all_chapters()
    except chapters.UnknownChapterError as exc:
        raise BadUsage(str(exc)) from None
    except chapters.ChapterFileError as exc:
        raise Failure(str(exc)) from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nnbook")
def cli() -> None:
    """nnbook: a visual textbook of neural-network maths, every formula checked.

    Example: nnbook render chapter1 && nnbook verify chapter1
    """


@cli.command("list")
def list_() -> None:
    """List the chapters, their scenes and formulas, and every formula.

    Example: nnbook list
    """
    import chapters
    from nnmath import registry

    for ch in chapters.all_chapters():
        click.echo(f"{ch.id}  {ch.slug:12s} {ch.title}")
        click.echo(f"    scenes:   {', '.join(ch.scenes)}")
        click.echo(f"    formulas: {', '.join(ch.formulas)}")
        click.echo(f"    claims:   {', '.join(ch.claims)}")
    click.echo("\nformulas: " + ", ".join(registry.names()))


def _param(text: str) -> tuple[str, object]:
    """``key=value`` with value a Python literal (2, (2, 1), True) or else a string."""
    import ast

    key, eq, value = text.partition("=")
    if not eq or not key:
        raise BadUsage(f"parameter {text!r} is not key=value, e.g. -p stride=2")
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value

    def hashable(v):  # the registry caches formulas by their parameters
        return tuple(hashable(a) for a in v) if isinstance(v, (list, tuple)) else v

    return key, hashable(parsed)


@cli.command()
@click.argument("name")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A formula parameter, repeatable: -p stride=2 -p padding=same.")
def show(name: str, params: tuple[str, ...]) -> None:
    """Print a formula: LaTeX, inputs, generated NumPy, TensorFlow reference, claims.

    Example: nnbook show conv2d -p stride=2 -p padding=same
    """
    from nnmath import registry

    try:
        f = registry.formula(name, **dict(_param(p) for p in params))
    except (registry.UnknownNameError, ValueError) as exc:
        raise BadUsage(str(exc)) from None
    click.echo(f"{f.name}: {f.title}\n")
    click.echo(f"LaTeX:\n  {f.latex}")
    if f.scalar is not None:
        click.echo(f"  over a batch: {f.indexed_latex}")
    click.echo("\nInputs:")
    for i in f.inputs:
        domain = "" if i.domain == "real" else f"  [{i.domain}]"
        click.echo(f"  {i.name:5s} {i.shape_text:10s} {i.description}{domain}")
    click.echo(f"  output {f.output}: ({', '.join(f.output_shape)})")
    if f.constants:
        click.echo("  constants: " + ", ".join(f"{k} = {v!r}" for k, v in f.constants.items()))
    click.echo(f"\nNumPy (generated from the SymPy expression):\n{f.source}")
    click.echo(f"TensorFlow reference:\n  {f.tf}")
    if f.tf_note:
        click.echo(f"  note: {f.tf_note}")
    claims = registry.claims(f.name)
    if claims:
        click.echo("\nClaims (checked by nnbook verify):")
        for c in claims:
            other = {k: v for k, v in c.formula.params.items() if f.params.get(k) != v}
            where = " [with " + ", ".join(f"{k}={v!r}" for k, v in other.items()) + "]"
            click.echo(f"  {c.name}{where if other else ''}: {c.latex}")
    if f.notes:
        click.echo(f"\n{f.notes}")


@cli.command()
@click.argument("chapter_names", metavar="[CHAPTER]...", nargs=-1)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a JSON report to this file.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a JUnit XML report to this file.")
@click.option("--no-tf", is_flag=True,
              help="Skip the TensorFlow checks (symbolic, lowering and finite "
              "differences only); lists them as skipped and exits 3, not 0.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="SECONDS",
              help="Time limit of each check; one that runs out FAILs and the others "
              "go on. [default: 120]")
def verify(chapter_names, json_path, junit_path, no_tf, timeout) -> int:
    """Prove every claim of the chapters (by default: all chapters and every formula).

    Symbolically on a small instance, against TensorFlow (float64 and float32)
    and by central finite differences, each check within a time limit. Exit
    code 0 if all pass, 1 if any fails, 3 if all that ran passed but --no-tf
    skipped the TensorFlow checks (not a full verification).

    Example: nnbook verify chapter1 --json reports/verify.json
    """
    from chapters.cache import cache_root
    from chapters.verification import cached_verification, subjects
    from nnmath.checks import skipped
    from nnmath.report import summary, write_json, write_junit

    from .table import CheckTable

    chs = _chapters(chapter_names)
    table = CheckTable()
    try:  # always checked afresh; filed in the cache so render and build reuse it
        checks, _ = cached_verification(chs, cache_root(Path("media")), force=True,
                                        whole_library=not chapter_names,
                                        oracle=not no_tf, on_check=table.add,
                                        on_start=table.start, timeout=timeout)
        if no_tf:  # what was not checked is listed, and counted, as such
            left_out = skipped(*subjects(chs, whole_library=not chapter_names))
            for c in left_out:
                table.add(c)
            checks = checks + left_out
    finally:
        table.close()
    ids = [c.id for c in chs]
    try:
        if json_path:
            write_json(json_path, checks, chapters=ids)
        if junit_path:
            write_junit(junit_path, checks, chapters=ids)
    except OSError as exc:
        raise Failure(f"cannot write the report: {exc.strerror}: {exc.filename}") from None
    s = summary(checks)
    line = f"{s['passed']} passed, {s['failed']} failed"
    if s["skipped"]:
        line += (f", {s['skipped']} skipped (the TensorFlow checks, --no-tf): "
                 "not a full verification")
    click.echo(line)
    for c in checks:
        if not c.passed and not c.skipped:
            click.echo(f"FAILED {c.label}: {c.detail}", err=True)
    if not s["ok"]:
        return 1
    return 3 if s["skipped"] else 0


def _render_options(f):
    """Options shared by ``render`` and ``build``."""
    options = [
        click.option("-q", "--quality", type=click.Choice(list(QUALITIES)), default="l",
                     show_default=True,
                     help="l=480p15, m=720p30, h=1080p60, p=1440p60, k=2160p60."),
        click.option("-j", "--jobs", type=click.IntRange(min=1), default=1,
                     show_default=True, help="Render this many scenes at once, each in "
                     "its own process."),
        click.option("--force", is_flag=True,
                     help="Ignore the caches: verify and render everything again."),
        click.option("--gif", is_flag=True, help="Also make a GIF of every scene."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _gate(chs, cache: Path, force: bool) -> None:
    """Verify each chapter (reusing a verification of the same content); refuse to
    go on if a claim fails."""
    from chapters.verification import cached_verification

    for ch in chs:
        checks, cached = cached_verification([ch], cache, force=force)
        failed = [c for c in checks if not c.passed]
        if failed:
            named = ", ".join(sorted({c.label for c in failed}))
            raise Failure(f"not rendering {ch.id}: verification failed for {named}; fix "
                          "the claim, or render anyway with --no-verify")
        click.echo(f"{ch.id}: {len(checks)} checks passed"
                   + (" (this maths was verified before: not re-checked)" if cached else ""),
                   err=True)


def _report(rendered, done, total) -> str:
    how = "cached" if rendered.cached else f"rendered, {rendered.reason}"
    return f"[{done}/{total}] {rendered.job.label}: {how} ({rendered.seconds:.1f} s)"


@cli.command()
@click.argument("chapter_names", metavar="CHAPTER...", nargs=-1, required=True)
@_render_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="mp4",
              show_default=True, help="Output format, as Manim names it; png is the "
              "last frame.")
@click.option("--bundle", is_flag=True,
              help="Embed bundle: mp4, webm and a poster PNG per scene, and EMBED.md "
              "with HTML, MyST and Jupyter snippets.")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("media"), show_default=True, help="Directory to write into.")
@click.option("--no-verify", is_flag=True,
              help="Render even if the chapter's claims fail verification.")
def render(chapter_names, quality, jobs, force, gif, fmt, bundle, out_dir, no_verify) -> None:
    """Render the scenes of chapters with Manim: book chapters or your own files.

    The chapters' claims are verified first; a chapter whose claims fail is not
    rendered unless --no-verify is given. Scenes whose code and maths are
    unchanged are taken from the cache (OUT/.cache, or $NNBOOK_CACHE).

    \b
    Examples:
      nnbook render chapter1 -q m --bundle --jobs 2
      nnbook render path/to/my_chapter.py
    """
    from chapters.cache import cache_root
    from chapters.paths import ensure_writable
    from chapters.render import RenderError, check_tools, render_chapters

    chs = _chapters(chapter_names)
    if (bundle or gif) and fmt != "mp4":
        raise BadUsage("--bundle and --gif are made from the mp4; leave --format at mp4")
    try:
        ensure_writable(out_dir)
        check_tools()
    except (OSError, RenderError) as exc:
        raise Failure(str(exc)) from None
    cache = cache_root(out_dir)
    if not no_verify:
        _gate(chs, cache, force)
    try:
        rendered = render_chapters(chs, quality=quality, fmt=fmt, out_dir=out_dir,
                                   workers=jobs, force=force,
                                   on_progress=lambda *a: click.echo(_report(*a), err=True))
        written = [r.path for r in rendered]
        if bundle or gif:
            from chapters.bundle import bundle_scene, write_snippets

            for ch in chs:
                made = [bundle_scene(r.path, gif=gif, cache=cache) for r in rendered
                        if r.path.parent.name == ch.id]
                for b in made:
                    written += [b.webm, b.poster] + ([b.gif] if b.gif else [])
                written.append(write_snippets(out_dir / ch.id, made, ch.title))
    except (RenderError, ValueError) as exc:
        raise Failure(str(exc)) from None
    for path in written:
        click.echo(str(path))


@cli.command()
@click.argument("chapter_names", metavar="[CHAPTER]...", nargs=-1)
@_render_options
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("site"), show_default=True, help="Directory of the site.")
@click.option("--media", "media_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("media"), show_default=True,
              help="Where rendered videos and the cache live.")
@click.option("--no-verify", is_flag=True,
              help="Build even if a chapter's claims fail (their badges say FAILED).")
def build(chapter_names, quality, jobs, force, gif, out_dir, media_dir, no_verify) -> None:
    """Build the book as a static HTML site (all chapters by default).

    Verifies and renders what changed (cached otherwise), typesets the equations
    as SVG with LaTeX, and writes OUT/index.html: open it from disk or put the
    folder on any static host. Nothing is fetched from a network. A chapter whose
    claims fail stops the build unless --no-verify is given.

    Example: nnbook build -o site && xdg-open site/index.html
    """
    from chapters.cache import cache_root
    from chapters.paths import ensure_writable
    from chapters.render import RenderError, check_tools
    from chapters.site import build_site
    from chapters.texsvg import TexError

    chs = _chapters(chapter_names)
    try:
        ensure_writable(out_dir)
        ensure_writable(media_dir)
        check_tools()
    except (OSError, RenderError) as exc:
        raise Failure(str(exc)) from None
    if not no_verify:
        _gate(chs, cache_root(media_dir), force)
    try:
        index = build_site(
            chs, out_dir, media=media_dir, cache=cache_root(media_dir), quality=quality,
            force=force, gif=gif, workers=jobs,
            on_step=lambda ch, step: click.echo(f"{ch.id}: {step}", err=True),
            on_progress=lambda *a: click.echo(_report(*a), err=True))
    except (OSError, RenderError, TexError, ValueError) as exc:
        raise Failure(str(exc)) from None
    click.echo(str(index))


@cli.command()
def doctor() -> int:
    """Report each dependency as found or missing, with the command that fixes it.

    Example: nnbook doctor
    """
    from chapters.doctor import diagnose

    findings = diagnose()
    for f in findings:
        mark = "found  " if f.found else "MISSING"
        click.echo(f"{mark} {f.name:14s} {f.detail}")
        if not f.found:
            click.echo(f"        fix: {f.fix}")
    missing = [f for f in findings if not f.found]
    click.echo("all dependencies found" if not missing else f"{len(missing)} missing")
    return 1 if missing else 0


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _on_sigterm)
    cli()


if __name__ == "__main__":
    main()
