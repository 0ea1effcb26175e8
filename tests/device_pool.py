"""Calling the device API pool (`dash.wsgi:device_application`) as a WSGI server would."""

import io

from dash.wsgi import device_application


def device_pool_call(
    path: str, *, token: str | None = None, body: bytes = b"", method: str = "POST", content_type: str = "application/json"
) -> tuple[int, dict, bytes]:
    """(status, headers, body) of one request to the device pool."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": content_type,
    }
    if token:
        environ["HTTP_AUTHORIZATION"] = f"Device {token}"
    started = {}
    chunks = device_application(environ, lambda status, headers: started.update(status=status, headers=dict(headers)))
    content = b"".join(chunks)
    if hasattr(chunks, "close"):  # WSGI: close() when the iterable has one
        chunks.close()
    return int(started["status"].split()[0]), started["headers"], content
