"""The admin sign-in panel under the header.

A password box checked against ``STILLHOUSE_ADMIN_PASSWORD`` (or, on a Hugging Face
Space, the "Sign in with Hugging Face" button for users named in
``STILLHOUSE_ADMIN_USERS``). The result is a per-browser-session ``gr.State``
that the admin tabs take as an input; without it they say so and do nothing.
"""

from __future__ import annotations

import os

import gradio as gr

from ui.services.app import AppServices

LOCKED = (
    "<div class='sh-locked'><b>Admin login required.</b> {what} Sign in with the admin "
    "password in the <i>Admin</i> panel at the top of the page.</div>"
)


def oauth_available() -> bool:
    """Sign-in with Hugging Face: on a Space, with gradio's oauth extra installed."""
    import importlib.util

    return bool(os.environ.get("SPACE_ID")) and importlib.util.find_spec("authlib") is not None


def locked_notice(what: str, admin: gr.State) -> gr.HTML:
    """A notice shown on an admin tab until this session signs in."""
    notice = gr.HTML(LOCKED.format(what=what), visible=True)
    admin.change(
        lambda ok: gr.update(visible=not ok), inputs=admin, outputs=notice, api_visibility="private"
    )
    return notice


def build_login(services: AppServices) -> gr.State:
    """The Admin accordion; returns the session's is-admin state."""
    admin = gr.State(False)
    configured = services.access.enabled
    with gr.Accordion("Admin", open=False, elem_id="admin-panel"):
        with gr.Row(equal_height=True):
            password = gr.Textbox(
                label="Admin password",
                type="password",
                scale=3,
                elem_id="admin-password",
                placeholder="STILLHOUSE_ADMIN_PASSWORD" if configured else "admin login disabled",
                interactive=configured,
            )
            sign_in = gr.Button("Sign in", variant="primary", scale=1, elem_id="admin-sign-in")
            sign_out = gr.Button("Sign out", scale=1)
        status = gr.Markdown(
            "Not signed in: chat and blind voting are open; Distill, registration, "
            "overrides and report export need an admin."
            if configured
            else "Admin login is disabled: set `STILLHOUSE_ADMIN_PASSWORD` to enable it.",
            elem_id="admin-status",
        )
        if oauth_available():
            gr.LoginButton()

    def check(secret: str) -> tuple[bool, str, str]:
        if services.access.is_admin_password(secret):
            return True, "Signed in as admin for this browser session.", ""
        return False, "Wrong password.", ""

    sign_in.click(
        check, inputs=password, outputs=[admin, status, password], api_visibility="private"
    )
    password.submit(
        check, inputs=password, outputs=[admin, status, password], api_visibility="private"
    )
    sign_out.click(
        lambda: (False, "Signed out."), outputs=[admin, status], api_visibility="private"
    )
    return admin


def attach_oauth(demo: gr.Blocks, services: AppServices, admin: gr.State) -> None:
    """On a Space, a page load signed in with Hugging Face makes listed users admins."""
    if not oauth_available():
        return

    def from_profile(profile: gr.OAuthProfile | None) -> bool:
        return services.access.is_admin_user(profile.username if profile else None)

    demo.load(from_profile, outputs=admin, api_visibility="private")
