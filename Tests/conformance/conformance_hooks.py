"""schemathesis hooks of the conformance stage (loaded through SCHEMATHESIS_HOOKS by run.sh).

1. POST /v1/crl/imports takes a CRL as application/pkix-crl (DER) or application/x-pem-file (PEM);
   schemathesis has no serializer for either, and would report the operation as an error without
   sending anything. Both are sent as the generated value's bytes.

2. One retry of an answer lost in the socat relay. paysignd refuses some requests (403, 415, …)
   from their head alone, answers with Connection: close and closes without reading the body the
   head announced. requests sends the head and the body in two writes; when socat relays the late
   body, its write to the closed Unix socket fails (EPIPE) and socat ends the TCP connection at
   once, dropping whatever part of the answer it had not forwarded yet: all of it ("Remote end
   closed connection without response") or its body ("IncompleteRead(0 bytes read, N more
   expected)"). A client on the socket itself gets the whole answer (curl --unix-socket does).
   Such a request is sent once more on a new connection and written to $CONFORMANCE_RETRY_LOG, so
   that the summary lists it; a second loss is reported by schemathesis as the error it is. A
   refused connection is not retried (the daemon or the relay is gone).

3. The payment center's stage (Tests/conformance/center.sh, which sets CENTER_CONFORMANCE_ENVELOPES;
   nothing of it applies to the daemon's): see center_hooks() below. The retry of 2 is not used
   there: no relay stands between schemathesis and the center, so a cut answer is the center's.
"""
import json
import os

import requests
import schemathesis
from schemathesis.transport import requests as transport

schemathesis.serializer.alias("application/x-pem-file", "text/plain")
schemathesis.serializer.alias("application/pkix-crl", "application/octet-stream")

_request = transport._request  # schemathesis 4.32.5 (pinned in requirements.txt)


def _request_retrying_cut_answers(session, data, max_stream_events):
    try:
        return _request(session, data, max_stream_events)
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError) as exc:
        if isinstance(exc, requests.exceptions.ConnectTimeout) or "refused" in str(exc).lower():
            raise
        log = os.environ.get("CONFORMANCE_RETRY_LOG")
        if log:
            with open(log, "a") as f:
                f.write(json.dumps({"method": data.get("method"), "url": data.get("url"), "error": str(exc)[:200]}) + "\n")
        return _request(session, data, max_stream_events)


# --- The payment center (Tests/conformance/center.sh) ---------------------------------------------


def center_hooks(envelopes):
    """The center's stage: its document, its server, its restarts.

    a. POST /v1/submissions takes application/cms (a CMS AuthEnvelopedData); schemathesis has no
       serializer for it and would report the operation as an error without sending anything: the
       generated value's bytes are sent.
    b. Those bytes are random, so the center can only answer 422 (invalid-envelope) or 415 to them:
       in the fuzzing phase about half the bodies are instead drawn from real envelopes center.sh
       sealed for the caller (the *.cms files of ENVELOPES: one recorded before, one never sent,
       one resealing an accepted order, one of another entity), so that 201, 200 (replay), 409
       and 403 answers are checked against the document too. An empty folder (center staff): only
       generated bodies.
    c. center.sh restarts the center when it exits (as systemd's Restart= would) and lists each
       crash with the center's backtrace. schemathesis gives a server about 1.5 s to come back
       before it ends the whole run as "stopped responding"; a crash (its backtrace printed) and a
       restart take longer, so it is given 30 s: the request that crashed the center is still
       reported (a network error on its operation) and the other operations are still tested.
    """
    import glob

    from hypothesis import strategies as st
    from schemathesis.engine import outage
    from schemathesis.transport.serialization import Binary

    schemathesis.serializer.alias("application/cms", "application/octet-stream")
    sealed = [Binary(open(path, "rb").read()) for path in sorted(glob.glob(os.path.join(envelopes, "*.cms")))]

    @schemathesis.hook("flatmap_body").apply_to(method="POST", path="/v1/submissions")
    def center_envelopes(context, body):
        return st.one_of(st.just(body), st.sampled_from(sealed)) if sealed else st.just(body)

    outage.CONFIRMATION_ATTEMPTS = 60  # every 0.5 s: 30 s


if "CENTER_CONFORMANCE_ENVELOPES" in os.environ:
    center_hooks(os.environ["CENTER_CONFORMANCE_ENVELOPES"])
else:
    transport._request = _request_retrying_cut_answers
