"""shootflow's JSON API over HTTP: one requests session, and every way a request can go wrong
turned into one sentence (ClientError), which the command prints on one line."""
import hashlib
import os
from pathlib import Path
from urllib.parse import quote, urljoin

import requests

TIMEOUT = (10, 60)  # seconds to connect, and to wait for each read of an answer
CHUNK = 256 * 1024


class ClientError(Exception):
    """A request that did not get what the command needs; str() is the sentence to print."""


class ApiError(ClientError):
    """The server refused: its "error" message (and the field at fault, if it named one)."""

    def __init__(self, message, status, code=None, field=None):
        super().__init__(message if not field else f"{message} (field: {field})")
        self.status, self.code, self.field = status, code, field


def _reason(exc):
    """The innermost cause of a requests failure in a few words ("Connection refused")."""
    seen, cause = set(), exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        inner = getattr(cause, "reason", None)
        if not isinstance(inner, BaseException):
            inner = cause.__cause__ or cause.__context__ or next(
                (arg for arg in cause.args if isinstance(arg, BaseException)), None)
        if inner is None:
            return str(cause) or type(cause).__name__
        cause = inner
    return str(exc)


def segment(text):
    """Text (an id a person typed) as one segment of a URL's path."""
    return quote(text, safe="")


def _one_line(text):
    return " ".join(str(text).split())


class Client:
    """A shootflow server at `server` (its address, as people open it in a browser)."""

    def __init__(self, server, token=None):
        self.server = server.rstrip("/")
        self.api = self.server + "/api/v1"
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def url(self, path):
        """A full URL for a path the API gave (such as a shot's image_url)."""
        return urljoin(self.server + "/", path)

    def page_url(self, bundle_id):
        return f"{self.server}/bundles/{bundle_id}"

    def send(self, method, path, ok=(200,), **kwargs):
        """The answer to a request (path under /api/v1, or a full URL) if its status is in ok;
        else ClientError saying what went wrong."""
        url = path if path.startswith(("http://", "https://")) else self.api + path
        try:
            response = self.session.request(method, url, timeout=TIMEOUT, **kwargs)
        except requests.Timeout:
            raise ClientError(f"the shootflow server at {self.server} did not answer "
                              f"{method} {path} in time") from None
        except requests.ConnectionError as exc:
            raise ClientError(f"cannot reach the shootflow server at {self.server}: "
                              f"{_reason(exc)} (is it running? set --server or "
                              "SHOOTFLOW_SERVER)") from None
        except requests.RequestException as exc:
            raise ClientError(f"{method} {url} failed: {_one_line(_reason(exc))}") from None
        if response.status_code not in ok:
            raise self._refusal(response)
        return response

    def _answered(self, response):
        return f"{response.request.method} {response.url} answered {response.status_code}"

    def _refusal(self, response):
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return ApiError(_one_line(body["error"]), response.status_code, body.get("code"),
                            body.get("field"))
        reason = f" {response.reason}" if response.reason else ""
        return ClientError(f"{self._answered(response)}{reason} without shootflow's JSON: is "
                           f"{self.server} a shootflow server?")

    def _decoded(self, response):
        try:
            return response.json()
        except ValueError:
            raise ClientError(f"{self._answered(response)} but not with JSON: is "
                              f"{self.server} a shootflow server?") from None

    def json(self, method, path, ok=(200,), **kwargs):
        """The JSON body of the answer to a request."""
        return self._decoded(self.send(method, path, ok, **kwargs))

    def poll(self, path, etag=None):
        """(the body, its ETag), or (None, etag) while the server says it has not changed."""
        headers = {"If-None-Match": etag} if etag else {}
        response = self.send("GET", path, ok=(200, 304), headers=headers)
        if response.status_code == 304:
            return None, etag
        return self._decoded(response), response.headers.get("ETag")

    def items(self, path, key, params=None, limit=None):
        """The items under `key` of every page of a cursor-paginated list, up to limit."""
        params = dict(params or {})
        count = 0
        while True:
            page = self.json("GET", path, params=params)
            for item in page[key]:
                if limit is not None and count >= limit:
                    return
                count += 1
                yield item
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    def download(self, path, dest, progress=None):
        """Stream the answer into the file dest (written whole or not at all); returns its
        (size, sha256). progress(done, total) is told of each piece (total None if unknown)."""
        dest = Path(dest)
        response = self.send("GET", path, stream=True)
        total = response.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else None
        partial = dest.with_name(dest.name + ".part")
        digest, done = hashlib.sha256(), 0
        try:
            with response, open(partial, "wb") as out:
                for piece in response.iter_content(CHUNK):
                    out.write(piece)
                    digest.update(piece)
                    done += len(piece)
                    if progress:
                        progress(done, total)
            if total is not None and done != total:
                raise ClientError(f"the download of {path} stopped after {done:,} of "
                                  f"{total:,} bytes; nothing was kept")
            os.replace(partial, dest)
        except requests.RequestException as exc:
            raise ClientError(f"the download of {path} broke off: {_reason(exc)}; nothing "
                              "was kept") from None
        except OSError as exc:
            raise ClientError(f"cannot write {dest}: {exc.strerror or exc}") from None
        finally:
            partial.unlink(missing_ok=True)
        return done, digest.hexdigest()
