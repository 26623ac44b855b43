#!/usr/bin/env python3
"""Helpers of Tests/conformance/run.sh (standard library only).

  conformance.py free-ports N
      N free TCP ports on 127.0.0.1, one a line (bound, read, released: the caller binds them next).
  conformance.py status PORT PATH
      The status of GET http://127.0.0.1:PORT/PATH, waiting up to 5 s for the port to accept.
  conformance.py get SOCKET PATH [OUT]
      GET PATH from paysignd over its Unix socket (as the calling user); the body to OUT or stdout.
      Exits 1 on a status other than 200.
  conformance.py config SOCKET OUT.toml
      The schemathesis configuration: dictionaries of the seeded orders, operators, holders and
      registered tokens, read from the daemon (the caller must be an administrator), bound to the
      path parameters that name them, and the per-operation settings (the event stream's time-out).
  conformance.py summary OUT.txt CALLER[:UNIX-USER]=RUN.ndjson ...
      The failed checks of the schemathesis runs (their --report ndjson), deduplicated and grouped
      by check: each the operation, what came back (status, content type, problem type), the
      callers that met it, what the document says, and up to three requests that triggered it with
      the daemon's detail. A caller named twice has its runs merged. Printed and written to OUT.txt.
      Exits 0 when nothing failed, 1 on a failure of the conformance checks or an operation that
      could not be tested, 3 when only positive_data_acceptance found something.
      With --center first: worded for Tests/conformance/center.sh (callers are certificates).

The payment center's stage (Tests/conformance/center.sh) also uses:

  conformance.py center-seal RECIPIENT.pem OUT DOCUMENT SIGNATURE PAYROLL
      The DER PaysignSubmission (version 1, document, detached SignedData, payroll file) sealed to
      the center's encryption certificate by `openssl cms -encrypt` (AuthEnvelopedData,
      AES-256-GCM, RSAES-OAEP), as an entity's daemon seals it: the envelope in OUT.
  conformance.py center-send [--out FILE] ANCHORS IDENTITY PORT METHOD PATH [BODY-FILE CONTENT-TYPE]
      One request to https://127.0.0.1:PORT over mutual TLS 1.3, as IDENTITY (IDENTITY.pem and
      IDENTITY.key), the center's certificate checked against ANCHORS; prints the status (waiting
      up to 10 s for the port to accept), the body to FILE.
  conformance.py center-config ANCHORS STAFF-IDENTITY PORT OUT.toml [ENTITY]
      The schemathesis configuration of one caller: dictionaries of the recorded submissions (read
      as center staff; the accepted ones first), the entities and the months of their value
      dates, bound to the parameters that name them. With ENTITY (an entity's caller): its own
      submissions first, then two of others (which it must not see).
  conformance.py statuses OUT.txt DOCUMENT CALLER=RUN.ndjson ...
      The statuses each operation of DOCUMENT answered each caller, and the operations no caller
      was answered 2xx by (or sent nothing to): exits 1 when there is one.
  conformance.py crashes LOG OUT.txt [CALLER=SCHEMATHESIS.log ...]
      Each time the center ended in LOG without being asked (center.sh restarts it), the same
      crash counted once: its fatal error and the first frames of its backtrace in Sources/; and
      the requests schemathesis was not answered. Exits 1 when there is one.
"""
import http.client
import json
import os
import re
import socket
import sys
from collections import OrderedDict


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def get(sock_path, path):
    conn = UnixConnection(sock_path)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


def cmd_free_ports(count):
    sockets = []
    for _ in range(int(count)):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    for s in sockets:
        print(s.getsockname()[1])
        s.close()


def cmd_status(port, path):
    import time
    deadline = time.monotonic() + 5
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
            conn.request("GET", path)
            print(conn.getresponse().status)
            conn.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def cmd_get(sock_path, path, out=None):
    status, body = get(sock_path, path)
    if status != 200:
        sys.stderr.write(f"GET {path}: {status} {body[:300]!r}\n")
        sys.exit(1)
    if out:
        with open(out, "wb") as f:
            f.write(body)
    else:
        sys.stdout.buffer.write(body)


def toml_string(value):
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def toml_values(values):
    return "[" + ", ".join(str(v) if isinstance(v, int) else toml_string(v) for v in values) + "]"


def cmd_config(sock_path, out):
    def fetch(path):
        status, body = get(sock_path, path)
        if status != 200:
            sys.exit(f"conformance.py config: GET {path} answered {status}: {body[:300]!r}")
        return json.loads(body)

    orders = [o["id"] for o in fetch("/v1/orders?limit=1000")]
    operators = [o["id"] for o in fetch("/v1/operators") if "id" in o]
    holders = [h["unixUser"] for h in fetch("/v1/holders")]
    tokens = [t["serial"] for t in fetch("/v1/registered-tokens")]
    entities = [e.get("code") for e in fetch("/v1/entities") if e.get("code")]
    for name, values in (("orders", orders), ("operators", operators), ("holders", holders),
                         ("registered tokens", tokens), ("entities", entities)):
        if not values:
            sys.exit(f"conformance.py config: the daemon lists no {name}; the seeding failed")
    lines = [
        "# Written by Tests/conformance/conformance.py config: the seeded registry's names, so that",
        "# about half of the generated path parameters name something that exists (a 200 to check)",
        "# and the other half are generated (a 404 or 422 to check).",
        "",
    ]
    for name, values in (("orders", orders), ("operators", operators), ("holders", holders),
                         ("tokens", tokens), ("entities", entities)):
        lines += [f"[dictionaries.{name}]", f"values = {toml_values(values)}", ""]
    bindings = [
        (r"^/v1/orders/\{id\}", "path.id", "orders"),
        (r"^/v1/operators/\{id\}", "path.id", "operators"),
        (r"^/v1/holders/\{user\}", "path.user", "holders"),
        (r"^/v1/registered-tokens/\{serial\}", "path.serial", "tokens"),
        (r"^/v1/(orders|holders|reports/holders)$", "query.entity", "entities"),
    ]
    for regex, parameter, dictionary in bindings:
        lines += [
            "[[operations]]",
            f"include-path-regex = {toml_string(regex)}",
            f"parameters = {{ {toml_string(parameter)} = {{ dictionary = {toml_string(dictionary)}, probability = 0.5 }} }}",
            "",
        ]
    # GET /v1/events is an endless text/event-stream (a keep-alive comment every 15 s): it is
    # tested like every other operation, but its stream is read for at most 2 s (or one event)
    # and then cut; schemathesis then checks the status, the content type and the events read.
    lines += [
        "[[operations]]",
        'include-path = "/v1/events"',
        "request-timeout = 2",
        "max-stream-events = 1",
        "",
    ]
    with open(out, "w") as f:
        f.write("\n".join(lines))
    print(f"orders {orders}, operators {operators}, holders {holders}, tokens {tokens}, entities {entities}")


# --- summary -------------------------------------------------------------------------------------

CHECK_ORDER = [
    ("not_a_server_error", "not_a_server_error: 5xx answers (daemon bugs)"),
    ("status_code_conformance", "status_code_conformance: a status the operation does not document"),
    ("content_type_conformance", "content_type_conformance: a Content-Type the response does not document"),
    ("response_schema_conformance", "response_schema_conformance: a body that does not match the documented schema"),
    ("response_headers_conformance", "response_headers_conformance"),
    ("positive_data_acceptance", "positive_data_acceptance (listed apart): a request valid by the document refused with 4xx other than 401/403/404/409"),
]
CALLER_ORDER = ["admin", "holder", "norole", "entity", "other", "operator"]  # the daemon's, then the center's


def short(text, limit=160):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def decode_content(content):
    if content is None:
        return b""
    if isinstance(content, dict):
        if "$base64" in content:
            import base64
            return base64.b64decode(content["$base64"])
        return json.dumps(content).encode()
    return str(content).encode()


def normalize(text):
    """A message with its instance values blurred, so one kind of failure is counted once."""
    text = re.sub(r"'[^']*'", "'…'", text)
    text = re.sub(r'"[^"]*"', '"…"', text)
    text = re.sub(r"\b\d+\b", "N", text)
    return text


def request_text(case, interaction):
    request = (interaction or {}).get("request") or {}
    method = request.get("method") or case.get("method", "?")
    uri = request.get("uri") or case.get("path", "")
    uri = re.sub(r"^https?://[^/]+", "", uri)
    parts = [f"{method} {uri}"]
    headers = {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in (request.get("headers") or {}).items()
               if k.lower() not in ("user-agent", "x-schemathesis-testcaseid", "accept", "accept-encoding", "connection", "content-length")}
    if headers:
        parts.append("headers " + short(json.dumps(headers, ensure_ascii=False), 100))
    if "body" in case:
        body = case["body"]
        parts.append("body " + short(body if isinstance(body, str) else json.dumps(body, ensure_ascii=False), 140))
    elif request.get("body") is not None:
        parts.append("body " + short(decode_content(request["body"]).decode("utf-8", "replace"), 140))
    return " ".join(parts)


def response_facts(interaction):
    response = (interaction or {}).get("response") or {}
    status = response.get("status_code")
    ctype = (response.get("headers") or {}).get("content-type", [""])
    ctype = ctype[0] if isinstance(ctype, list) and ctype else (ctype or "")
    body = decode_content(response.get("content"))
    problem_type, detail = "", ""
    if body[:1] == b"{":
        try:
            parsed = json.loads(body)
            if isinstance(parsed, dict):
                problem_type = str(parsed.get("type", "")).replace("urn:paysign:problem:", "")
                detail = str(parsed.get("detail", ""))
        except ValueError:
            pass
    if not detail:
        detail = body[:200].decode("utf-8", "replace")
    return status, ctype, problem_type, detail


def collect(caller, path):
    """Every failed check of one caller's run (NDJSON events), and the run's errors."""
    failures, errors = [], []
    with open(path) as f:
        for line in f:
            event = json.loads(line)
            if "NonFatalError" in event:
                e = event["NonFatalError"]
                value = e.get("value") or {}
                text = f"{value.get('type', '')}: {value.get('message', '')}" if value else json.dumps(e)
                errors.append((caller, e.get("label", "?"), short(text.split("\n")[0], 300)))
                continue
            if "ScenarioFinished" not in event:
                continue
            recorder = event["ScenarioFinished"].get("recorder") or {}
            label = recorder.get("label", "?")
            for case_id, checks in (recorder.get("checks") or {}).items():
                for check in checks:
                    if check.get("status") == "success":
                        continue
                    info = (check.get("failure_info") or {}).get("failure") or {}
                    case = ((recorder.get("cases") or {}).get(case_id) or {}).get("value") or {}
                    interaction = (recorder.get("interactions") or {}).get(case_id)
                    failures.append((caller, label, check.get("name", "?"), info, case, interaction))
    return failures, errors


def cmd_summary(out, pairs, title="paysign conformance", who="Unix user"):
    runs, users = OrderedDict(), {}
    for pair in pairs:  # CALLER[:UNIX-USER]=NDJSON (a caller may come more than once: runs merged)
        caller, _, path = pair.partition("=")
        caller, _, user = caller.partition(":")
        runs.setdefault(caller, []).append(path)
        users[caller] = user or "?"
    grouped = OrderedDict()  # check -> key -> record
    errors = []
    for caller, path in ((c, p) for c, paths in runs.items() for p in paths):
        try:
            failures, run_errors = collect(caller, path)
        except OSError as exc:
            errors.append((caller, "-", f"no report: {exc}"))
            continue
        errors += run_errors
        for caller, label, check, info, case, interaction in failures:
            status, ctype, problem_type, detail = response_facts(interaction)
            message = info.get("message", "")
            if check in ("status_code_conformance", "not_a_server_error", "positive_data_acceptance", "content_type_conformance"):
                kind = ""  # the status, content type and problem type say it all
            else:
                kind = normalize(message.split("\n")[0] + " " + " ".join(str(info.get(k, "")) for k in ("schema_path", "instance_path")))
            key = (label, info.get("code", ""), status, ctype.split(";")[0].strip(), problem_type, kind)
            record = grouped.setdefault(check, OrderedDict()).setdefault(key, {
                "label": label, "title": info.get("title", ""), "code": info.get("code", ""), "status": status,
                "ctype": ctype, "problem": problem_type, "message": message, "callers": [], "details": OrderedDict(),
            })
            if caller not in record["callers"]:
                record["callers"].append(caller)
            variant = normalize(detail)
            if variant not in record["details"] and len(record["details"]) < 3:
                record["details"][variant] = (caller, request_text(case, interaction), detail)
    lines = [
        f"{title}: the failures schemathesis found, by check, deduplicated; [the callers that met it]",
        "callers: " + ", ".join(f"{c} = {who} {users[c]}" for c in runs),
        "",
    ]
    known = [c for c, _ in CHECK_ORDER]
    total = 0
    for check, heading in CHECK_ORDER + [(c, c) for c in grouped if c not in known]:
        records = grouped.get(check) or {}
        if check not in known and not records:
            continue
        if who != "Unix user":  # the center's summary
            heading = heading.replace("(daemon bugs)", "(center bugs)")
        lines.append(f"== {heading}: {len(records) or 'none'}")
        if check != "positive_data_acceptance":
            total += len(records)
        def order(item):
            r = item[1]
            return (min(CALLER_ORDER.index(c) if c in CALLER_ORDER else 9 for c in r["callers"]), r["label"].split(" ", 1)[1], r["label"], str(r["status"]))
        for index, (_, r) in enumerate(sorted(records.items(), key=order), 1):
            callers = ", ".join(sorted(r["callers"], key=lambda c: CALLER_ORDER.index(c) if c in CALLER_ORDER else 9))
            problem = f" ({r['problem']})" if r["problem"] else ""
            lines.append(f"{index:3}. {r['label']} -> {r['status']} {r['ctype']}{problem}  [{callers}]")
            documented = [l for l in r["message"].split("\n") if l.startswith(("Documented", "Expected"))]
            if check == "positive_data_acceptance":
                lines.append("       the document: the request matches the operation's parameters and body schema; the detail says what it does not state")
            elif check == "response_schema_conformance" or not documented:
                lines += ["       " + short(l, 200) for l in r["message"].split("\n")[:4] if l.strip()]
            else:
                lines.append("       the document: " + short(documented[0], 200))
            for caller, request, detail in r["details"].values():
                lines.append(f"       e.g. ({caller}) {short(request, 220)}")
                if detail:
                    lines.append(f"            -> {short(detail, 200)}")
        lines.append("")
    retried = []
    for caller, path in ((c, p) for c, paths in runs.items() for p in paths):
        try:
            with open(re.sub(r"\.ndjson$", ".retries", path)) as f:
                retried += [(caller, json.loads(line)) for line in f if line.strip()]
        except OSError:
            pass
    if retried:
        lines.append(f"== answers cut short by the socat relay and sent again (not failures; see conformance_hooks.py): {len(retried)}")
        for caller, r in retried:
            lines.append(f"  [{caller}] {r.get('method')} {re.sub(r'^https?://[^/]+', '', r.get('url') or '')}: {short(r.get('error', ''), 120)}")
        lines.append("")
    if errors:
        lines.append(f"== errors (an operation schemathesis could not test): {len(errors)}")
        for caller, label, text in errors:
            lines.append(f"  [{caller}] {label}: {text}")
        lines.append("")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    # 1: a conformance failure or an operation not tested; 3: only positive_data_acceptance findings.
    if total or errors:
        return 1
    return 3 if grouped.get("positive_data_acceptance") else 0


# --- The payment center (Tests/conformance/center.sh) ---------------------------------------------


def der(tag, content):
    """One DER TLV (definite length)."""
    n = len(content)
    if n < 0x80:
        head = bytes([n])
    else:
        size = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(size)]) + size
    return bytes([tag]) + head + content


def cmd_center_seal(recipient, out, document, signature, payroll):
    import subprocess
    import tempfile
    parts = []
    for path in (document, signature, payroll):
        with open(path, "rb") as f:
            parts.append(der(0x04, f.read()))
    package = der(0x30, der(0x02, b"\x01") + b"".join(parts))  # PaysignSubmission, version 1
    with tempfile.NamedTemporaryFile(dir=os.path.dirname(os.path.abspath(out)), suffix=".der") as f:
        f.write(package)
        f.flush()
        subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-aes-256-gcm", "-recip", recipient,
                        "-keyopt", "rsa_padding_mode:oaep", "-in", f.name, "-outform", "DER", "-out", out], check=True)


def center_send(anchors, identity, port, method, path, body=None, content_type=None, wait=10):
    """(status, body) of one request over mutual TLS 1.3, as IDENTITY.pem with IDENTITY.key."""
    import ssl
    import time
    context = ssl.create_default_context(cafile=anchors)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(identity + ".pem", identity + ".key")
    deadline = time.monotonic() + wait
    while True:
        try:
            conn = http.client.HTTPSConnection("127.0.0.1", int(port), context=context, timeout=30)
            conn.request(method, path, body=body, headers={"Content-Type": content_type} if content_type else {})
            response = conn.getresponse()
            data = response.read()
            conn.close()
            return response.status, data
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def cmd_center_send(args):
    out = None
    if args[:1] == ["--out"]:
        out, args = args[1], args[2:]
    anchors, identity, port, method, path = args[:5]
    body, content_type = None, None
    if len(args) > 5:
        with open(args[5], "rb") as f:
            body = f.read()
        content_type = args[6]
    status, data = center_send(anchors, identity, port, method, path, body, content_type)
    if out:
        with open(out, "wb") as f:
            f.write(data)
    print(status)


def cmd_center_config(anchors, staff, port, out, entity=None):
    status, body = center_send(anchors, staff, port, "GET", "/v1/submissions?limit=1000")
    if status != 200:
        sys.exit(f"conformance.py center-config: GET /v1/submissions as center staff answered {status}: {body[:300]!r}")
    submissions = json.loads(body)
    if not submissions:
        sys.exit("conformance.py center-config: the center lists no submissions; the seeding failed")
    entities = sorted({s["entity"] for s in submissions})
    months = sorted({s["valueDate"][:7] for s in submissions})
    # The accepted ones (which can still be paid or returned) first: hypothesis draws a dictionary's
    # first values most often, and the coverage phase takes its first.
    ordered = sorted(submissions, key=lambda s: (s.get("state") != "accepted", s["submission"]))
    ids = [s["submission"] for s in ordered]
    if entity:
        own = [s["submission"] for s in ordered if s["entity"] == entity]
        ids = own + [i for i in ids if i not in own][:2]
        entities = [entity] + [e for e in entities if e != entity]
    lines = [
        "# Written by Tests/conformance/conformance.py center-config: the recorded submissions, so that",
        "# about half of the generated parameters name something that exists (and, for an entity, a",
        "# submission of another entity it must not see) and the other half are generated.",
        "",
        "[dictionaries.submissions]", f"values = {toml_values(ids)}", "",
        "[dictionaries.entities]", f"values = {toml_values(entities)}", "",
        "[dictionaries.months]", f"values = {toml_values(months)}", "",
    ]
    for regex, parameter, dictionary in (
        (r"^/v1/submissions/\{id\}", "path.id", "submissions"),
        (r"^/v1/submissions$", "query.entity", "entities"),
        (r"^/v1/totals$", "query.month", "months"),
    ):
        lines += [
            "[[operations]]",
            f"include-path-regex = {toml_string(regex)}",
            f"parameters = {{ {toml_string(parameter)} = {{ dictionary = {toml_string(dictionary)}, probability = 0.5 }} }}",
            "",
        ]
    with open(out, "w") as f:
        f.write("\n".join(lines))
    print(f"submissions {ids}, entities {entities}, months {months}")


def cmd_statuses(out, document, pairs):
    from collections import Counter
    with open(document) as f:
        paths = json.load(f).get("paths") or {}
    operations = [f"{method.upper()} {path}" for path, item in paths.items() for method in item
                  if method in ("get", "put", "post", "delete", "patch", "head", "options", "trace")]
    callers, seen = [], {}
    for pair in pairs:
        caller, _, path = pair.partition("=")
        caller = caller.partition(":")[0]
        if caller not in callers:
            callers.append(caller)
        try:
            with open(path) as f:
                for line in f:
                    event = json.loads(line)
                    recorder = (event.get("ScenarioFinished") or {}).get("recorder") or {}
                    for interaction in (recorder.get("interactions") or {}).values():
                        status = ((interaction or {}).get("response") or {}).get("status_code")
                        seen.setdefault(recorder.get("label", "?"), {}).setdefault(caller, Counter())[status] += 1
        except OSError:
            pass
    width = max(len(o) for o in operations + list(seen))
    lines = ["== the statuses each operation answered each caller (requests: status x count)"]
    for operation in operations + [o for o in seen if o not in operations]:
        for index, caller in enumerate(callers):
            counts = (seen.get(operation) or {}).get(caller) or {}
            text = " ".join(f"{s}x{n}" for s, n in sorted(counts.items(), key=lambda i: str(i[0]))) or "nothing sent"
            lines.append(f"  {(operation if index == 0 else ''):{width}}  {caller:9} {text}")
    unreached = [o for o in operations
                 if not any(200 <= (s or 0) < 300 for c in (seen.get(o) or {}).values() for s in c)]
    lines.append("")
    lines.append(f"== operations no caller was answered 2xx by (untested beyond their refusals: the seeding is wrong): {len(unreached) or 'none'}")
    lines += [f"  {o}" for o in unreached]
    lines.append("")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if unreached else 0


def cmd_crashes(log, out, runs=()):
    """The center's unrequested exits: center.sh writes "=== start N" before each start and
    "=== exit N STATUS" after each exit it did not ask for. RUNS (CALLER=SCHEMATHESIS.log): the
    requests schemathesis was not answered (its "Network Error"s), which are what crashed it."""
    crashes, current = [], None
    with open(log, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("=== start "):
                current = {"fatal": [], "frames": [], "thread": "", "last": ""}
            elif line.startswith("=== exit ") and current is not None:
                current["status"] = line.split()[-1]
                crashes.append(current)
                current = None
            elif current is not None:
                if "Fatal error" in line or line.startswith("*** Program crashed"):
                    current["fatal"].append(line.strip())
                elif re.search(r"^Thread \d+ .*crashed:", line):
                    current["thread"] = line.strip()
                elif re.search(r" at \S*/Sources/", line) and "/.build/" not in line and len(current["frames"]) < 3:
                    frame = re.sub(r"^\s*\d+ (\[ra\] )?(\[thunk\] )?\s*0x[0-9a-f]+ ", "", line)
                    current["frames"].append(re.sub(r" at \S*?/(Sources/)", r" at \1", frame).strip())
                elif line.strip() and not line.startswith((" ", "\t", "***")):
                    current["last"] = line.strip()
    # The same crash met again: one entry, counted; its backtrace from the first start that printed one.
    grouped = OrderedDict()
    for crash in crashes:
        what = (crash["fatal"][:1] or [crash["last"] or "no last words"])[0]
        entry = grouped.setdefault((crash["status"], what), {"count": 0, "thread": "", "frames": []})
        entry["count"] += 1
        if crash["frames"] and not entry["frames"]:
            entry["thread"], entry["frames"] = crash["thread"], crash["frames"]
    lines = [f"== the center ended without being asked (center.sh started it again): {len(crashes) or 'none'}"]
    for index, ((status, what), entry) in enumerate(grouped.items(), 1):
        lines.append(f"{index:3}. {entry['count']} time(s), exit status {status}: {what}")
        if entry["thread"]:
            lines.append(f"       {entry['thread']}")
        lines += [f"       {frame}" for frame in entry["frames"]]
    unanswered = []
    for pair in runs:
        caller, _, path = pair.partition("=")
        try:
            with open(path, errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        errors = text.split("= ERRORS =", 1)[1].split("= FAILURES =", 1)[0] if "= ERRORS =" in text else ""
        for block in re.split(r"\n_{3,} ", errors)[1:]:
            label = block.split(" _", 1)[0].strip()
            if "Network Error" in block:
                for request in re.findall(r"^ {4}(curl .*)$", block, re.M)[:1]:
                    unanswered.append(f"  [{caller}] {label}: {short(re.sub(r'https?://[^/]+', '', request), 200)}")
    if crashes and unanswered:
        lines.append("     the requests the center answered no more (schemathesis' network errors):")
        lines += ["     " + u for u in unanswered]
    lines.append("")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if crashes else 0


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    command, args = sys.argv[1], sys.argv[2:]
    if command == "free-ports":
        cmd_free_ports(*args)
    elif command == "status":
        cmd_status(*args)
    elif command == "get":
        cmd_get(*args)
    elif command == "config":
        cmd_config(*args)
    elif command == "summary":
        if args and args[0] == "--center":
            sys.exit(cmd_summary(args[1], args[2:], title="paysign-center conformance", who="certificate"))
        sys.exit(cmd_summary(args[0], args[1:]))
    elif command == "center-seal":
        cmd_center_seal(*args)
    elif command == "center-send":
        cmd_center_send(args)
    elif command == "center-config":
        cmd_center_config(*args)
    elif command == "statuses":
        sys.exit(cmd_statuses(args[0], args[1], args[2:]))
    elif command == "crashes":
        sys.exit(cmd_crashes(args[0], args[1], args[2:]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
