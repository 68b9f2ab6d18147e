"""The admin's pages: API tokens for now — create one for a user (shown once), see every
token with when it was last used, revoke one."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from engine.desk import api_tokens
from engine.errors import DeskflowError, NotFound
from engine.store.models import User
from web.auth import current_user, requires
from web.database import database

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/tokens", methods=["GET", "POST"])
@requires("admin")
def tokens():
    """The tokens; a POST creates one and shows it on this page, this once."""
    form = {"username": "", "name": ""}
    created, error = None, None
    if request.method == "POST":
        form = {key: request.form.get(key, "").strip() for key in form}
        me = current_user()
        assert me is not None  # requires("admin")
        try:
            token_id, plaintext = api_tokens.create_token(
                database(), form["username"], form["name"], created_by=me.username
            )
        except DeskflowError as refused:
            error = str(refused)
        else:
            created = {"id": token_id, "token": plaintext, **form}
            form = {"username": "", "name": ""}
    with database().reading() as session:
        rows = api_tokens.list_tokens(session)
        usernames = list(session.scalars(select(User.username).order_by(User.username)))
    page = render_template(
        "admin/tokens.html",
        tokens=rows,
        usernames=usernames,
        form=form,
        created=created,
        error=error,
    )
    response = make_response(page, 422 if error else 200)
    response.headers["Cache-Control"] = "no-store"  # the new token must not be kept
    return response


@bp.post("/tokens/<int:token_id>/revoke")
@requires("admin")
def revoke(token_id: int):
    try:
        token = api_tokens.revoke_token(database(), token_id)
    except NotFound as missing:
        abort(404, str(missing))
    owner, name = token.username, token.name
    flash(f"Token {token_id} of {owner} ({name}) is revoked: it opens nothing any more.", "info")
    return redirect(url_for("admin.tokens"))
