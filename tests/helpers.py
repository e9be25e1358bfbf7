"""Reading rows as the workers left them, and acting as a user of the accounts (auth on)."""
import re
import secrets

from shootflow.extensions import db
from shootflow.models import Bundle, Shot
from shootflow.testing.servers import wait_for


def fresh(model, row_id):
    """The row as it is in the database now, not as this session last saw it."""
    db.session.expire_all()
    return db.session.get(model, row_id)


def wait_finished(bundle_id, timeout=90):
    return wait_for(lambda: (b := fresh(Bundle, bundle_id)) and b.finished and b,
                    timeout=timeout, message=f"bundle {bundle_id} to finish")


def row_counts():
    db.session.expire_all()
    return (db.session.query(Bundle).count(), db.session.query(Shot).count())


def users_cli(auth_app, *args, **kwargs):
    return auth_app.test_cli_runner().invoke(args=["users", *args], **kwargs)


def new_user(auth_app, prefix, *options):
    """Create a user with a unique name (the database is shared) and password NAME-password."""
    name = f"{prefix}-{secrets.token_hex(4)}"
    result = users_cli(auth_app, "create", name, "--password", f"{name}-password")
    assert result.exit_code == 0, result.output
    for option in options:  # e.g. "operator"
        assert users_cli(auth_app, option, name).exit_code == 0
    return name


def new_token(auth_app, name):
    result = users_cli(auth_app, "token", name)
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[0]


def csrf_token(client, path="/login"):
    """The CSRF token a page of this client's session carries in its forms."""
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(client, username, password=None, **kwargs):
    """Post the sign-in form as a browser would; password defaults to new_user's."""
    form = {"username": username, "password": password or f"{username}-password",
            "csrf_token": csrf_token(client)}
    return client.post("/login", data=form, **kwargs)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def form_poster(client, page="/"):
    """Post a form the way the browser does: with the CSRF token from page."""
    def post(url, data):
        token = re.search(r'name="csrf_token" value="([^"]+)"',
                          client.get(page).get_data(as_text=True)).group(1)
        return client.post(url, data={**data, "csrf_token": token})
    return post


def headless_chromium(capabilities=None):
    """A person's browser for the tests: Debian's headless Chromium through ChromeDriver, with
    the capture engine's flags and a desktop window (quit it when done)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from shootflow.capture.browser import CHROMIUM_FLAGS
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (*CHROMIUM_FLAGS, "--window-size=1280,900"):
        options.add_argument(flag)
    for name, value in (capabilities or {}).items():
        options.set_capability(name, value)
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
