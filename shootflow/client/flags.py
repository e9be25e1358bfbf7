"""Capture options as command-line flags. Their values are checked by the options' owner
(capture.options.read_options) before anything is sent, so a bad one is a usage error naming
its flag; options this version has no flag for pass through `--option key=value`."""
import json

import click

from ..capture.options import (FORMATS, PRESETS, READERS, WAIT_UNTIL, OptionError,
                               read_options, viewport_of)


def _viewports(ctx, param, values):
    for value in _tuple(values):
        try:
            viewport_of(value)
        except OptionError as exc:
            raise click.BadParameter(str(exc).replace('Option "viewport" ', ""), ctx,
                                     param) from None
    return values


def _pairs(separator, example):
    """A callback reading repeated NAME<separator>VALUE flags into (name, value) pairs."""
    def read(ctx, param, values):
        pairs = []
        for value in values:
            name, found, rest = value.partition(separator)
            if not found or not name.strip():
                raise click.BadParameter(f"{value[:40]!r} is not {example}", ctx, param)
            pairs.append((name.strip(), rest.strip() if separator == ":" else rest))
        return pairs
    return read


def _tuple(value):
    return (value,) if isinstance(value, str) else value or ()


def _json_or_text(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


# ((flag names..., the option it sets), click settings). Flags left out are not sent, so the
# server's defaults (and SHOOTFLOW_VIEWPORT) apply.
FLAGS = (
    (("--viewport", "viewport"), dict(
        multiple=True, metavar="WxH|PRESET", callback=_viewports,
        help=f"Viewport, such as 1280x800, or a preset ({', '.join(PRESETS)}). Repeat it "
             "(up to 5) for one shot per URL and viewport.")),
    (("--preset", "preset"), dict(
        multiple=True, type=click.Choice(list(PRESETS)),
        help="A viewport preset, the same as --viewport NAME.")),
    (("--full-page", "full_page"), dict(
        is_flag=True, default=None, help="Scroll through the page and capture all of it.")),
    (("--max-height", "max_height"), dict(
        type=int, metavar="PX", help="CSS pixels a full page is cut at (default 16384).")),
    (("--scale", "scale"), dict(type=float, help="Device pixels per CSS pixel, 1 to 3.")),
    (("--format", "format"), dict(type=click.Choice(FORMATS), help="Image format.")),
    (("--quality", "quality"), dict(type=int, help="1 to 100, for jpeg and webp.")),
    (("--wait-until", "wait_until"), dict(
        type=click.Choice(WAIT_UNTIL),
        help="load, or networkidle: no request open for 500 ms.")),
    (("--wait-for", "wait_for"), dict(
        metavar="SELECTOR", help="Wait until an element matching this CSS selector is there.")),
    (("--delay", "delay"), dict(type=float, metavar="SECONDS",
                                help="Extra seconds to wait, 0 to 30.")),
    (("--timeout", "timeout"), dict(type=int, metavar="SECONDS",
                                    help="Seconds for the page to load and be ready.")),
    (("--selector", "selector"), dict(
        metavar="SELECTOR", help="Capture only the first element matching this.")),
    (("--hide", "hide"), dict(multiple=True, metavar="SELECTOR",
                              help="Hide elements matching this; repeatable.")),
    (("--hide-banners", "hide_banners"), dict(
        is_flag=True, default=None, help="Reject cookie and consent banners, hide the rest.")),
    (("--block-ads", "block_ads"), dict(is_flag=True, default=None,
                                        help="Block ads and trackers.")),
    (("--dark", "--dark-mode", "dark_mode"), dict(
        is_flag=True, default=None, help="Emulate prefers-color-scheme: dark.")),
    (("--reduced-motion", "reduced_motion"), dict(
        is_flag=True, default=None, help="Emulate prefers-reduced-motion: reduce.")),
    (("--user-agent", "user_agent"), dict(metavar="TEXT", help="The User-Agent to send.")),
    (("--header", "headers"), dict(
        multiple=True, metavar="'NAME: VALUE'", callback=_pairs(":", "'NAME: VALUE'"),
        help="A request header; repeatable.")),
    (("--cookie", "cookies"), dict(
        multiple=True, metavar="NAME=VALUE", callback=_pairs("=", "NAME=VALUE"),
        help="A cookie to send; repeatable.")),
    (("--javascript", "javascript"), dict(
        metavar="CODE", help="A script run in the page before the capture.")),
    (("--option", "option"), dict(
        multiple=True, metavar="KEY=VALUE", callback=_pairs("=", "KEY=VALUE"),
        help="Any capture option by its API name; VALUE is JSON (or else text), such as "
             "--option 'headers={\"Accept-Language\": \"de\"}'. Repeatable; wins over flags.")),
)
FLAG_OF = {decls[-1]: decls[0] for decls, _ in FLAGS}
ONE_VIEWPORT = f"Viewport, such as 1280x800, or a preset ({', '.join(PRESETS)})."


def capture_flags(one_viewport=False):
    """A decorator adding every capture-option flag to a click command."""
    def add(command):
        for decls, settings in reversed(FLAGS):
            if one_viewport and decls[-1] == "viewport":
                settings = {**settings, "multiple": False, "help": ONE_VIEWPORT}
            command = click.option(*decls, **settings)(command)
        return command
    return add


def _given(flags):
    """(the options the flags set, those set by --option), popped from the command's keyword
    arguments."""
    values = {decls[-1]: flags.pop(decls[-1]) for decls, _ in FLAGS}
    viewports = [*values.pop("preset"), *_tuple(values.pop("viewport"))]
    options = {"viewport": viewports} if viewports else {}
    for key, value in values.items():
        if key == "headers":
            value = dict(value)
        elif key == "cookies":
            value = [{"name": name, "value": text} for name, text in value]
        if key != "option" and value not in (None, (), [], {}):
            options[key] = list(value) if isinstance(value, tuple) else value
    passed = {key: _json_or_text(text) for key, text in values["option"]}
    return {**options, **passed}, passed.keys()


def options_from(flags, one_viewport=False):
    """The API's "options" object from a command's flags, checked; BadParameter names the
    flag of a value the server would refuse."""
    ctx = click.get_current_context()
    options, passed = _given(flags)
    viewports = options.get("viewport")
    if isinstance(viewports, list) and len(viewports) == 1:
        options["viewport"] = viewports[0]
    elif isinstance(viewports, list) and one_viewport:
        raise click.BadParameter("a watch takes one viewport", ctx, param_hint="'--viewport'")
    # Options this version does not know go to the server as they are: it may be newer.
    known = {key: value for key, value in options.items() if key in READERS}
    try:
        read_options(known)
    except OptionError as exc:
        key = exc.name.split(".")[0].split("[")[0]
        flag = "--option" if key in passed else FLAG_OF.get(key, "--option")
        raise click.BadParameter(str(exc), ctx, param_hint=f"'{flag}'") from None
    return options
