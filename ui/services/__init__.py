"""Thin glue between the web app's tabs and the engine, one module per tab.

``ui.services.app.AppServices`` composes them for one running app: ``models`` (the
served teacher and student), ``arena``, ``battle``, ``leaderboard``, ``distill``,
``similarity``, ``audit``, ``reports`` and ``access`` (admin checks). ``student`` holds
the first distillation, run in the background while the teacher is served. Services take
and return pydantic views; no business logic and no SQL live here, and nothing here imports gradio.
"""
