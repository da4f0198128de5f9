"""A small Schema Registry for the tests, speaking the REST calls Confluent's clients make.

No Confluent-compatible registry installs here from PyPI, Debian or npm (Karapace is not on PyPI;
Confluent's and Apicurio's are Java builds from elsewhere), so the tests run this one: schemas in
memory, ids from 1, one version per distinct schema of a subject. It answers

    POST /subjects/{subject}/versions        register (or find) a schema: {"id": N}
    POST /subjects/{subject}                 look a schema up: {"subject", "id", "version", "schema", ...}
    GET  /schemas/ids/{id}                   {"schema", "schemaType", "references"}; 404 error 40403 if unknown
    GET  /subjects/{subject}/versions/{v}    v a number or `latest`
    GET  /subjects/{subject}/versions        the subject's version numbers
    GET  /subjects                           the subjects

and keeps what it holds across `stop()` / `start()` on the same port, so a test can take it away
and bring it back. `format=serialized` returns a Protobuf schema as registered: Confluent's Python
serializer registers the serialized FileDescriptorProto itself. stream_guard only ever talks to it
through confluent-kafka's `AsyncSchemaRegistryClient`.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class SchemaRegistryServer:
    def __init__(self, port: int = 0) -> None:
        self.schemas: dict[int, dict[str, Any]] = {}     # id -> {"schema", "schemaType", "references"}
        self.subjects: dict[str, list[int]] = {}         # subject -> schema id of each version
        self.requests: list[str] = []                    # "GET /schemas/ids/1", in order
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.port = port
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Close the port: clients get `connection refused` until `start()`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def register(self, subject: str, body: dict[str, Any]) -> int:
        entry = {"schema": body["schema"], "schemaType": body.get("schemaType", "AVRO"),
                 "references": body.get("references", [])}
        with self._lock:
            found = next((i for i, known in self.schemas.items() if known == entry), None)
            if found is None:
                found = len(self.schemas) + 1
                self.schemas[found] = entry
            versions = self.subjects.setdefault(subject, [])
            if found not in versions:
                versions.append(found)
            return found

    def version(self, subject: str, version: str) -> dict[str, Any] | None:
        versions = self.subjects.get(subject, [])
        number = len(versions) if version in ("latest", "-1") else int(version)
        if not 1 <= number <= len(versions):
            return None
        schema_id = versions[number - 1]
        return {"subject": subject, "version": number, "id": schema_id, **self.schemas[schema_id]}

    def answer(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[int, Any]:
        self.requests.append(f"{method} {path}")
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if method == "POST" and len(parts) == 3 and parts[0] == "subjects" and parts[2] == "versions":
            return 200, {"id": self.register(parts[1], body or {})}
        if method == "POST" and len(parts) == 2 and parts[0] == "subjects":
            return self._lookup(parts[1], body or {})
        if method == "GET" and len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
            found = self.schemas.get(int(parts[2]))
            return (200, found) if found else (404, {"error_code": 40403, "message": "Schema not found"})
        if method == "GET" and len(parts) == 4 and parts[0] == "subjects" and parts[2] == "versions":
            found = self.version(parts[1], parts[3])
            return (200, found) if found else (404, {"error_code": 40401, "message": "Subject not found"})
        if method == "GET" and len(parts) == 3 and parts[0] == "subjects" and parts[2] == "versions":
            return 200, list(range(1, len(self.subjects.get(parts[1], [])) + 1))
        if method == "GET" and parts == ["subjects"]:
            return 200, sorted(self.subjects)
        return 404, {"error_code": 404, "message": f"no route {method} {path}"}

    def _lookup(self, subject: str, body: dict[str, Any]) -> tuple[int, Any]:
        for number, schema_id in enumerate(self.subjects.get(subject, []), 1):
            if self.schemas[schema_id]["schema"] == body.get("schema"):
                return 200, {"subject": subject, "version": number, "id": schema_id, **self.schemas[schema_id]}
        return 404, {"error_code": 40403, "message": "Schema not found"}


def _handler(registry: SchemaRegistryServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            self._reply(*registry.answer("GET", urlsplit(self.path).path, None))

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            self._reply(*registry.answer("POST", urlsplit(self.path).path, body))

        def _reply(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (quiet in the tests)
            return

    return Handler


