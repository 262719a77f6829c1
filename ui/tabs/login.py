"""The admin sign-in panel under the header.

The password goes to ``POST /stillhouse/sign-in`` (``ui.session``: throttled, failures
recorded, answered with a signed HttpOnly cookie), never to a Gradio event; the event that
follows, and every page load, only checks that cookie. On a Hugging Face Space, the "Sign
in with Hugging Face" button makes users named in ``STILLHOUSE_ADMIN_USERS`` admins. The
result is a per-browser-session ``gr.State`` that the admin tabs take as an input; without
it they say so and do nothing.
"""

from __future__ import annotations

import os

import gradio as gr

from ui.services.app import AppServices
from ui.session import is_admin_cookie

SIGN_IN_JS = """async (secret) => {
  const url = new URL("stillhouse/sign-in", window.location.href);
  let message = "Sign-in failed.";
  try {
    const response = await fetch(url, {method: "POST", credentials: "same-origin",
      headers: {"content-type": "application/json"}, body: JSON.stringify({password: secret})});
    message = response.ok ? "Checking..." : (await response.json()).message;
  } catch (error) {}
  return [message, ""];
}"""
SIGN_OUT_JS = """async () => {
  const url = new URL("stillhouse/sign-out", window.location.href);
  try { await fetch(url, {method: "POST", credentials: "same-origin"}); } catch (error) {}
  return ["Signing out..."];
}"""

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

    def from_cookie(request: gr.Request):
        if is_admin_cookie(request):
            return True, "Signed in as admin for this browser session."
        return False, gr.update()

    # The password goes to a plain HTTP route (throttled, answered with a signed HttpOnly
    # cookie), never to a Gradio event; the event after it only reads the cookie.
    for trigger in (sign_in.click, password.submit):
        trigger(None, inputs=password, outputs=[status, password], js=SIGN_IN_JS, queue=False).then(
            from_cookie, outputs=[admin, status], api_visibility="private"
        )
    sign_out.click(None, outputs=[status], js=SIGN_OUT_JS, queue=False).then(
        lambda: (False, "Signed out."), outputs=[admin, status], api_visibility="private"
    )
    return admin


def attach_oauth(demo: gr.Blocks, services: AppServices, admin: gr.State) -> None:
    """A page load with a valid admin cookie is signed in; on a Space, so is one signed in
    with Hugging Face as a listed user."""
    if not oauth_available():

        def from_cookie(request: gr.Request) -> bool:
            return is_admin_cookie(request)

        demo.load(from_cookie, outputs=admin, api_visibility="private")
        return

    def from_profile(profile: gr.OAuthProfile | None, request: gr.Request) -> bool:
        user = profile.username if profile else None
        return services.access.is_admin_user(user) or is_admin_cookie(request)

    demo.load(from_profile, outputs=admin, api_visibility="private")
