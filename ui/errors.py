"""One place that decides what a visitor sees when a handler fails.

    demo = build_app(config)       # build_app calls guard_handlers(demo) on the finished Blocks
    guard_handlers(demo)           # wrap every event handler of any Blocks

- ``gr.Error`` raised on purpose by a handler ("Type a prompt first.") passes through.
- A ``StillhouseError`` becomes ``gr.Error(error.message)``: the same sentence the CLI prints.
- Anything else becomes ``gr.Error("internal error, id X")``; the server log gets the full
  traceback under the same id, so a visitor's report can be matched to it. Raw exception
  text (paths, keys, SQL) never reaches the page.

The app launches with ``show_error=False``, so nothing but these ``gr.Error`` messages is shown.
"""

from __future__ import annotations

import functools
import inspect
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.errors import StillhouseError

if TYPE_CHECKING:
    import gradio as gr

log = logging.getLogger("stillhouse.ui")

_GUARDED = "__stillhouse_guarded__"


def visible(error: Exception, where: str = "a handler") -> Exception:
    """The exception to raise in the page instead of ``error``; an unexpected one is logged
    with its traceback and an id."""
    import gradio as gr
    from gradio_client.exceptions import AppError

    if isinstance(error, AppError):  # gr.Error raised on purpose
        return error
    if isinstance(error, StillhouseError):
        return gr.Error(error.message)
    incident = uuid.uuid4().hex[:12]
    log.error("internal error, id %s, in %s", incident, where, exc_info=error)
    return gr.Error(f"internal error, id {incident}")


def guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with its failures turned into what a visitor may see (``visible``).

    Keeps ``fn``'s kind (plain, generator, coroutine, async generator) and signature, so
    Gradio still finds its ``gr.Request`` and ``gr.Progress`` parameters.
    """
    if getattr(fn, _GUARDED, False):
        return fn
    where = getattr(fn, "__qualname__", repr(fn))

    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def guarded_asyncgen(*args: Any, **kwargs: Any) -> Any:
            try:
                async for item in fn(*args, **kwargs):
                    yield item
            except Exception as error:
                raise visible(error, where) from None

        wrapper: Callable[..., Any] = guarded_asyncgen
    elif inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def guarded_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except Exception as error:
                raise visible(error, where) from None

        wrapper = guarded_async
    elif inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def guarded_gen(*args: Any, **kwargs: Any) -> Any:
            try:
                return (yield from fn(*args, **kwargs))
            except Exception as error:
                raise visible(error, where) from None

        wrapper = guarded_gen
    else:

        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as error:
                raise visible(error, where) from None

        wrapper = guarded
    setattr(wrapper, _GUARDED, True)
    return wrapper


def guard_handlers(demo: gr.Blocks) -> int:
    """Wrap every event handler of ``demo`` with ``guard``; return how many were wrapped."""
    wrapped = 0
    for block_fn in demo.fns.values():
        if block_fn.fn is not None and not getattr(block_fn.fn, _GUARDED, False):
            block_fn.fn = guard(block_fn.fn)
            wrapped += 1
    return wrapped
