"""stillhouse user interfaces: the Gradio web app (``ui.app``) and the command line (``ui.cli``).

Nothing here holds business logic: handlers read input, call a ``core`` or ``audit``
service function, and render the result.
"""
