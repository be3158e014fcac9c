"""The ``nnbook`` command: parses, calls the library, prints.

Imports here are lazy: ``nnbook --help`` loads neither TensorFlow nor Manim.
"""

from __future__ import annotations

import functools
import os
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path

import click

# publishing.render imports no Manim at module level, so --help stays light;
# the themes are plain colour tables (chapters.theme imports no Manim)
from chapters.theme import DEFAULT as DEFAULT_THEME
from chapters.theme import THEMES
from publishing.render import FORMATS, MAX_WORKERS, QUALITIES


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
                click.echo(
                    "Interrupted; finished files are intact, none is half-written.",
                    err=True,
                )
                sys.exit(143 if isinstance(cause, Terminated) else 130)
            click.echo("Aborted.", err=True)
            sys.exit(130)
        except Exception as exc:  # a bug: still one line, exit 1
            if os.environ.get("NNBOOK_TRACEBACK"):
                raise
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            click.echo(
                f"Error: unexpected {type(exc).__name__}: {first} (a bug in "
                "nnbook; NNBOOK_TRACEBACK=1 shows where)",
                err=True,
            )
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def _quiet():
    """While chapter code runs in this process: what it prints goes to standard
    error, so that standard output is only the command's own output (the files
    written, a report)."""
    from contextlib import redirect_stdout

    return redirect_stdout(sys.stderr)


def _keep_freed_memory() -> None:
    """This command evaluates formulas in bulk in this process (the checks, the
    gate): keep freed memory mapped, see :func:`nnmath.kernels.keep_freed_memory`."""
    from nnmath.kernels import keep_freed_memory

    keep_freed_memory()


def _chapters(names: tuple[str, ...]):
    """The chapters named (each once, in the order given), or all of them."""
    import chapters

    try:  # what a chapter file prints is not this command's output
        with _quiet():
            found = (
                [chapters.get(n) for n in names] if names else chapters.all_chapters()
            )
    except chapters.UnknownChapterError as exc:
        raise BadUsage(str(exc)) from None
    except chapters.ChapterFileError as exc:
        raise Failure(str(exc)) from None
    unique: dict[str, object] = {}
    for name, ch in zip(names or [c.id for c in found], found):
        seen = unique.get(ch.id)
        if seen is None:
            unique[ch.id] = ch
        elif (seen.module, seen.path) != (ch.module, ch.path):
            raise BadUsage(
                f"{name} is {ch.id} too: two chapters of one number would "
                "write the same folder; give one of them another number"
            )
    return list(unique.values())


def _folder(ctx, param, value):
    """A directory option: an empty path is a usage error, not the current folder."""
    if value is not None and str(value).strip() == "":
        raise click.BadParameter(
            "an empty path; give a folder name", ctx=ctx, param=param
        )
    return Path(value) if value is not None else None


def _media_option(help: str):
    """``--media DIR``: the media folder (videos and the cache), default ``media``."""
    return click.option(
        "--media",
        "media_dir",
        type=click.Path(file_okay=False),
        callback=_folder,
        default="media",
        show_default=True,
        help=help,
    )


def _output_option(default: str, help: str):
    """``-o/--output DIR``: the folder a command writes into."""
    return click.option(
        "-o",
        "--output",
        "out_dir",
        type=click.Path(file_okay=False),
        callback=_folder,
        default=default,
        show_default=True,
        help=help,
    )


class ExecutorType(click.ParamType):
    """``--executor``: ``local`` or ``dask://HOST:PORT`` (parsed by the library,
    without importing Dask)."""

    name = "EXECUTOR"

    def convert(self, value, param, ctx):
        from publishing.cluster import ExecutorSpec, parse_executor

        if isinstance(value, ExecutorSpec):
            return value
        try:
            return parse_executor(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _executor_option(what: str):
    """``--executor local|dask://HOST:PORT``: where the jobs run."""
    return click.option(
        "--executor",
        type=ExecutorType(),
        default="local",
        show_default=True,
        metavar="local|dask://HOST:PORT",
        help=f"Where {what} run: local processes (-j of them), or the workers of "
        "a dask.distributed scheduler (then -o, --media and $NNBOOK_CACHE must be "
        "on storage every worker sees; see the README).",
    )


def _check_jobs(spec, jobs: int) -> None:
    """-j counts local processes: with a cluster it is a usage error."""
    if spec.kind != "local" and jobs != 1:
        raise BadUsage(
            f"-j sets how many local processes run; with --executor {spec} the "
            "workers' threads decide (dask worker --nthreads): drop -j"
        )


@contextmanager
def _executor(spec, jobs: int):
    """The executor ``--executor`` names, open for the block (None: local)."""
    from publishing.cluster import ClusterError, open_executor

    _check_jobs(spec, jobs)
    try:
        with open_executor(spec) as executor:
            yield executor
    except ClusterError as exc:
        raise Failure(str(exc)) from None


def _open_cache(out_dir: Path) -> Path:
    """The render cache, checked before any work (one line if it is unusable)."""
    from publishing.cache import CacheError, open_cache

    try:
        return open_cache(out_dir)
    except CacheError as exc:
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


def _param(text: str) -> tuple[str, str]:
    """``key=value``; the formula's parameter spec reads the value."""
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise BadUsage(f"parameter {text[:40]!r} is not key=value, e.g. -p stride=2")
    return key.strip(), value


@cli.command()
@click.argument("name")
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A formula parameter, repeatable: -p stride=2 -p padding=same.",
)
def show(name: str, params: tuple[str, ...]) -> None:
    """Print a formula: LaTeX, inputs, generated NumPy, TensorFlow reference, claims.

    Example: nnbook show conv2d -p stride=2 -p padding=same
    """
    from nnmath import registry
    from nnmath.library.recurrent import NETWORKS

    if name in NETWORKS and not params:  # an unrolled network: its cell, over time
        _show_network(name)
        return
    try:
        f = registry.formula(
            name, **registry.parse_params(name, dict(map(_param, params)))
        )
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
        click.echo(
            "  constants: " + ", ".join(f"{k} = {v!r}" for k, v in f.constants.items())
        )
    specs = registry.parameters(f.name)
    if specs:
        click.echo("\nParameters (-p KEY=VALUE):")
        for key, (spec, default) in specs.items():
            click.echo(
                f"  {key} = {f.params.get(key, default)!r}  (valid: {spec.valid})"
            )
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


def _show_network(name: str) -> None:
    """``nnbook show rnn``: the cell's equations over time, the loop that runs
    them, and the BPTT claims composed from the cell's."""
    from nnmath.library.recurrent import network_claims, unrolled_network

    net = unrolled_network(name)
    click.echo(f"{net.name}: {net.title}\n")
    click.echo(f"LaTeX:\n  {net.latex}")
    click.echo("\nInputs:")
    for i in net.input_names:
        shape = "(N, T, F)" if i == "x" else None
        cell_name = net.initial.get(i, i)
        inp = net.cell.input(cell_name)
        what = f"initial {inp.description}" if i in net.initial else inp.description
        what = f"sequences: {what} at each step" if i == "x" else what
        click.echo(f"  {i:5s} {shape or inp.shape_text:10s} {what}")
    click.echo(
        f"  output: (N, T, {net.cell.output_shape[-1]}), "
        f"{net.cell.name}'s output at every step"
    )
    click.echo(f"\nNumPy (the cell's generated code, looped over time):\n{net.source}")
    click.echo(f"Keras: keras.layers.{net.layer}")
    click.echo("\nClaims (checked by nnbook verify):")
    for c in network_claims():
        if c.network.name == name:
            click.echo(f"  {c.name}: {c.latex}")
    click.echo(f"\n{net.notes}")


def _report_path(ctx, param, value):
    """A report path: ``-`` is standard output; an empty path is a usage error."""
    if value is not None and str(value).strip() == "":
        raise click.BadParameter(
            "an empty path; give a file name, or - for standard output",
            ctx=ctx,
            param=param,
        )
    if value is not None and str(value).endswith(("/", os.sep)):
        raise click.BadParameter(
            f"{value} names a folder; give a file name", ctx=ctx, param=param
        )
    return Path(value) if value is not None else None


@cli.command()
@click.argument("chapter_names", metavar="[CHAPTER]...", nargs=-1)
@click.option(
    "--json",
    "json_path",
    callback=_report_path,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Also write a JSON report to this file (- for standard output).",
)
@click.option(
    "--junit",
    "junit_path",
    callback=_report_path,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Also write a JUnit XML report to this file (- for standard output).",
)
@click.option(
    "--no-tf",
    is_flag=True,
    help="Skip the TensorFlow checks (symbolic, lowering and finite "
    "differences only); lists them as skipped and exits 3, not 0.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Time limit of each check; one that runs out FAILs and the others "
    "go on. [default: 120]",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1, max=MAX_WORKERS),
    default=1,
    show_default=True,
    help=f"Run the checks in this many processes at once (at most {MAX_WORKERS}).",
)
@_executor_option("the checks")
@click.option(
    "--fresh",
    is_flag=True,
    help="Run every check again, reusing no result from the cache.",
)
@_media_option(
    "The media folder whose cache (DIR/.cache, or $NNBOOK_CACHE) files "
    "the results, so that render and build there verify nothing again."
)
def verify(
    chapter_names,
    json_path,
    junit_path,
    no_tf,
    timeout,
    jobs,
    executor,
    fresh,
    media_dir,
) -> int:
    """Prove every claim of the chapters (by default: all chapters and every formula).

    Symbolically on a small instance, against TensorFlow (float64 and float32)
    and by central finite differences, each check within a time limit. A
    check's result is reused while its formula or claim, the checker's code and
    the library versions are unchanged (--fresh runs everything). Exit
    code 0 if all pass, 1 if any fails, 3 if all that ran passed but --no-tf
    skipped the TensorFlow checks (not a full verification). A report to
    standard output (--json -) moves the table to standard error.

    Example: nnbook verify chapter1 --json reports/verify.json
    """
    from nnmath.checker.report import (
        ReportError,
        check_destination,
        is_stdout,
        summary,
        write_json,
        write_junit,
    )
    from publishing.cache import cache_root
    from publishing.gate import book_and_library, verify_chapters
    from publishing.reuse import remember_run, replay, sources_digest

    from .table import CheckTable

    _keep_freed_memory()
    spec = executor
    _check_jobs(spec, jobs)
    reports = [p for p in (json_path, junit_path) if p is not None]
    to_stdout = [p for p in reports if is_stdout(p)]
    if len(to_stdout) > 1:
        raise BadUsage("--json and --junit cannot both go to standard output")
    if (
        len(reports) == 2
        and not to_stdout
        and (os.path.realpath(json_path) == os.path.realpath(junit_path))
    ):
        raise BadUsage("--json and --junit name the same file; give each its own")
    try:  # before the checks run: a report that cannot be written is known now
        for path in reports:
            check_destination(path)
    except ReportError as exc:
        raise Failure(str(exc)) from None
    # nothing changed since the same command ran: its checks, without loading
    # a chapter or building a formula
    cache = cache_root(media_dir)
    replayed = (
        None if fresh or no_tf or not cache.is_dir() else replay(cache, chapter_names)
    )
    if replayed is None:
        sources = sources_digest()
        if not chapter_names and jobs > 1 and spec.kind == "local":
            with _quiet():  # the book's chapters, loaded beside the library's build
                chs = book_and_library()
        else:
            chs = _chapters(chapter_names)
        ids = [c.id for c in chs]
    else:
        run, ids = replayed
    cache = _open_cache(media_dir)  # it files every result: it must be usable
    with ExitStack() as stack:
        # the cluster is reached (or not: one line) before the table starts
        pool = None if replayed else stack.enter_context(_executor(spec, jobs))
        table = CheckTable(out=sys.stderr if to_stdout else None)
        try:
            if replayed is not None:
                for c in run.checks:
                    table.add(c)
            else:
                with _quiet():
                    run = verify_chapters(
                        chs,
                        media_dir,
                        whole_library=not chapter_names,
                        oracle=not no_tf,
                        fresh=fresh,
                        jobs=jobs,
                        executor=pool,
                        on_check=table.add,
                        on_start=table.start,
                        timeout=timeout,
                    )
                if not no_tf:
                    remember_run(cache, chapter_names, run, ids, sources)
        finally:
            table.close()
    checks = run.checks
    try:
        if json_path:
            write_json(json_path, checks, chapters=ids)
        if junit_path:
            write_junit(junit_path, checks, chapters=ids)
    except ReportError as exc:
        raise Failure(str(exc)) from None
    s = summary(checks)
    line = f"{s['passed']} passed, {s['failed']} failed"
    if s["not_checked"]:
        line += f", {s['not_checked']} not checked"
    if s["skipped"]:
        line += (
            f", {s['skipped']} skipped (the TensorFlow checks, --no-tf): "
            "not a full verification"
        )
    click.echo(line, err=bool(to_stdout))
    click.echo(
        f"{run.reused} of {len(run.checks) - s['skipped']} checks reused "
        "(subject, checker and libraries unchanged; --fresh runs them again)",
        err=bool(to_stdout),
    )
    slowest = sorted((c for c in checks if not c.skipped), key=lambda c: -c.seconds)
    if slowest:
        click.echo(
            "slowest: "
            + ", ".join(f"{c.label} {c.seconds:.1f} s" for c in slowest[:5]),
            err=bool(to_stdout),
        )
    for c in checks:
        if c.passed and not c.checked:
            click.echo(c.line, err=bool(to_stdout))
    for c in checks:
        if not c.passed and not c.skipped:
            click.echo(c.line, err=True)
    if not s["ok"]:
        return 1
    return 3 if s["skipped"] else 0


def _theme_option(f):
    """``--theme``: the scenes' colours (and the deck's or the site's to match)."""
    return click.option(
        "--theme",
        type=click.Choice(list(THEMES)),
        default=DEFAULT_THEME,
        show_default=True,
        help="Colours: dark, or light (white background, dark saturated colours "
        "for a projector or paper).",
    )(f)


def _render_options(f):
    """Options shared by ``render`` and ``build``."""
    options = [
        _theme_option,
        click.option(
            "-q",
            "--quality",
            type=click.Choice(list(QUALITIES)),
            default="l",
            show_default=True,
            help="l=480p15, m=720p30, h=1080p60, p=1440p60, k=2160p60.",
        ),
        click.option(
            "-j",
            "--jobs",
            type=click.IntRange(min=1, max=MAX_WORKERS),
            default=1,
            show_default=True,
            help="Render this many scenes at "
            f"once (at most {MAX_WORKERS}), each in its own process.",
        ),
        click.option(
            "--force",
            is_flag=True,
            help="Ignore the caches: verify and render everything again.",
        ),
        click.option("--gif", is_flag=True, help="Also make a GIF of every scene."),
        _executor_option("the scenes"),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _verified(ch, checks, cached: bool, what: str) -> None:
    """A line per verification the render gate ran (the gate is library code:
    publishing.gate.gate, called by every render)."""
    what = (
        "" if what == "declared" else ", for what its scenes looked up beyond its lists"
    )
    more = "" if not what else " more"
    click.echo(
        f"{ch.id}: {len(checks)}{more} checks passed{what}"
        + (" (this maths was verified before: not re-checked)" if cached else ""),
        err=True,
    )


def _report(rendered, done, total) -> str:
    if rendered.error:
        why = rendered.error.removeprefix(f"rendering {rendered.job.label} failed: ")
        return f"[{done}/{total}] {rendered.job.label}: FAILED: {why}"
    how = "cached" if rendered.cached else f"rendered, {rendered.reason}"
    note = f"; {rendered.note}" if rendered.note else ""
    return (
        f"[{done}/{total}] {rendered.job.label}: {how} ({rendered.seconds:.1f} s){note}"
    )


@cli.command()
@click.argument("chapter_names", metavar="CHAPTER...", nargs=-1, required=True)
@_render_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="mp4",
    show_default=True,
    help="Output format, as Manim names it; png is the last frame.",
)
@click.option(
    "--bundle",
    is_flag=True,
    help="Embed bundle: mp4, webm and a poster PNG per scene, and EMBED.md "
    "with HTML, MyST and Jupyter snippets.",
)
@_output_option("media", "Directory to write into.")
@click.option(
    "--no-verify",
    is_flag=True,
    help="Render even if the chapter's claims fail verification.",
)
def render(
    chapter_names,
    theme,
    quality,
    jobs,
    force,
    gif,
    executor,
    fmt,
    bundle,
    out_dir,
    no_verify,
) -> None:
    """Render the scenes of chapters with Manim: book chapters or your own files.

    The chapters' claims are verified first; a chapter whose claims fail is not
    rendered unless --no-verify is given. Scenes whose code and maths are
    unchanged are taken from the cache (OUT/.cache, or $NNBOOK_CACHE).

    \b
    Examples:
      nnbook render chapter1 -q m --bundle --jobs 2
      nnbook render path/to/my_chapter.py
    """
    from publishing.gate import GateError
    from publishing.paths import ensure_writable
    from publishing.render import RenderFailed, render_chapters
    from publishing.tools import RenderError, check_tools

    _keep_freed_memory()
    if (bundle or gif) and fmt != "mp4":
        raise BadUsage(
            "--bundle and --gif are made from the mp4; leave --format at mp4"
        )
    chs = _chapters(chapter_names)
    try:
        ensure_writable(out_dir, "-o DIR")
        check_tools()
    except (OSError, RenderError) as exc:
        raise Failure(str(exc)) from None
    cache = _open_cache(out_dir)
    failed = None
    written = []
    with _executor(executor, jobs) as pool, _quiet():
        try:
            try:
                rendered = render_chapters(
                    chs,
                    quality=quality,
                    theme=theme,
                    fmt=fmt,
                    out_dir=out_dir,
                    workers=jobs,
                    executor=pool,
                    force=force,
                    verify=not no_verify,
                    on_verified=_verified,
                    on_progress=lambda *a: click.echo(_report(*a), err=True),
                )
            except RenderFailed as exc:  # the other scenes finished: keep, list them
                rendered, failed = [r for r in exc.rendered if not r.error], exc
            written = [r.path for r in rendered]
            if bundle or gif:
                from publishing.bundle import bundle_chapters

                for path in bundle_chapters(
                    chs, rendered, out_dir, gif=gif, cache=cache, force=force
                ):
                    written.append(path)
        except (RenderError, GateError, ValueError, OSError) as exc:
            failed = exc
    for path in written:
        click.echo(str(path))
    if failed is not None:
        raise Failure(_one_line(failed))


@cli.command()
@click.argument("chapter_names", metavar="[CHAPTER]...", nargs=-1)
@_render_options
@_output_option("site", "Directory of the site.")
@_media_option("Where rendered videos and the cache live.")
@click.option(
    "--no-verify",
    is_flag=True,
    help="Build even if a chapter's claims fail (their badges say FAILED).",
)
@click.option(
    "--safe",
    is_flag=True,
    help="Escape raw HTML in the prose (for prose from contributors you do "
    "not trust); without it raw HTML passes through, as in Markdown.",
)
@click.option(
    "--pdf",
    is_flag=True,
    help="Write the book as OUT/book.pdf instead (pandoc and pdflatex): prose, "
    "equations, each video's poster as a figure, verification tables.",
)
def build(
    chapter_names,
    theme,
    quality,
    jobs,
    force,
    gif,
    executor,
    out_dir,
    media_dir,
    no_verify,
    safe,
    pdf,
) -> None:
    """Build the book as a static HTML site (all chapters by default), or with
    --pdf as a PDF.

    Verifies and renders what changed (cached otherwise), typesets the equations
    as SVG with LaTeX, and writes OUT/index.html: open it from disk or put the
    folder on any static host. Nothing is fetched from a network. A chapter whose
    claims fail stops the build unless --no-verify is given.

    \b
    Examples:
      nnbook build -o site && xdg-open site/index.html
      nnbook build chapter1 chapter2 --pdf -o site   # site/book.pdf
      nnbook build chapter1 --pdf --theme light -o print   # for paper
    """
    if pdf and gif:
        raise BadUsage("--gif makes GIFs for the site; a PDF has none")
    from chapters.base import ProseError, check_prose
    from publishing.gate import GateError
    from publishing.paths import ensure_writable
    from publishing.tools import RenderError, check_tools

    if pdf:  # the same checks and renders as the site, then OUT/book.pdf
        from publishing.pdf import PdfError, build_pdf, check_pdf_tools

        make, typeset_error = build_pdf, PdfError
    else:
        from publishing.site import build_site
        from publishing.texsvg import TexError

        make = functools.partial(build_site, gif=gif, safe=safe)
        typeset_error = TexError
    _keep_freed_memory()
    chs = _chapters(chapter_names)
    try:
        for ch in chs:  # a placeholder that names nothing: now, not after rendering
            check_prose(ch)
        ensure_writable(out_dir, "-o DIR")
        ensure_writable(media_dir, "--media DIR")
        if pdf:
            check_pdf_tools()
        check_tools()
    except (OSError, RenderError, ProseError) as exc:
        raise Failure(str(exc)) from None
    cache = _open_cache(media_dir)
    with _executor(executor, jobs) as pool, _quiet():
        try:
            written = make(
                chs,
                out_dir,
                media=media_dir,
                cache=cache,
                quality=quality,
                theme=theme,
                force=force,
                workers=jobs,
                executor=pool,
                verify=not no_verify,
                on_verified=_verified,
                on_step=lambda ch, step: click.echo(f"{ch.id}: {step}", err=True),
                on_progress=lambda *a: click.echo(_report(*a), err=True),
            )
        except (OSError, RenderError, GateError, typeset_error, ValueError) as exc:
            raise Failure(_one_line(exc)) from None
    click.echo(str(written))


@cli.command()
@click.argument("chapter_names", metavar="CHAPTER...", nargs=-1, required=True)
@click.option(
    "--to",
    type=click.Choice(["html", "pptx"]),
    default="html",
    show_default=True,
    help="reveal.js HTML (works offline from disk) or PowerPoint.",
)
@_output_option("slides", "Directory of the decks.")
@click.option(
    "-q",
    "--quality",
    type=click.Choice(list(QUALITIES)),
    default="l",
    show_default=True,
    help="l=480p15, m=720p30, h=1080p60, p=1440p60, k=2160p60.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1, max=MAX_WORKERS),
    default=1,
    show_default=True,
    help=f"Render this many scenes at once (at most {MAX_WORKERS}).",
)
@_theme_option
@_executor_option("the scenes")
@click.option("--force", is_flag=True, help="Ignore the caches.")
@_media_option("Where the rendered slides and the cache live.")
@click.option(
    "--no-verify",
    is_flag=True,
    help="Make slides even if the chapter's claims fail verification.",
)
def slides(
    chapter_names,
    to,
    out_dir,
    quality,
    jobs,
    theme,
    executor,
    force,
    media_dir,
    no_verify,
) -> None:
    """Lecture slides per chapter, made with manim-slides: each scene advances
    one step per click (a slide ends at each of its teaching pauses).

    Writes OUT/chapterN.html (with chapterN_assets/) or OUT/chapterN.pptx. The
    scenes go through the same render cache and verification gate as videos: a
    chapter whose claims fail makes no slides unless --no-verify is given.

    \b
    Examples:
      nnbook slides chapter1 && xdg-open slides/chapter1.html
      nnbook slides chapter1 --theme light   # white, for a projector
      nnbook slides chapter1 chapter5 --to pptx -o lecture
    """
    from publishing.gate import GateError
    from publishing.paths import ensure_writable
    from publishing.slides import build_slides, check_slides_tools
    from publishing.tools import RenderError, check_tools

    _keep_freed_memory()
    chs = _chapters(chapter_names)
    try:
        check_slides_tools(to)
        ensure_writable(out_dir, "-o DIR")
        ensure_writable(media_dir, "--media DIR")
        check_tools()
    except (OSError, RenderError) as exc:
        raise Failure(_one_line(exc)) from None
    _open_cache(media_dir)
    with _executor(executor, jobs) as pool, _quiet():
        try:
            decks = build_slides(
                chs,
                to=to,
                out_dir=out_dir,
                media_dir=media_dir,
                quality=quality,
                theme=theme,
                workers=jobs,
                executor=pool,
                force=force,
                verify=not no_verify,
                on_verified=_verified,
                on_progress=lambda *a: click.echo(_report(*a), err=True),
            )
        except (OSError, RenderError, GateError, ValueError) as exc:
            raise Failure(_one_line(exc)) from None
    for deck in decks:
        click.echo(str(deck))


@cli.command()
@click.argument("chapter_names", metavar="[CHAPTER]...", nargs=-1)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, MAX_WORKERS),
    default=1,
    show_default=True,
    help="Chapters looked at in parallel.",
)
@_media_option(
    "The media folder whose cache (DIR/.cache, or $NNBOOK_CACHE) keeps "
    "the typeset equations between runs."
)
def lint(chapter_names, jobs, media_dir) -> int:
    """Check the scenes' layout without rendering (all chapters by default).

    Each scene runs in Manim's dry run; after every play: digits at least 8.7 px
    tall at 480p (MathTex 20, Text 15), no two texts or equations overlapping,
    nothing past the frame's edge, and each equation on screen for 1.5 s plus
    0.5 s per term. Prints one
    line per violation (scene, time, rule, mobject). Exit code 0 if there is
    none, 1 if there are any.

    Example: nnbook lint chapter3 my_chapter.py
    """
    from publishing.dryrun import lint_chapters

    chs = _chapters(chapter_names)
    tex = _open_cache(media_dir) / "tex"
    with _quiet():
        found = lint_chapters(chs, workers=jobs, tex_dir=tex)
    for v in found:
        click.echo(str(v))
    scenes = sum(len(ch.scenes) for ch in chs)
    click.echo(
        f"{len(found)} layout violation(s) in {scenes} scene(s)"
        if found
        else f"no layout violations in {scenes} scene(s)",
        err=True,
    )
    return 1 if found else 0


@cli.command()
@click.argument("path", metavar="PATH")
def new(path: str) -> None:
    """Write a chapter of your own that works at once: PATH (a .py) with one
    formula, its derivative claim and one scene, and its prose beside it (.md).

    Never overwrites a file: if either exists, nothing is written (exit 1).

    Example: nnbook new lectures/week3.py && nnbook verify lectures/week3.py
    """
    from chapters.skeleton import SkeletonError, write_skeleton

    try:
        written = write_skeleton(path)
    except (SkeletonError, OSError) as exc:
        raise Failure(_one_line(exc)) from None
    for p in written:
        click.echo(str(p))


def _one_line(exc: BaseException) -> str:
    """A library error as the one line the README promises (an OSError without its
    ``[Errno N]`` prefix)."""
    if isinstance(exc, OSError) and type(exc).__str__ is OSError.__str__:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@cli.command()
def doctor() -> int:
    """Report each dependency as found or missing, with the command that fixes it.

    Example: nnbook doctor
    """
    from publishing.doctor import diagnose

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
    import gc
    import signal

    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        cli()
    finally:
        # the process ends: the collector's last pass would walk every object
        # the command made (a verify's formula library: 0.25 s) to free what
        # the ending process frees anyway.  Exit handlers still run
        gc.freeze()


if __name__ == "__main__":
    main()
